// Command pipeline is the Lambda behind every Lambda task of the encode-job
// state machine (probe, presign, record_attempt, verify, notify,
// mark_failed). The local runner calls the same step handlers.
package main

import "github.com/framebroker/framebroker/shared/lambdafn/appfn"

func main() { appfn.MainPipeline() }
