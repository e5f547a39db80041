// Package reconcile is the job-reconcile cron (T-09): it finds encode jobs
// whose execution silently died and settles them.
//
//   - A job queued without an execution for longer than QueuedAfter (the
//     API committed it but died before, or failed while, starting it) is
//     started through the dispatcher, and its provider and execution id
//     recorded, or failed when no provider takes it.
//   - An open job (running, or queued with an execution) without an update
//     for longer than StaleAfter (the encode timeout plus a margin) is
//     cancelled at its provider (best effort) and failed through the
//     pipeline's mark_failed step, so the trail, webhooks and provider
//     health see it like any other failure.
//
// Each decision is recorded in the job's trail (stage "reconcile"). Safe to
// run twice at once: each job is locked FOR UPDATE SKIP LOCKED, re-checked,
// and claimed (updated_at bumped) in its own transaction before anything
// external happens, so a concurrent run skips it.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
)

// Defaults for the thresholds.
const (
	DefaultQueuedAfter = 5 * time.Minute
	DefaultStaleAfter  = spec.EncodeTimeoutMinutes*time.Minute + 15*time.Minute
)

// Error names mark_failed records for reconciled jobs.
const (
	ErrNoProvider = pipeline.NameNoProvider
	ErrStalled    = pipeline.NameStalled
)

// StepHandler runs a pipeline step (*pipeline.Steps).
type StepHandler interface {
	Handle(ctx context.Context, p pipeline.Payload) (any, error)
}

// Reconciler settles jobs whose execution died.
type Reconciler struct {
	Pool    *pgxpool.Pool
	Starter job.Starter // the pipeline's dispatcher
	Steps   StepHandler
	// QueuedAfter and StaleAfter are the thresholds (defaults when zero).
	QueuedAfter time.Duration
	StaleAfter  time.Duration
	// Batch bounds the jobs one run looks at (100 when zero).
	Batch int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Summary is what a run did.
type Summary struct {
	Started []id.JobID `json:"started"`
	Failed  []id.JobID `json:"failed"`
	Skipped int        `json:"skipped"`
}

type action int

const (
	skip action = iota
	start
	failStale
)

type candidate struct {
	ws       id.WorkspaceID
	job      id.JobID
	status   job.Status
	attempt  int
	provider string
	exec     string
	idle     time.Duration
	act      action
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) thresholds() (time.Duration, time.Duration) {
	q, s := r.QueuedAfter, r.StaleAfter
	if q <= 0 {
		q = DefaultQueuedAfter
	}
	if s <= 0 {
		s = DefaultStaleAfter
	}
	return q, s
}

// Run reconciles up to Batch stale jobs.
func (r *Reconciler) Run(ctx context.Context) (Summary, error) {
	out := Summary{Started: []id.JobID{}, Failed: []id.JobID{}}
	queued, stale := r.thresholds()
	batch := r.Batch
	if batch <= 0 {
		batch = 100
	}
	now := r.now()
	rows, err := r.Pool.Query(ctx, `SELECT id, workspace_id FROM jobs_stale($1, $2, $3, $4)`, now, queued, stale, batch)
	if err != nil {
		return out, fmt.Errorf("reconcile: list: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidate, error) {
		var c candidate
		return c, row.Scan(&c.job, &c.ws)
	})
	if err != nil {
		return out, fmt.Errorf("reconcile: list: %w", err)
	}
	var errs []error
	for _, c := range found {
		act, err := r.one(ctx, c, queued, stale)
		switch {
		case err != nil:
			errs = append(errs, err)
			slog.ErrorContext(ctx, "reconcile: job", "job", c.job.String(), "err", err.Error())
		case act == start:
			out.Started = append(out.Started, c.job)
		case act == failStale:
			out.Failed = append(out.Failed, c.job)
		default:
			out.Skipped++
		}
	}
	return out, errors.Join(errs...)
}

// claim locks the job (skipping one another run holds), re-checks it by
// the database clock, and claims it: updated_at is bumped and the decision
// recorded in the trail, in one transaction committed before the caller
// acts, so a concurrent run no longer sees the job as stale.
func (r *Reconciler) claim(ctx context.Context, c *candidate, queued, stale time.Duration) error {
	return db.InWorkspace(ctx, r.Pool, c.ws.UUID().String(), func(tx pgx.Tx) error {
		var updated time.Time
		err := tx.QueryRow(ctx, `SELECT status, attempt, coalesce(provider, ''), coalesce(execution_id, ''), updated_at
			FROM jobs WHERE id = $1 AND workspace_id = $2 FOR UPDATE SKIP LOCKED`, c.job, c.ws).
			Scan(&c.status, &c.attempt, &c.provider, &c.exec, &updated)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // locked by another run, or gone
		}
		if err != nil {
			return err
		}
		c.idle = r.now().Sub(updated)
		var reason string
		switch {
		case c.status != job.Queued && c.status != job.Running:
			return nil
		case c.idle > stale:
			c.act, reason = failStale, fmt.Sprintf("no progress for %s (over %s)", c.idle.Round(time.Second), stale)
		case c.status == job.Queued && c.exec == "" && c.idle > queued:
			c.act, reason = start, fmt.Sprintf("queued without an execution for %s (over %s)", c.idle.Round(time.Second), queued)
		default:
			return nil
		}
		if err := job.Touch(ctx, tx, c.ws, c.job); err != nil {
			return err
		}
		return job.Trail(ctx, tx, c.ws, c.job, "reconcile", c.attempt, map[string]any{
			"action": map[action]string{start: "start", failStale: "fail"}[c.act], "reason": reason,
			"status": c.status, "provider": c.provider,
		})
	})
}

func (r *Reconciler) one(ctx context.Context, c candidate, queued, stale time.Duration) (action, error) {
	if err := r.claim(ctx, &c, queued, stale); err != nil {
		return skip, fmt.Errorf("reconcile %s: claim: %w", c.job, err)
	}
	switch c.act {
	case start:
		provider, exec, err := r.Starter.Start(ctx, c.ws, c.job)
		if err != nil {
			slog.WarnContext(ctx, "reconcile: no provider took a stranded job; failing it", "job", c.job.String(), "err", err.Error())
			return failStale, r.markFailed(ctx, c, ErrNoProvider, "reconcile: the job was never started and no encode provider is available now")
		}
		err = db.InWorkspace(ctx, r.Pool, c.ws.UUID().String(), func(tx pgx.Tx) error {
			if _, err := job.SetExecution(ctx, tx, c.ws, c.job, provider, exec); err != nil {
				return err
			}
			return job.Trail(ctx, tx, c.ws, c.job, "started", c.attempt, map[string]any{"provider": provider, "by": "reconcile"})
		})
		if err != nil {
			return skip, fmt.Errorf("reconcile %s: record start: %w", c.job, err)
		}
		return start, nil
	case failStale:
		if c.exec != "" && c.provider != "" {
			if err := r.Starter.Cancel(ctx, c.provider, c.exec); err != nil {
				slog.WarnContext(ctx, "reconcile: cancel a stalled execution", "job", c.job.String(), "provider", c.provider, "err", err.Error())
			}
		}
		return failStale, r.markFailed(ctx, c, ErrStalled,
			fmt.Sprintf("reconcile: the job was %s with no progress for %s (encode timeout %d min + 15 min margin); its execution is presumed dead",
				c.status, c.idle.Round(time.Second), spec.EncodeTimeoutMinutes))
	}
	return skip, nil
}

func (r *Reconciler) markFailed(ctx context.Context, c candidate, name, cause string) error {
	_, err := r.Steps.Handle(ctx, pipeline.Payload{Step: spec.StepMarkFailed, Workspace: c.ws, Job: c.job, Attempt: c.attempt,
		Error: &pipeline.StepError{Error: name, Cause: cause}})
	if err != nil {
		return fmt.Errorf("reconcile %s: mark failed: %w", c.job, err)
	}
	return nil
}

// Pending reports whether any job is open (queued or running): while one
// is, the due-only job-reconcile schedule stays on.
func (r *Reconciler) Pending(ctx context.Context) (bool, error) {
	var p bool
	if err := r.Pool.QueryRow(ctx, `SELECT jobs_open()`).Scan(&p); err != nil {
		return false, fmt.Errorf("reconcile: pending: %w", err)
	}
	return p, nil
}
