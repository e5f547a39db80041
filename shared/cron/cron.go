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
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	WebhookRetries = "webhook-retries"
	Retention      = "retention"
	WorkspacePurge = "workspace-purge"
	JobReconcile   = "job-reconcile"
	MailOutbox     = "mail-outbox"
	// AssetVerify finishes verifying large uploads (whole-object SHA-256,
	// probe) outside any API request; AssetSweep deletes objects no asset
	// owns and aborts abandoned multipart uploads.
	AssetVerify = "asset-verify"
	AssetSweep  = "asset-sweep"
)

// Entry is one row of the schedule.
type Entry struct {
	Name string
	Rate time.Duration
	// DueOnly says the job opens no database connection when nothing is
	// due (it decides from state kept outside Postgres), so running it
	// often does not keep a paused Aurora awake. The CDK stack marks its
	// rule and the cost model (infra/cost) stops counting it as a wake-up.
	DueOnly bool
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
var Schedule = []Entry{
	{Name: WebhookRetries, Rate: time.Minute},
	{Name: Retention, Rate: 24 * time.Hour},
	{Name: WorkspacePurge, Rate: 24 * time.Hour},
	{Name: JobReconcile, Rate: 5 * time.Minute},
	{Name: MailOutbox, Rate: time.Minute},
	{Name: AssetVerify, Rate: time.Minute},
	{Name: AssetSweep, Rate: 24 * time.Hour}, // daily: an hourly run would keep a paused Aurora awake
}

// JobFunc runs one job and returns a JSON-able summary.
type JobFunc func(ctx context.Context) (any, error)

// Runner serves the cron route for a set of jobs.
type Runner struct {
	pool   *pgxpool.Pool
	secret []byte
	jobs   map[string]JobFunc
}

// NewRunner returns a Runner; secret empty refuses every call.
func NewRunner(pool *pgxpool.Pool, secret string, jobs map[string]JobFunc) *Runner {
	return &Runner{pool: pool, secret: []byte(secret), jobs: jobs}
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
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}
