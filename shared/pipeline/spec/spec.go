// Package spec is the contract between the encode-job state machine
// (infra/workflow), the step handlers (shared/pipeline) and the local runner:
// state names, step names and limits. It imports nothing, so the Lambdas can
// use it without pulling in the CDK.
package spec

import (
	_ "embed"
	"time"
)

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

// Report is what the worker says it did, written to its report URL. The
// coordinator re-checks every hash and size against the stored objects
// before believing it.
type Report struct {
	Preset         string           `json:"preset"`
	EncoderVersion string           `json:"encoder_version"`
	FFmpegArgv     []string         `json:"ffmpeg_argv"`
	WorkerArgv     []string         `json:"worker_argv"`
	Outputs        []OutputReport   `json:"outputs"`
	TimingsMS      map[string]int64 `json:"timings_ms"`
	StartedAt      time.Time        `json:"started_at"`
	FinishedAt     time.Time        `json:"finished_at"`
	Environment    []string         `json:"environment"` // variable names only
	Error          string           `json:"error,omitempty"`
}

// OutputReport is one uploaded output.
type OutputReport struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// MaxReport bounds the report's size.
const MaxReport = 1 << 20
