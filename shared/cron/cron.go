// Package cron runs Framebroker's scheduled jobs (T-09): one HTTP route,
// POST /internal/cron/{name}, authenticated by a shared secret compared in
// constant time (guard.Internal), that EventBridge schedules call in AWS and
// an in-process ticker calls locally. Every job runs under a Postgres
// advisory lock named for it, so two overlapping invocations never run the
// same job at once (the second reports "already running"); the jobs are
// themselves idempotent and lock rows with SKIP LOCKED.
package cron

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the cron route.
const Function = "cron"

// HeaderSecret carries the cron secret.
const HeaderSecret = "X-Cron-Secret"

// Job names.
const (
	WebhookRetries = wake.WebhookRetries
	Retention      = "retention"
	WorkspacePurge = "workspace-purge"
	JobReconcile   = wake.JobReconcile
	MailOutbox     = wake.MailOutbox
	// AssetVerify finishes verifying large uploads (whole-object SHA-256,
	// probe) outside any API request; AssetSweep deletes objects no asset
	// owns and aborts abandoned multipart uploads.
	AssetVerify = wake.AssetVerify
	AssetSweep  = "asset-sweep"
	// LedgerFull runs the full ledger verifications requested through
	// the API that did not finish within their request.
	LedgerFull = wake.LedgerFull
)

// Entry is one row of the schedule.
type Entry struct {
	Name string
	Rate time.Duration
	// DueOnly says the job is scheduled only while it has work: its
	// schedule starts off (the CDK stack deploys its rule DISABLED, the
	// local Scheduler holds it), whatever commits work for it turns it on
	// (package wake), and a run that leaves nothing pending turns it off
	// again (Settle). So an idle stack makes no scheduled database
	// connection for it and a paused Aurora stays paused; the cost model
	// (infra/cost) prices the disabled rule as no wake-up.
	DueOnly bool
	// Timed (due-only jobs whose work can wait hours: retries) lets a run
	// whose only pending work is due beyond SleepHorizon switch the
	// schedule off and set a one-time wake at that time (SettleUntil);
	// the app gives these jobs a NextFunc.
	Timed bool
}

// Expression is the EventBridge schedule expression of the entry's rate,
// e.g. "rate(5 minutes)".
func (e Entry) Expression() string {
	switch {
	case e.Rate%(24*time.Hour) == 0:
		return unit(int(e.Rate/(24*time.Hour)), "day")
	case e.Rate%time.Hour == 0:
		return unit(int(e.Rate/time.Hour), "hour")
	default:
		return unit(int(e.Rate/time.Minute), "minute")
	}
}

func unit(n int, u string) string {
	s := "rate(" + strconv.Itoa(n) + " " + u
	if n != 1 {
		s += "s"
	}
	return s + ")"
}

// Schedule is the one list of scheduled jobs: the CDK app builds its
// EventBridge rules from it and the local ticker runs it.
//
// The frequent jobs are DueOnly: at idle nothing runs more often than daily.
// The daily jobs also run the safety sweep (Runner.Run): any due-only job
// with pending work whose wake was lost (a process that died between its
// commit and the wake, a deploy that reset a rule) is woken within a day.
var Schedule = []Entry{
	{Name: WebhookRetries, Rate: time.Minute, DueOnly: true, Timed: true},
	{Name: Retention, Rate: 24 * time.Hour},
	{Name: WorkspacePurge, Rate: 24 * time.Hour},
	{Name: JobReconcile, Rate: 5 * time.Minute, DueOnly: true},
	{Name: MailOutbox, Rate: time.Minute, DueOnly: true, Timed: true},
	{Name: AssetVerify, Rate: time.Minute, DueOnly: true},
	{Name: LedgerFull, Rate: time.Minute, DueOnly: true},
	{Name: AssetSweep, Rate: 24 * time.Hour}, // daily: an hourly run would keep a paused Aurora awake
}

// TimedJobs are the names of the schedule's Timed due-only entries.
func TimedJobs(schedule []Entry) []string {
	var out []string
	for _, e := range schedule {
		if e.DueOnly && e.Timed {
			out = append(out, e.Name)
		}
	}
	return out
}

// DueOnlyJobs are the names of the schedule's due-only entries.
func DueOnlyJobs(schedule []Entry) []string {
	var out []string
	for _, e := range schedule {
		if e.DueOnly {
			out = append(out, e.Name)
		}
	}
	return out
}

// JobFunc runs one job and returns a JSON-able summary.
type JobFunc func(ctx context.Context) (any, error)

// PendingFunc reports whether a due-only job has work left, due now or
// later (a retry after a backoff): while it has, its schedule stays on
// (unless NextFunc says all of it is due far enough ahead).
type PendingFunc func(ctx context.Context) (bool, error)

// NextFunc is when a due-only job's earliest pending work falls due. A
// zero or past time reads as "due now" (the safe reading: the schedule
// stays on), whether the work is due or was finished meanwhile. Jobs whose
// work can wait hours (webhook and mail retries) have one.
type NextFunc func(ctx context.Context) (time.Time, error)

// SleepHorizon is how far ahead the earliest pending work must be for a
// run to switch its schedule off and set a one-time wake instead: more
// than the database needs to pause (1 min run + 5 min idle-session close +
// 10 min auto-pause, infra/stack), else pausing would not happen anyway.
const SleepHorizon = 20 * time.Minute

// Runner serves the cron route for a set of jobs.
type Runner struct {
	pool    *pgxpool.Pool
	secret  []byte
	jobs    map[string]JobFunc
	pending map[string]PendingFunc
	next    map[string]NextFunc
}

// NewRunner returns a Runner; secret empty refuses every call.
func NewRunner(pool *pgxpool.Pool, secret string, jobs map[string]JobFunc) *Runner {
	return &Runner{pool: pool, secret: []byte(secret), jobs: jobs}
}

// WithPending gives the due-only jobs their pending checks. After a run of
// such a job, the Runner settles its schedule (Settle) with the
// wake.Switch of the request's context; after a run of any other job it
// sweeps: every due-only job with pending work is woken (the safety net
// for a lost wake). Without a Switch in the context neither happens.
func (r *Runner) WithPending(p map[string]PendingFunc) *Runner {
	r.pending = p
	return r
}

// WithNext gives due-only jobs whose work can be due far ahead their
// earliest due time: with a wake.Timer in the context, a run that leaves
// only such work switches the schedule off and sets a one-time wake at
// that time (SettleUntil).
func (r *Runner) WithNext(n map[string]NextFunc) *Runner {
	r.next = n
	return r
}

// Routes is the cron route.
func (r *Runner) Routes() []guard.Route {
	return []guard.Route{{Method: "POST", Pattern: "/internal/cron/{name}", Function: Function,
		Policy: guard.Internal(HeaderSecret, r.secret), Handler: r.serve,
		Summary: "Run a scheduled job (EventBridge; X-Cron-Secret)", Reply: Result{}}}
}

// Result is the reply to a cron call.
type Result struct {
	Job        string  `json:"job"`
	Ran        bool    `json:"ran"`
	Skipped    string  `json:"skipped,omitempty"`
	Summary    any     `json:"summary,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Schedule is, for a due-only job, "off" when the run left nothing
	// pending and switched the schedule off, "on" when it stays on.
	Schedule string `json:"schedule,omitempty"`
	// Woken are the due-only jobs the safety sweep after a daily job
	// found pending work for and woke.
	Woken []string `json:"woken,omitempty"`
}

func (r *Runner) serve(w http.ResponseWriter, req *http.Request, _ *guard.Access) error {
	const op = "cron.Run"
	name := req.PathValue("name")
	job, ok := r.jobs[name]
	if !ok {
		return problem.E(op, problem.NotFound, "no such job")
	}
	res, err := r.Run(req.Context(), name, job)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, res)
	return nil
}

// lockKey is the advisory-lock key of a job.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("framebroker-cron:" + name))
	return int64(h.Sum64())
}

// Run runs job under its advisory lock, or reports it skipped when another
// invocation holds the lock.
func (r *Runner) Run(ctx context.Context, name string, job JobFunc) (Result, error) {
	start := time.Now()
	res := Result{Job: name}
	// The lock lives on a connection of its own, outside the pool: jobs
	// use the pool, and holding pool connections for locks would starve
	// them (several jobs starting at once deadlocked a small pool).
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&got); err != nil {
		return res, err
	}
	if !got {
		res.Skipped = "already running"
		return res, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey(name))
	sum, err := job(ctx)
	if err != nil {
		return res, err
	}
	res.Ran, res.Summary = true, sum
	if sw := wake.SwitchFrom(ctx); sw != nil {
		if pending, due := r.pending[name]; due {
			// Still under the job's lock: no other run of it settles at
			// the same time.
			state, err := SettleUntil(ctx, sw, name, pending, r.next[name])
			if err != nil {
				slog.WarnContext(ctx, "cron: settling a due-only schedule", "job", name, "err", err.Error())
			}
			res.Schedule = state
		} else {
			res.Woken = r.sweep(ctx, sw)
		}
	}
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

// Settle switches a due-only job's schedule off when pending says nothing
// is left, and reports whether it did. The order makes it race-free with
// the wakers, which enable the schedule only after their work commits:
// off FIRST, then look again, and on again if anything is pending. A
// waker's enable either comes after this disable (the schedule ends on)
// or before it, and then its work committed before the second look,
// which sees it. On any error the schedule is left (or put back) on.
func Settle(ctx context.Context, sw wake.Switch, job string, pending PendingFunc) (bool, error) {
	state, err := SettleUntil(ctx, sw, job, pending, nil)
	return state == "off", err
}

// SettleUntil is Settle that may also switch the schedule off while work
// is pending, when next says all of it falls due beyond SleepHorizon and
// sw is a wake.Timer: then, after the same off-then-look-again order, a
// one-time wake is set at the earliest due time. It returns "off", "on"
// or "until <RFC 3339 time>". Any error leaves the schedule on.
func SettleUntil(ctx context.Context, sw wake.Switch, job string, pending PendingFunc, next NextFunc) (string, error) {
	timer, _ := sw.(wake.Timer)
	if timer == nil {
		next = nil
	}
	// far reports whether the pending work may wait: all of it due
	// beyond the horizon.
	far := func() (time.Time, bool, error) {
		if next == nil {
			return time.Time{}, false, nil
		}
		at, err := next(ctx)
		if err != nil {
			return time.Time{}, false, err
		}
		return at, time.Until(at) > SleepHorizon, nil
	}
	p, err := pending(ctx)
	if err != nil {
		return "on", err
	}
	if p {
		if _, ok, err := far(); err != nil || !ok {
			return "on", err
		}
	}
	if err := sw.Sleep(ctx, job); err != nil {
		return "on", fmt.Errorf("cron: switch %s off: %w", job, err)
	}
	// Look again: work committed before the disable (whose wake may have
	// come before it too) is seen now.
	back := func(err error) (string, error) {
		if werr := sw.Wake(ctx, job); werr != nil {
			slog.ErrorContext(ctx, "cron: work arrived while switching a schedule off, and switching it on again failed; the daily sweep will",
				"job", job, "err", werr.Error())
			return "on", errors.Join(err, werr)
		}
		return "on", err
	}
	p, err = pending(ctx)
	if err != nil {
		return back(err)
	}
	if !p {
		return "off", nil
	}
	at, ok, err := far()
	if err != nil || !ok {
		return back(err)
	}
	if err := timer.WakeAt(ctx, job, at); err != nil {
		return back(fmt.Errorf("cron: wake %s at %s: %w", job, at.Format(time.RFC3339), err))
	}
	return "until " + at.UTC().Format(time.RFC3339), nil
}

// sweep wakes every due-only job that has pending work (run after the
// daily jobs: a wake lost between a commit and its Waker, or a rule a
// deploy reset, costs at most a day's delay, never the work).
func (r *Runner) sweep(ctx context.Context, sw wake.Switch) []string {
	names := make([]string, 0, len(r.pending))
	for n := range r.pending {
		names = append(names, n)
	}
	sort.Strings(names)
	var woken []string
	for _, n := range names {
		p, err := r.pending[n](ctx)
		if err != nil {
			slog.WarnContext(ctx, "cron: safety sweep", "job", n, "err", err.Error())
			continue
		}
		if p {
			if err := sw.Wake(ctx, n); err != nil {
				slog.ErrorContext(ctx, "cron: safety sweep could not wake a job with pending work", "job", n, "err", err.Error())
				continue
			}
			woken = append(woken, n)
		}
	}
	return woken
}
