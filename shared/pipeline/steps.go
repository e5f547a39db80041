// Package pipeline runs encode jobs: the step handlers the state machine
// invokes (probe, presign, record_attempt, verify, notify, mark_failed — the
// same code in the pipeline Lambda and in the local runner), and the
// dispatcher that starts executions on the first healthy encode provider
// (T-11).
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/preset"
	"github.com/framebroker/framebroker/shared/provenance"
)

// MaxAttempts is how many times the encode runs before the job fails.
const MaxAttempts = 3

// Payload is what the state machine passes to a step.
type Payload struct {
	Step        string         `json:"step"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Job         id.JobID       `json:"job"`
	Attempt     int            `json:"attempt,omitempty"`
	Error       *StepError     `json:"error,omitempty"`
	ImageDigest string         `json:"image_digest,omitempty"`
}

// StepError is a Step Functions error as Catch delivers it.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Failure is a step's failure with a Step Functions error name (e.g.
// NameVerificationFailed); the Lambda entry point and the local runner
// both report Name as the error type.
type Failure struct {
	Name  string
	Cause string
}

func (f *Failure) Error() string { return f.Name + ": " + f.Cause }

func fail(name, format string, args ...any) error {
	return &Failure{Name: name, Cause: fmt.Sprintf(format, args...)}
}

// Error names the pipeline and the reconcile cron record for failures
// that are not the worker's.
const (
	NameVerificationFailed = "Job.VerificationFailed"
	NameNoProvider         = "Job.NoProvider"
	NameStalled            = "Job.Stalled"
)

// reason maps a failure's error name to the lifecycle's reason.
func reason(name string) job.Reason {
	if strings.HasPrefix(name, "Job.Input") { // refused, unreadable, missing
		return job.ReasonInputFailed
	}
	switch name {
	case NameVerificationFailed:
		return job.ReasonVerificationFailed
	case NameNoProvider:
		return job.ReasonNoProvider
	case NameStalled:
		return job.ReasonStalled
	}
	return job.ReasonWorkerFailed
}

// Steps are the step handlers.
type Steps struct {
	Pool   *pgxpool.Pool
	Store  blob.Store
	Prober asset.Prober
	Broker broker.Broker
	// Backoff is the wait before attempt n+1 after attempt n failed.
	Backoff func(attempt int) time.Duration
	// Jobs changes job state and runs its listeners (ledger, webhooks,
	// billing, provider health).
	Jobs *job.Lifecycle
	// Credentials, when set, embeds signed Content Credentials in the
	// verified outputs (see credentials.go).
	Credentials *credentials.Sealer
	// Waker is put in each step's context (package wake): job endings
	// enqueue webhook deliveries (and may queue mail) whose schedules it
	// switches on after commit.
	Waker wake.Waker
}

// DefaultBackoff waits 10 s, 30 s, 90 s… between attempts.
func DefaultBackoff(attempt int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempt; i++ {
		d *= 3
	}
	return d
}

// Handle runs one step.
func (s *Steps) Handle(ctx context.Context, p Payload) (any, error) {
	if s.Waker != nil && wake.From(ctx) == nil {
		ctx = wake.With(ctx, s.Waker)
	}
	if p.Workspace.IsZero() || p.Job.IsZero() {
		return nil, fail("Job.BadPayload", "workspace and job are required")
	}
	if p.Attempt == 0 {
		p.Attempt = 1
	}
	ctx = context.WithValue(ctx, enteredKey{}, time.Now())
	switch p.Step {
	case spec.StepProbe:
		return s.probe(ctx, p)
	case spec.StepPresign:
		return s.presign(ctx, p)
	case spec.StepRecordAttempt:
		return s.recordAttempt(ctx, p)
	case spec.StepVerify:
		return s.verify(ctx, p)
	case spec.StepNotify:
		return s.notify(ctx, p)
	case spec.StepMarkFailed:
		return s.markFailed(ctx, p)
	}
	return nil, fail("Job.BadPayload", "unknown step %q", p.Step)
}

func (s *Steps) tx(ctx context.Context, ws id.WorkspaceID, fn func(pgx.Tx) error) error {
	return db.InWorkspace(ctx, s.Pool, ws.UUID().String(), fn)
}

// active loads the job and refuses to go on with a finished one (canceled
// while running, or a duplicate delivery of a step).
func active(ctx context.Context, tx pgx.Tx, p Payload) (job.Job, error) {
	j, err := job.Load(ctx, tx, p.Workspace, p.Job, true)
	if errors.Is(err, job.ErrNotFound) {
		return j, fail("Job.NotFound", "job %s", p.Job)
	}
	if err != nil {
		return j, err
	}
	if job.Finished(j.Status) {
		return j, fail("Job.Finished", "job is already %s", j.Status)
	}
	return j, nil
}

type inputInfo struct {
	Asset       id.AssetID `json:"asset"`
	SHA256      string     `json:"sha256"`
	Key         string     `json:"-"`
	ContentType string     `json:"-"`
}

func loadInputs(ctx context.Context, tx pgx.Tx, j job.Job) ([]inputInfo, error) {
	out := make([]inputInfo, 0, len(j.Inputs))
	for _, a := range j.Inputs {
		in := inputInfo{Asset: a}
		err := tx.QueryRow(ctx, `SELECT object_key, encode(sha256, 'hex'), content_type FROM assets WHERE id = $1 AND workspace_id = $2 AND status = 'complete'`,
			a, j.Workspace).Scan(&in.Key, &in.SHA256, &in.ContentType)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fail("Job.InputMissing", "input %s is gone", a)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// withInputs runs fn in a workspace transaction on the locked, still
// active job and its inputs.
func (s *Steps) withInputs(ctx context.Context, p Payload, fn func(tx pgx.Tx, j job.Job, inputs []inputInfo) error) error {
	return s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		j, err := active(ctx, tx, p)
		if err != nil {
			return err
		}
		inputs, err := loadInputs(ctx, tx, j)
		if err != nil {
			return err
		}
		return fn(tx, j, inputs)
	})
}

// ProbeResult is the probe step's output.
type ProbeResult struct {
	Duration float64 `json:"duration"`
}

// probe describes every input with the confined ffprobe (media.FFprobe).
// It reads the job and its inputs in one short transaction, probes with no
// transaction open (ffprobe reads the object over the network and may take
// a while), then records the result in a second transaction that re-checks
// the job is still active.
func (s *Steps) probe(ctx context.Context, p Payload) (any, error) {
	var inputs []inputInfo
	if err := s.withInputs(ctx, p, func(_ pgx.Tx, _ job.Job, ins []inputInfo) error {
		inputs = ins
		return nil
	}); err != nil {
		return nil, err
	}
	var res ProbeResult
	var probed []map[string]any
	for _, in := range inputs {
		url, err := s.Store.PresignGet(ctx, in.Key, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		raw, err := s.Prober.Probe(ctx, url, in.ContentType)
		var refused *media.RefusedError
		if errors.As(err, &refused) {
			return nil, fail("Job.InputRefused", "input %s: %v", in.Asset, err)
		}
		if err != nil {
			return nil, fail("Job.InputUnreadable", "input %s: %v", in.Asset, err)
		}
		var doc struct {
			Format struct {
				Duration string `json:"duration"`
			} `json:"format"`
			Streams []json.RawMessage `json:"streams"`
		}
		_ = json.Unmarshal(raw, &doc)
		d, _ := strconv.ParseFloat(doc.Format.Duration, 64)
		res.Duration = max(res.Duration, d)
		probed = append(probed, map[string]any{"asset": in.Asset, "sha256": in.SHA256, "duration": d, "streams": len(doc.Streams)})
	}
	err := s.withInputs(ctx, p, func(tx pgx.Tx, j job.Job, _ []inputInfo) error {
		detail := map[string]any{"inputs": probed}
		if j.Status != job.Queued { // a redelivered probe: already running
			return job.Trail(ctx, tx, p.Workspace, p.Job, "probed", p.Attempt, timed(ctx, detail))
		}
		_, err := s.Jobs.Move(ctx, tx, p.Workspace, j.ID, job.Move{To: job.Running, Reason: job.ReasonStarted, Actor: "system:pipeline",
			Duration: &res.Duration, Stage: "probed", Detail: timed(ctx, detail)})
		return err
	})
	return res, err
}

// PresignResult is the worker's command line for this attempt.
type PresignResult struct {
	Command []string `json:"command"`
	Attempt int      `json:"attempt"`
}

func (s *Steps) presign(ctx context.Context, p Payload) (any, error) {
	var res PresignResult
	err := s.withInputs(ctx, p, func(tx pgx.Tx, j job.Job, inputs []inputInfo) error {
		pr, ok := preset.Lookup(j.Preset)
		if !ok {
			return fail("Job.UnknownPreset", "preset %q", j.Preset)
		}
		ins := make([]broker.Input, len(inputs))
		for i, in := range inputs {
			ins[i] = broker.Input{Asset: in.Asset, Key: in.Key}
		}
		g, err := s.Broker.Mint(ctx, p.Workspace, p.Job, p.Attempt, ins, pr.Outputs)
		if err != nil {
			return err
		}
		dur := 0.0
		if j.Duration != nil {
			dur = *j.Duration
		}
		res = PresignResult{Command: g.Command(pr.Name, dur, pr.Outputs), Attempt: p.Attempt}
		if err := job.SetAttempt(ctx, tx, p.Workspace, j.ID, p.Attempt); err != nil {
			return err
		}
		return job.Trail(ctx, tx, p.Workspace, p.Job, "presigned", p.Attempt, timed(ctx, map[string]any{
			"prefix": broker.AttemptPrefix(p.Workspace, p.Job, p.Attempt), "expires_at": g.ExpiresAt,
			"ttl_seconds": int(s.Broker.TTL.Seconds()), "outputs": len(pr.Outputs), "inputs": len(ins),
		}))
	})
	return res, err
}

// RetryDecision is the record_attempt step's output.
type RetryDecision struct {
	Retry       bool `json:"retry"`
	Attempt     int  `json:"attempt"`
	WaitSeconds int  `json:"wait_seconds"`
}

func (s *Steps) recordAttempt(ctx context.Context, p Payload) (any, error) {
	var d RetryDecision
	err := s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		j, err := active(ctx, tx, p)
		if err != nil {
			return err
		}
		e := StepError{Error: "States.TaskFailed"}
		if p.Error != nil {
			e = *p.Error
		}
		d = RetryDecision{Retry: p.Attempt < MaxAttempts, Attempt: p.Attempt + 1}
		if d.Retry {
			d.WaitSeconds = int(s.Backoff(p.Attempt).Seconds())
		}
		return job.Trail(ctx, tx, p.Workspace, j.ID, "attempt_failed", p.Attempt, map[string]any{
			"error": e.Error, "cause": broker.Redact(truncate(e.Cause, 2000)), "retry": d.Retry, "wait_seconds": d.WaitSeconds,
		})
	})
	return d, err
}

// hashObject streams an object and returns its SHA-256 and size.
func hashObject(ctx context.Context, store blob.Store, key string) (string, int64, error) {
	rc, _, err := store.Open(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func (s *Steps) readReport(ctx context.Context, p Payload) (spec.Report, error) {
	var rep spec.Report
	rc, _, err := s.Store.Open(ctx, broker.ReportKey(p.Workspace, p.Job, p.Attempt))
	if errors.Is(err, blob.ErrNotFound) {
		return rep, fail(NameVerificationFailed, "the worker left no report")
	}
	if err != nil {
		return rep, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, spec.MaxReport+1))
	if err != nil {
		return rep, err
	}
	if len(b) > spec.MaxReport {
		return rep, fail(NameVerificationFailed, "report over %d bytes", spec.MaxReport)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fail(NameVerificationFailed, "report is not JSON: %v", err)
	}
	return rep, nil
}

// verify re-hashes every output in the object store against the worker's
// report and only then registers the outputs and writes the trail (T-05).
func (s *Steps) verify(ctx context.Context, p Payload) (any, error) {
	var j job.Job
	err := s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		var err error
		j, err = active(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	pr, ok := preset.Lookup(j.Preset)
	if !ok {
		return nil, fail("Job.UnknownPreset", "preset %q", j.Preset)
	}
	rep, err := s.readReport(ctx, p)
	if err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return nil, fail(NameVerificationFailed, "the worker reported an error: %s", broker.Redact(truncate(rep.Error, 500)))
	}
	claimed := map[string]spec.OutputReport{}
	for _, o := range rep.Outputs {
		claimed[o.Name] = o
	}
	var outs []checked
	for _, o := range pr.Outputs {
		c, ok := claimed[o.Name]
		if !ok {
			return nil, fail(NameVerificationFailed, "output %s missing from the report", o.Name)
		}
		key := broker.OutputKey(p.Workspace, p.Job, p.Attempt, o.Name)
		sum, n, err := hashObject(ctx, s.Store, key)
		if errors.Is(err, blob.ErrNotFound) {
			return nil, fail(NameVerificationFailed, "output %s was not uploaded", o.Name)
		}
		if err != nil {
			return nil, err
		}
		if sum != c.SHA256 || n != c.Size {
			return nil, fail(NameVerificationFailed, "output %s: stored object (sha256 %s, %d bytes) differs from the worker's report (sha256 %s, %d bytes)",
				o.Name, sum, n, c.SHA256, c.Size)
		}
		outs = append(outs, checked{Output: o, sha: sum, size: n, key: key})
	}
	if err := s.sealOutputs(ctx, p, j, outs); err != nil {
		return nil, err
	}

	var registered []map[string]any
	err = s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		j, err := active(ctx, tx, p)
		if err != nil {
			return err
		}
		inputs, err := loadInputs(ctx, tx, j)
		if err != nil {
			return err
		}
		for _, o := range outs {
			a, err := asset.RegisterOutput(ctx, tx, p.Workspace, asset.Output{Name: o.Name, ContentType: o.ContentType, Key: o.key, SHA256: o.sha, Size: o.size})
			if err != nil {
				return err
			}
			if err := job.AddOutput(ctx, tx, p.Workspace, p.Job, o.Name, a); err != nil {
				return err
			}
			if j.Shot != nil {
				// The shot's render: linked with the job that made it, for
				// the release manifest.
				if err := provenance.AddJobOutput(ctx, tx, p.Workspace, *j.Shot, a, p.Job); err != nil {
					return err
				}
			}
			registered = append(registered, o.entry(a))
		}
		if err := job.Trail(ctx, tx, p.Workspace, p.Job, "verified", p.Attempt, map[string]any{"outputs": registered}); err != nil {
			return err
		}
		if err := job.Trail(ctx, tx, p.Workspace, p.Job, "recorded", p.Attempt, timed(ctx, map[string]any{
			"encoder_version": rep.EncoderVersion, "image_digest": p.ImageDigest,
			"ffmpeg_argv": broker.RedactAll(rep.FFmpegArgv), "worker_argv": broker.RedactAll(rep.WorkerArgv),
			"inputs": inputs, "outputs": registered, "timings_ms": rep.TimingsMS,
			"worker_started_at": rep.StartedAt, "worker_finished_at": rep.FinishedAt, "worker_environment": rep.Environment,
		})); err != nil {
			return err
		}
		_, err = s.Jobs.Move(ctx, tx, p.Workspace, j.ID, job.Move{To: job.Completed, Reason: job.ReasonVerified, Actor: "system:pipeline"})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"outputs": len(registered)}, nil
}

func (s *Steps) notify(ctx context.Context, p Payload) (any, error) {
	err := s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		return job.Trail(ctx, tx, p.Workspace, p.Job, "notified", p.Attempt, timed(ctx, map[string]any{"event": "job.completed"}))
	})
	return map[string]any{"notified": true}, err
}

// FailResult is mark_failed's output; the state machine's Fail state reads it.
type FailResult struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

func (s *Steps) markFailed(ctx context.Context, p Payload) (any, error) {
	res := FailResult{Error: "Job.Failed", Cause: "unknown"}
	if p.Error != nil {
		res = FailResult{Error: p.Error.Error, Cause: broker.Redact(truncate(p.Error.Cause, 2000))}
	}
	err := s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		_, err := s.Jobs.Move(ctx, tx, p.Workspace, p.Job, job.Move{To: job.Failed, Reason: reason(res.Error), Actor: "system:pipeline",
			Error: res.Error + ": " + res.Cause, Stage: "failed", Detail: res})
		if errors.Is(err, job.ErrNotFound) || job.IsTransitionError(err) {
			return nil // gone, or already ended (canceled while running): keep it
		}
		return err
	})
	return res, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
