// Command cron is the Lambda EventBridge invokes directly on each schedule
// of cron.Schedule, with the rule's target input as the event:
// {"job": "<name>", "secret": "<cron secret>"} (lambdafn.CronEvent). It
// holds no logic: the event is served as POST /internal/cron/{job} with the
// secret in X-Cron-Secret, through the same guard (constant-time secret
// check) and job runner as the local ticker's calls.
package main

import (
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

func main() { lambdafn.Main(cron.Function) }
