package pipeline

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
)

// Backend runs encode-job executions: Step Functions with Fargate in AWS,
// the local runner locally, or another provider.
type Backend interface {
	// Name identifies the provider in health records and on the job.
	Name() string
	// Start begins an execution for the job and returns its id.
	Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (executionID string, err error)
	// Cancel stops an execution (and its worker).
	Cancel(ctx context.Context, executionID string) error
}

// Health tracks providers in Postgres (T-11): consecutive failures and a
// cooldown, shared by every API instance.
type Health struct {
	Pool *pgxpool.Pool
	// Threshold consecutive failures put a provider in cooldown for Cooldown.
	Threshold int
	Cooldown  time.Duration
}

// Available reports whether provider is not in cooldown (by the database clock).
func (h *Health) Available(ctx context.Context, provider string) (bool, error) {
	var cooling bool
	err := h.Pool.QueryRow(ctx, `SELECT coalesce((SELECT cooldown_until > now() FROM encode_providers WHERE name = $1), false)`, provider).Scan(&cooling)
	return !cooling, err
}

// Failed records a failure; the Threshold-th in a row starts a cooldown.
// Errors are logged.
func (h *Health) Failed(ctx context.Context, provider, reason string) {
	if err := h.failed(ctx, h.Pool, provider, reason); err != nil {
		slog.ErrorContext(ctx, "provider health: record failure", "provider", provider, "err", err.Error())
	}
}

func (h *Health) failed(ctx context.Context, q db.Querier, provider, reason string) error {
	_, err := q.Exec(ctx, `INSERT INTO encode_providers (name, consecutive_failures, last_error, cooldown_until, updated_at)
		VALUES ($1, 1, $2, CASE WHEN 1 >= $3 THEN now() + $4::interval END, now())
		ON CONFLICT (name) DO UPDATE SET
		  consecutive_failures = encode_providers.consecutive_failures + 1,
		  last_error = $2,
		  cooldown_until = CASE WHEN encode_providers.consecutive_failures + 1 >= $3 THEN now() + $4::interval ELSE encode_providers.cooldown_until END,
		  updated_at = now()`, provider, truncate(reason, 500), h.Threshold, fmt.Sprintf("%d milliseconds", h.Cooldown.Milliseconds()))
	return err
}

func (h *Health) succeeded(ctx context.Context, q db.Querier, provider string) error {
	_, err := q.Exec(ctx, `INSERT INTO encode_providers (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET consecutive_failures = 0, cooldown_until = NULL, updated_at = now()`, provider)
	return err
}

// JobChanged is the lifecycle listener for provider health: a completed job
// resets its provider's failure count; a job its provider failed (the
// worker, its outputs or a silent death) counts as a failure. Canceled
// jobs, jobs no provider started (the dispatcher records refusals itself)
// and jobs that failed on their own input say nothing about a provider:
// counting those would let a customer's hostile upload put the provider
// into cooldown for everyone.
func (h *Health) JobChanged(ctx context.Context, tx pgx.Tx, c job.Change) error {
	p := c.Job.Provider
	if p == "" {
		return nil
	}
	switch {
	case c.Job.Status == job.Completed:
		return h.succeeded(ctx, tx, p)
	case c.Job.Status == job.Failed && c.Reason != job.ReasonNoProvider && c.Reason != job.ReasonInputFailed:
		return h.failed(ctx, tx, p, string(c.Reason)+": "+c.Job.Error)
	}
	return nil
}

// Dispatcher starts each job on the first provider, in order, that is not in
// cooldown and accepts it; a provider that refuses is recorded as failed and
// the next one is tried.
type Dispatcher struct {
	Backends []Backend
	Health   *Health
}

// ErrNoProvider is returned when every provider is cooling down or failed.
var ErrNoProvider = errors.New("pipeline: no encode provider available")

// Start implements job.Starter.
func (d *Dispatcher) Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (string, string, error) {
	var errs []error
	for _, b := range d.Backends {
		ok, err := d.Health.Available(ctx, b.Name())
		if err != nil {
			return "", "", err
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s: in cooldown", b.Name()))
			continue
		}
		exec, err := b.Start(ctx, ws, j)
		if err != nil {
			d.Health.Failed(ctx, b.Name(), err.Error())
			errs = append(errs, fmt.Errorf("%s: %w", b.Name(), err))
			slog.WarnContext(ctx, "encode provider refused a job; failing over", "provider", b.Name(), "err", err.Error())
			continue
		}
		return b.Name(), exec, nil
	}
	return "", "", fmt.Errorf("%w: %w", ErrNoProvider, errors.Join(errs...))
}

// Cancel implements job.Starter.
func (d *Dispatcher) Cancel(ctx context.Context, provider, executionID string) error {
	for _, b := range d.Backends {
		if b.Name() == provider {
			return b.Cancel(ctx, executionID)
		}
	}
	return fmt.Errorf("pipeline: unknown provider %q", provider)
}
