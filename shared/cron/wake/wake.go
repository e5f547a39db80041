// Package wake lets the domain say "a scheduled job has work now" without
// knowing how jobs are scheduled (issue 16, idle cost). The frequent crons
// (cron.Entry.DueOnly) are not scheduled while nothing is due: in AWS their
// EventBridge rules are deployed DISABLED, locally the in-process scheduler
// holds them off. Whatever commits due work — a webhook delivery, mail in
// the outbox, an upload awaiting verification, an open job — calls
// AfterCommit in its transaction, and once the transaction has committed
// the Waker enables the job's schedule. A run of the job that leaves
// nothing pending switches its own schedule off (cron.Runner), in the
// race-free order: off first, then look again, and on again if anything is
// pending.
//
// The Waker travels in the context, like the request id: the wiring puts
// it there once at each entry point (the app's HTTP handler, the pipeline's
// steps, the local webhook dispatcher), because due work is created by
// free functions deep in other packages' transactions (event.Publish). A
// context without a Waker wakes nothing; the daily jobs' safety sweep
// (cron.Runner) then finds the work within a day.
package wake

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
)

// The due-only jobs (their names are cron's job names).
const (
	WebhookRetries = "webhook-retries"
	MailOutbox     = "mail-outbox"
	AssetVerify    = "asset-verify"
	JobReconcile   = "job-reconcile"
	// LedgerFull runs full ledger verifications that did not finish
	// within their request (GET …/ledger/verify?full=true).
	LedgerFull = "ledger-full"
)

// Waker turns on the schedule of a job that has work. It must be safe to
// call at any time and any number of times (enabling an enabled schedule
// does nothing).
type Waker interface {
	Wake(ctx context.Context, job string) error
}

// Switch is a Waker that can also turn a job's schedule off: what the
// job's own run uses when it leaves nothing pending. In AWS it is
// EventBridge's EnableRule/DisableRule on the job's rule; locally the
// in-process scheduler.
type Switch interface {
	Waker
	Sleep(ctx context.Context, job string) error
}

// Timer is a Switch that can also run a job once at a given time while
// its schedule stays off: what a run uses when the only work left is due
// far in the future (a webhook retry in hours), so the database can pause
// until then. In AWS a one-time EventBridge Scheduler schedule; locally a
// timer of the in-process scheduler.
type Timer interface {
	Switch
	WakeAt(ctx context.Context, job string, at time.Time) error
}

type ctxKey struct{}

// With returns ctx carrying w.
func With(ctx context.Context, w Waker) context.Context {
	if w == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, w)
}

// From is the Waker ctx carries, or nil.
func From(ctx context.Context) Waker {
	w, _ := ctx.Value(ctxKey{}).(Waker)
	return w
}

// SwitchFrom is ctx's Waker when it can also switch schedules off, or nil.
func SwitchFrom(ctx context.Context) Switch {
	if l, ok := From(ctx).(*Late); ok {
		s, _ := l.get().(Switch)
		return s
	}
	s, _ := From(ctx).(Switch)
	return s
}

// AfterCommit wakes job, with ctx's Waker, once tx has committed (never
// after a rollback; once per transaction and job however often it is
// called). A failed wake is logged, not returned: the work is committed
// and the request succeeded; the daily safety sweep wakes the job later.
func AfterCommit(ctx context.Context, tx pgx.Tx, job string) error {
	w := From(ctx)
	if w == nil {
		return nil
	}
	return db.AfterCommitOnce(tx, "wake:"+job, func(ctx context.Context) error {
		Now(ctx, w, job)
		return nil
	})
}

// Now wakes job with w at once (for callers already past their commit),
// logging a failure. w may be nil.
func Now(ctx context.Context, w Waker, job string) {
	if w == nil {
		return
	}
	if err := w.Wake(ctx, job); err != nil {
		slog.ErrorContext(ctx, "wake: could not schedule a job that has work; the daily sweep will", "job", job, "err", err.Error())
	}
}

// Late is a Waker whose target is set after it is handed out (the local
// scheduler exists only once the server listens). Until Set, waking does
// nothing. It is a Switch when its target is.
type Late struct {
	v atomic.Value // holder
}

type holder struct{ w Waker }

// Set makes w the target (nil: none).
func (l *Late) Set(w Waker) { l.v.Store(holder{w}) }

func (l *Late) get() Waker {
	if l == nil {
		return nil
	}
	h, _ := l.v.Load().(holder)
	return h.w
}

// Wake implements Waker.
func (l *Late) Wake(ctx context.Context, job string) error {
	if w := l.get(); w != nil {
		return w.Wake(ctx, job)
	}
	return nil
}
