// Package spec is the contract between the encode-job state machine
// (infra/workflow), the step handlers (shared/pipeline) and the local runner:
// state names, step names and limits. It imports nothing, so the Lambdas can
// use it without pulling in the CDK.
package spec

import _ "embed"

// Definition is the encode-job state machine's ASL as synthesized by the CDK
// app (infra/workflow renders it; its test fails if this file is stale).
//
//go:embed encode-job.asl.json
var Definition []byte

// State names in the state machine.
const (
	StateProbe         = "Probe"
	StatePresign       = "Presign"
	StateEncode        = "Encode"
	StateRecordAttempt = "RecordAttempt"
	StateShouldRetry   = "ShouldRetry"
	StateBackoff       = "Backoff"
	StateVerify        = "Verify"
	StateNotify        = "Notify"
	StateMarkFailed    = "MarkFailed"
)

// Step names: the "step" field of the pipeline Lambda's payload.
const (
	StepProbe         = "probe"
	StepPresign       = "presign"
	StepRecordAttempt = "record_attempt"
	StepVerify        = "verify"
	StepNotify        = "notify"
	StepMarkFailed    = "mark_failed"
)

// EncodeTimeoutMinutes bounds one worker run; the worker's presigned URLs
// live exactly this long (T-04: at most one hour).
const EncodeTimeoutMinutes = 60
