package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/problem"
)

// durationSQL sums the probed durations (format.duration, seconds) of a
// job's inputs; an input without a numeric duration counts as 0.
const durationSQL = `SELECT coalesce(sum(CASE WHEN probe->'format'->>'duration' ~ '^[0-9]+(\.[0-9]+)?$'
	THEN (probe->'format'->>'duration')::float8 ELSE 0 END), 0)
	FROM assets WHERE workspace_id = $1 AND id = ANY ($2)`

// Estimate is job j's estimated cost: Price of its preset over the summed
// probed durations of its inputs. q is scoped to j's workspace.
func Estimate(ctx context.Context, q pgx.Tx, j job.Job) (Micros, error) {
	var seconds float64
	if err := q.QueryRow(ctx, durationSQL, j.Workspace, j.Inputs).Scan(&seconds); err != nil {
		return 0, fmt.Errorf("billing: estimate: %w", err)
	}
	return Price(j.Preset, seconds), nil
}

// OnSubmit is the job submission hook (job.Hook): it refuses a paid job
// (402) from a workspace with neither a verified card nor credits, then
// reserves the job's estimated cost against the hourly, daily and monthly
// ceilings and, without a verified card, against the credit balance (402
// when the balance cannot cover the open reservations plus this one); a window that cannot take it answers 402 naming the window,
// with Retry-After until it resets. Owners are mailed (through the
// outbox) when a window crosses 80 % or 100 %.
func (s *Service) OnSubmit(ctx context.Context, tx pgx.Tx, a *guard.Access, j job.Job) error {
	const op = "billing.Reserve"
	// The account and the inputs' durations in one round trip.
	var acct account
	var seconds float64
	b := &pgx.Batch{}
	b.Queue(accountSQL, a.Workspace, DefaultPlan).QueryRow(func(row pgx.Row) (err error) {
		acct, err = s.scanAccount(row)
		return err
	})
	b.Queue(durationSQL, j.Workspace, j.Inputs).QueryRow(func(row pgx.Row) error { return row.Scan(&seconds) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	est := Price(j.Preset, seconds)
	if est == 0 {
		return nil // not a paid job
	}
	if !acct.CardVerified && acct.Credits <= 0 {
		return problem.CardRequired.E(op,
			"this workspace has no verified card and no credits: verify a card (POST /v1/workspaces/{ws}/billing/card-check) or buy credits (POST /v1/workspaces/{ws}/checkout)")
	}
	res, err := Reserve(ctx, tx, a.Workspace, j.ID, est, acct.Ceilings, nil, !acct.CardVerified)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if !res.OK && res.Window == WindowCredits {
		return problem.CreditsInsufficient.E(op, fmt.Sprintf(
			"this workspace has no verified card and its credits do not cover this job (estimated %s) on top of its jobs in progress: buy credits (POST /v1/workspaces/{ws}/checkout) or verify a card (POST /v1/workspaces/{ws}/billing/card-check)",
			FormatUSD(est)))
	}
	if !res.OK {
		// The submission's transaction rolls back: record the 100 % alert
		// on another once it has, and its connection is released (no
		// goroutine: the hook runs before the refusal is answered).
		if err := db.AfterRollback(tx, func(ctx context.Context) error { return s.alertRefused(ctx, a.Workspace, res) }); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		return &problem.Error{Op: op, Kind: problem.PaymentRequired, Refusal: problem.SpendCeilingReached.Slug, RetryAfter: max(time.Until(res.ResetsAt), time.Second),
			Detail: fmt.Sprintf("the %s spend ceiling would be exceeded by this job (estimated %s); it resets at %s",
				windowNames[res.Window], FormatUSD(est), res.ResetsAt.UTC().Format(time.RFC3339))}
	}
	for _, al := range res.Alerts {
		// Queued in the submission's transaction: a submission refused
		// later rolls its alert back with its reservation.
		if err := s.alert(ctx, tx, a.Workspace, al); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	return nil
}

// JobChanged is the lifecycle listener for spend (job.Listener): it runs
// in the transaction that ends a job, whoever ends it. A completed job
// settles at the actual cost (Price over the duration the pipeline probed,
// capped at the reservation) and debits the credit ledger; a failed or
// canceled one releases its reservation. Other changes reserve nothing
// (the submission hook OnSubmit does).
func (s *Service) JobChanged(ctx context.Context, tx pgx.Tx, c job.Change) error {
	if !c.Ended() {
		return nil
	}
	j, ws := c.Job, c.Job.Workspace
	if j.Status != job.Completed {
		if _, _, err := Finish(ctx, tx, j.ID, nil); err != nil {
			return err
		}
		return nil
	}
	var actual Micros
	if j.Duration != nil {
		actual = Price(j.Preset, *j.Duration)
	} else {
		est, err := Estimate(ctx, tx, j)
		if err != nil {
			return err
		}
		actual = est
	}
	charged, ok, err := Finish(ctx, tx, j.ID, &actual)
	if err != nil || !ok || charged == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO credit_ledger (workspace_id, amount_micros, reason, job_id) VALUES ($1, $2, 'job', $3)
		ON CONFLICT (job_id, reason) DO NOTHING`, ws, -charged, j.ID); err != nil {
		return fmt.Errorf("billing: debit: %w", err)
	}
	return nil
}
