// Command cron is the Lambda EventBridge invokes directly on each schedule
// of cron.Schedule, with the rule's target input as the event:
// {"job": "<name>"} (lambdafn.CronEvent). The cron secret is not in the
// event: the function reads it itself at cold start from
// FRAMEBROKER_CRON_SECRET_ARN. It holds no logic: the event is served as
// POST /internal/cron/{job} with that secret in X-Cron-Secret, through the
// same guard (constant-time secret check) and job runner as the local
// ticker's calls.
package main

import (
	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
)

func main() { appfn.Main(cron.Function, app.Cron) }
