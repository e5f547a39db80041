package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/reconcile"
)

// backend is an encode provider that records what it is asked; it stands
// in for Step Functions / the local runner, whose own tests cover them.
type backend struct {
	starts, cancels atomic.Int32
	down            bool
}

func (b *backend) Name() string { return "test-provider" }
func (b *backend) Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (string, error) {
	if b.down {
		return "", errors.New("provider down")
	}
	b.starts.Add(1)
	time.Sleep(20 * time.Millisecond) // widen the window for a concurrent run
	return "exec-" + j.String(), nil
}
func (b *backend) Cancel(ctx context.Context, exec string) error { b.cancels.Add(1); return nil }

type row struct {
	name     string
	status   string
	exec     string
	idle     time.Duration
	wantStat string
	wantErr  string // substring of jobs.error
	wantExec bool
}

// TestReconcile: with rows set up directly (no real encodes, no timing):
// a job queued without an execution for over 5 min is started and its
// provider and execution recorded; one queued 1 min is left alone; a
// running (or queued-with-execution) job idle past the encode timeout + 15
// min is cancelled at its provider and failed through mark_failed with a
// clear error; a running job idle 30 min and finished jobs are untouched.
// Each decision is in the trail. Two runs at once start each job once.
func TestReconcile(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	rows := []row{
		{name: "stranded", status: "queued", idle: 10 * time.Minute, wantStat: "queued", wantExec: true},
		{name: "fresh", status: "queued", idle: time.Minute, wantStat: "queued"},
		{name: "stalled", status: "running", exec: "exec-x", idle: 80 * time.Minute, wantStat: "failed", wantErr: reconcile.ErrStalled},
		{name: "stalled-queued", status: "queued", exec: "exec-y", idle: 80 * time.Minute, wantStat: "failed", wantErr: reconcile.ErrStalled},
		{name: "encoding", status: "running", exec: "exec-z", idle: 30 * time.Minute, wantStat: "running"},
		{name: "done", status: "completed", exec: "exec-w", idle: 24 * time.Hour, wantStat: "completed"},
	}
	user, ws := id.New[id.UserID](), id.New[id.WorkspaceID]()
	if _, err := d.Owner.Exec(ctx, `INSERT INTO users (id, email, email_canonical) VALUES ($1, 'r@example.com', 'r@example.com')`, user); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.Exec(ctx, `INSERT INTO workspaces (id, name, created_by) VALUES ($1, 'R', $2)`, ws, user); err != nil {
		t.Fatal(err)
	}
	ids := make([]id.JobID, len(rows))
	for i, r := range rows {
		ids[i] = id.New[id.JobID]()
		var exec, provider *string
		if r.exec != "" {
			exec, provider = &r.exec, new(string)
			*provider = "test-provider"
		}
		if _, err := d.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs, status, provider, execution_id, updated_at)
			VALUES ($1, $2, 'mp4-h264-720p', $3, $4, $5, $6, now() - $7::interval)`,
			ids[i], ws, []id.AssetID{id.New[id.AssetID]()}, r.status, provider, exec, r.idle.String()); err != nil {
			t.Fatal(err)
		}
	}
	b := &backend{}
	health := &pipeline.Health{Pool: d.App, Threshold: 3, Cooldown: time.Minute}
	rec := &reconcile.Reconciler{Pool: d.App,
		Starter: &pipeline.Dispatcher{Backends: []pipeline.Backend{b}, Health: health},
		Steps:   &pipeline.Steps{Pool: d.App, Jobs: &job.Lifecycle{}}}

	var wg sync.WaitGroup
	var sums [2]reconcile.Summary
	var errs [2]error
	for i := range 2 {
		wg.Go(func() { sums[i], errs[i] = rec.Run(ctx) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if b.starts.Load() != 1 || b.cancels.Load() != 2 {
		t.Fatalf("starts %d (want 1), cancels %d (want 2); %+v", b.starts.Load(), b.cancels.Load(), sums)
	}
	if n := len(sums[0].Started) + len(sums[1].Started); n != 1 {
		t.Fatalf("started %d times: %+v", n, sums)
	}
	if n := len(sums[0].Failed) + len(sums[1].Failed); n != 2 {
		t.Fatalf("failed %d: %+v", n, sums)
	}
	for i, r := range rows {
		var status, errText, exec string
		var stages []string
		if err := d.Owner.QueryRow(ctx, `SELECT status, coalesce(error, ''), coalesce(execution_id, ''),
			coalesce((SELECT array_agg(stage ORDER BY id) FROM job_events WHERE job_id = j.id), '{}')
			FROM jobs j WHERE id = $1`, ids[i]).Scan(&status, &errText, &exec, &stages); err != nil {
			t.Fatal(err)
		}
		trail := strings.Join(stages, ",")
		switch {
		case status != r.wantStat:
			t.Errorf("%s: status %s, want %s", r.name, status, r.wantStat)
		case r.wantErr != "" && (!strings.Contains(errText, r.wantErr) || !strings.Contains(errText, "no progress") || trail != "reconcile,failed"):
			t.Errorf("%s: error %q, trail %s", r.name, errText, trail)
		case r.wantExec && (exec != "exec-"+ids[i].String() || trail != "reconcile,started"):
			t.Errorf("%s: execution %q, trail %s", r.name, exec, trail)
		case r.wantErr == "" && !r.wantExec && trail != "":
			t.Errorf("%s: touched, trail %s", r.name, trail)
		}
	}

	// A stranded job no provider takes is failed, not left queued.
	b.down = true
	stranded := id.New[id.JobID]()
	if _, err := d.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs, updated_at) VALUES ($1, $2, 'mp4-h264-720p', $3, now() - interval '6 minutes')`,
		stranded, ws, []id.AssetID{id.New[id.AssetID]()}); err != nil {
		t.Fatal(err)
	}
	if s, err := rec.Run(ctx); err != nil || len(s.Failed) != 1 || s.Failed[0] != stranded {
		t.Fatalf("no provider: %+v %v", s, err)
	}
	var errText string
	_ = d.Owner.QueryRow(ctx, `SELECT error FROM jobs WHERE id = $1 AND status = 'failed'`, stranded).Scan(&errText)
	if !strings.Contains(errText, reconcile.ErrNoProvider) {
		t.Fatalf("no provider: error %q", errText)
	}
	// Nothing is left to do.
	if s, err := rec.Run(ctx); err != nil || len(s.Started)+len(s.Failed) != 0 {
		t.Fatalf("third run: %+v %v", s, err)
	}
}
