package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// Status is a job's state. A job is created queued, runs, and ends exactly
// once: completed, failed or canceled. Only this package writes it.
type Status string

// The states of a job.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Completed Status = "completed"
	Failed    Status = "failed"
	Canceled  Status = "canceled"
)

// Finished reports whether s is an ending.
func (s Status) Finished() bool { return s == Completed || s == Failed || s == Canceled }

// Finished reports whether status is terminal.
func Finished(s Status) bool { return s.Finished() }

// Reason says why a job changed state; it is recorded with the event.
type Reason string

// The reasons of the transitions.
const (
	ReasonSubmitted          Reason = "submitted"           // → queued
	ReasonStarted            Reason = "started"             // queued → running (inputs probed)
	ReasonVerified           Reason = "verified"            // running → completed
	ReasonVerificationFailed Reason = "verification_failed" // → failed: outputs did not match the report
	ReasonWorkerFailed       Reason = "worker_failed"       // → failed: every attempt failed
	ReasonInputFailed        Reason = "input_failed"        // → failed: an input was refused or unreadable
	ReasonNoProvider         Reason = "no_provider"         // queued → failed: no provider would start it
	ReasonStalled            Reason = "stalled"             // → failed: the execution died silently
	ReasonCanceled           Reason = "canceled"            // → canceled by a member
)

// allowed is the state machine: the states each state may move to. The
// empty state is "not yet created".
var allowed = map[Status][]Status{
	"":      {Queued},
	Queued:  {Running, Failed, Canceled},
	Running: {Completed, Failed, Canceled},
}

// Allowed reports whether a job may move from one state to another.
func Allowed(from, to Status) bool {
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// TransitionError refuses a move the state machine does not allow (a
// duplicate step delivery, a cancel of a finished job).
type TransitionError struct {
	Job      id.JobID
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("job %s: cannot move from %s to %s", e.Job, e.From, e.To)
}

// IsTransitionError reports whether err refuses a move.
func IsTransitionError(err error) bool {
	var te *TransitionError
	return errors.As(err, &te)
}

// Change is one transition as listeners see it.
type Change struct {
	Job    Job    // the job after the move (status, error, finished_at set)
	From   Status // "" when the job was just created
	Reason Reason
	// Actor is who caused it, as the ledger records it: "user:<id>",
	// "system:pipeline", "system:reconcile", "system:api".
	Actor string
}

// Event is the change's event name in the ledger and for webhooks:
// job.queued, job.started, job.completed, job.failed or job.canceled.
func (c Change) Event() string {
	if c.Job.Status == Running {
		return "job.started"
	}
	return "job." + string(c.Job.Status)
}

// Ended reports whether the change ends the job.
func (c Change) Ended() bool { return c.Job.Status.Finished() }

// Listener reacts to a change inside the transaction that makes it; an
// error rolls the change back. Listeners live in their domains (ledger
// and webhook record, billing settles or releases, pipeline tracks
// provider health); shared/app wires them.
type Listener func(ctx context.Context, tx pgx.Tx, c Change) error

// Lifecycle owns job state: every change goes through Move (or Created for
// a new job) and runs the same listeners, in order, in its transaction.
type Lifecycle struct {
	listeners []Listener
}

// Listen adds listeners; they run for every change, in the order added.
func (l *Lifecycle) Listen(ls ...Listener) { l.listeners = append(l.listeners, ls...) }

func (l *Lifecycle) notify(ctx context.Context, tx pgx.Tx, c Change) error {
	if l == nil {
		return nil
	}
	for _, ls := range l.listeners {
		if err := ls(ctx, tx, c); err != nil {
			return fmt.Errorf("job %s: %s listener: %w", c.Job.ID, c.Event(), err)
		}
	}
	return nil
}

// Created runs the listeners for a job just inserted (queued), and wakes
// the job-reconcile schedule after commit: an open job is what it watches
// (it is off while no job is open).
func (l *Lifecycle) Created(ctx context.Context, tx pgx.Tx, j Job, actor string) error {
	if err := wake.AfterCommit(ctx, tx, wake.JobReconcile); err != nil {
		return err
	}
	return l.notify(ctx, tx, Change{Job: j, Reason: ReasonSubmitted, Actor: actor})
}

// Move is one requested transition.
type Move struct {
	To     Status
	Reason Reason
	Actor  string
	// Error is recorded on the job for failed moves (truncated to 2000
	// bytes).
	Error string
	// Duration, if set, records the probed input duration (on start).
	Duration *float64
	// Stage and Detail, if Stage is set, append an entry to the job's
	// trail in the same transaction.
	Stage  string
	Detail any
}

// Move changes job j of ws in tx: it locks the row, refuses a move the
// state machine does not allow (*TransitionError), writes the state and
// runs every listener. It returns the job as it now is.
func (l *Lifecycle) Move(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, j id.JobID, m Move) (Job, error) {
	cur, err := Load(ctx, tx, ws, j, true)
	if err != nil {
		return Job{}, err
	}
	if !Allowed(cur.Status, m.To) {
		return cur, &TransitionError{Job: j, From: cur.Status, To: m.To}
	}
	var errText *string
	if m.Error != "" {
		e := m.Error
		if len(e) > 2000 {
			e = e[:2000] + "…"
		}
		errText = &e
	}
	next, err := scan(tx.QueryRow(ctx, `UPDATE jobs SET status = $3, error = coalesce($4, error),
		input_duration = coalesce($5, input_duration),
		finished_at = CASE WHEN $6 THEN now() END, updated_at = now()
		WHERE id = $1 AND workspace_id = $2 RETURNING `+cols, j, ws, m.To, errText, m.Duration, m.To.Finished()))
	if err != nil {
		return cur, fmt.Errorf("job %s: move to %s: %w", j, m.To, err)
	}
	if m.Stage != "" {
		if err := Trail(ctx, tx, ws, j, m.Stage, next.Attempt, m.Detail); err != nil {
			return cur, err
		}
	}
	if err := l.notify(ctx, tx, Change{Job: next, From: cur.Status, Reason: m.Reason, Actor: m.Actor}); err != nil {
		return cur, err
	}
	return next, nil
}

// MoveIn is Move in a transaction of its own scoped to ws.
func (l *Lifecycle) MoveIn(ctx context.Context, b db.Beginner, ws id.WorkspaceID, j id.JobID, m Move) (Job, error) {
	var out Job
	err := db.InWorkspace(ctx, b, ws.UUID().String(), func(tx pgx.Tx) error {
		var err error
		out, err = l.Move(ctx, tx, ws, j, m)
		return err
	})
	return out, err
}

// SetExecution records which provider runs job j under which execution,
// once: a job that already has an execution keeps it (false).
func SetExecution(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, provider, execution string) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE jobs SET provider = $3, execution_id = $4, updated_at = now()
		WHERE id = $1 AND workspace_id = $2 AND execution_id IS NULL`, j, ws, provider, execution)
	if err != nil {
		return false, fmt.Errorf("job %s: set execution: %w", j, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetAttempt records the attempt a running job is on.
func SetAttempt(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, attempt int) error {
	if _, err := q.Exec(ctx, `UPDATE jobs SET attempt = $3, updated_at = now() WHERE id = $1 AND workspace_id = $2`, j, ws, attempt); err != nil {
		return fmt.Errorf("job %s: set attempt: %w", j, err)
	}
	return nil
}

// Touch bumps a job's updated_at (the reconcile cron's claim).
func Touch(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID) error {
	if _, err := q.Exec(ctx, `UPDATE jobs SET updated_at = now() WHERE id = $1 AND workspace_id = $2`, j, ws); err != nil {
		return fmt.Errorf("job %s: touch: %w", j, err)
	}
	return nil
}

// AddOutput links a registered output asset to job j under its preset
// output name.
func AddOutput(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, name string, a id.AssetID) error {
	if _, err := q.Exec(ctx, `INSERT INTO job_outputs (workspace_id, job_id, name, asset_id) VALUES ($1, $2, $3, $4)`, ws, j, name, a); err != nil {
		return fmt.Errorf("job %s: add output %s: %w", j, name, err)
	}
	return nil
}
