package cron_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/guard"
)

func server(t *testing.T, secret string, jobs map[string]cron.JobFunc) *httptest.Server {
	t.Helper()
	d := dbtest.New(t)
	mux, err := guard.NewMux(cron.NewRunner(d.App, secret, jobs).Routes(), nil, d.App)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, secret string) (int, cron.Result) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	if secret != "" {
		req.Header.Set(cron.HeaderSecret, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r cron.Result
	_ = json.NewDecoder(res.Body).Decode(&r)
	return res.StatusCode, r
}

// TestCronSecret: a wrong or missing secret is 401 and the job does not
// run; the right one runs it; an unknown job is 404.
func TestCronSecret(t *testing.T) {
	var runs atomic.Int32
	srv := server(t, "the-cron-secret", map[string]cron.JobFunc{
		"retention": func(context.Context) (any, error) { runs.Add(1); return map[string]int{"n": 1}, nil },
	})
	for _, tc := range []struct {
		secret string
		want   int
	}{{"", 401}, {"wrong", 401}, {"the-cron-secre", 401}, {"the-cron-secret!", 401}} {
		if st, _ := post(t, srv.URL+"/internal/cron/retention", tc.secret); st != tc.want {
			t.Errorf("secret %q: %d, want %d", tc.secret, st, tc.want)
		}
	}
	if runs.Load() != 0 {
		t.Fatal("a job ran without the secret")
	}
	st, r := post(t, srv.URL+"/internal/cron/retention", "the-cron-secret")
	if st != 200 || !r.Ran || runs.Load() != 1 {
		t.Fatalf("%d %+v", st, r)
	}
	if st, _ := post(t, srv.URL+"/internal/cron/nope", "the-cron-secret"); st != 404 {
		t.Fatalf("unknown job: %d", st)
	}
}

// TestCronRunsOnceAtATime: two overlapping invocations of a job, the first
// held inside the job: the second is skipped, not run concurrently.
func TestCronRunsOnceAtATime(t *testing.T) {
	var runs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	srv := server(t, "s", map[string]cron.JobFunc{
		"webhook-retries": func(context.Context) (any, error) {
			if runs.Add(1) == 1 {
				close(entered)
				<-release
			}
			return nil, nil
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { post(t, srv.URL+"/internal/cron/webhook-retries", "s") })
	<-entered
	st, r := post(t, srv.URL+"/internal/cron/webhook-retries", "s")
	if st != 200 || r.Ran || r.Skipped != "already running" {
		t.Fatalf("overlapping call: %d %+v", st, r)
	}
	close(release)
	wg.Wait()
	if st, r := post(t, srv.URL+"/internal/cron/webhook-retries", "s"); st != 200 || !r.Ran {
		t.Fatalf("after release: %d %+v", st, r)
	}
}

// TestTickerCallsEveryJob: the local scheduler calls each ordinary job
// with the secret at start, and no due-only job until it is woken; woken,
// it is called at once.
func TestTickerCallsEveryJob(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	jobs := map[string]cron.JobFunc{}
	for _, e := range cron.Schedule {
		jobs[e.Name] = func(context.Context) (any, error) { mu.Lock(); seen[e.Name]++; mu.Unlock(); return nil, nil }
	}
	srv := server(t, "s", jobs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sched := cron.Tick(ctx, srv.URL, "s", cron.Schedule, 1)
	due := cron.DueOnlyJobs(cron.Schedule)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			done := ok()
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ticker called %v", what, seen)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("ordinary jobs", func() bool { return len(seen) == len(cron.Schedule)-len(due) })
	for _, name := range due {
		if seen[name] != 0 || sched.On(name) {
			t.Fatalf("due-only %s ran (%d) or is on before any wake", name, seen[name])
		}
	}
	for _, name := range due {
		if err := sched.Wake(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("woken due-only jobs", func() bool { return len(seen) == len(cron.Schedule) })
}

// switchLog is a fake rule controller: it records the order of calls and
// can run a hook (another process committing work and waking) between
// them.
type switchLog struct {
	mu      sync.Mutex
	on      bool
	ops     []string
	onSleep func()
}

func (s *switchLog) Wake(_ context.Context, job string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = true
	s.ops = append(s.ops, "wake")
	return nil
}

func (s *switchLog) Sleep(_ context.Context, job string) error {
	s.mu.Lock()
	s.on = false
	s.ops = append(s.ops, "sleep")
	s.mu.Unlock()
	if s.onSleep != nil {
		s.onSleep()
	}
	return nil
}

// TestSettleRaceOrder: Settle switches off first, then looks again. Work
// that commits (and wakes) at any point of a settling run leaves the
// schedule on; a run that finds nothing both times leaves it off; and a
// failed look never switches it off.
func TestSettleRaceOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// pending answers per look; wakeAt runs the waker (work committed
		// just before) before look n (0: never) or right after the
		// switch's disable ("sleep").
		first, second                   bool
		wakeBeforeSleep, wakeAfterSleep bool
		wantOn                          bool
		wantOps                         string
	}{
		{name: "nothing pending", wantOn: false, wantOps: "sleep"},
		{name: "pending at the first look", first: true, second: true, wantOn: true, wantOps: ""},
		// Work committed before the disable; its waker's enable came
		// before the disable too (a no-op on an enabled rule), so only the
		// second look can save it.
		{name: "work and wake before the disable", second: true, wakeBeforeSleep: true, wantOn: true, wantOps: "wake sleep wake"},
		// Work committed and woke after the disable: the rule ends on
		// whatever the second look sees.
		{name: "work and wake after the disable", second: true, wakeAfterSleep: true, wantOn: true, wantOps: "sleep wake wake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &switchLog{on: true}
			looks := 0
			pending := func(context.Context) (bool, error) {
				looks++
				if looks == 1 {
					if tc.wakeBeforeSleep {
						_ = sw.Wake(context.Background(), "j")
					}
					return tc.first, nil
				}
				return tc.second, nil
			}
			if tc.wakeAfterSleep {
				sw.onSleep = func() { _ = sw.Wake(context.Background(), "j") }
			}
			off, err := cron.Settle(context.Background(), sw, "j", pending)
			if err != nil {
				t.Fatal(err)
			}
			if sw.on != tc.wantOn || off == tc.wantOn || strings.Join(sw.ops, " ") != tc.wantOps {
				t.Fatalf("on %v off %v ops %q; want on %v ops %q", sw.on, off, strings.Join(sw.ops, " "), tc.wantOn, tc.wantOps)
			}
		})
	}
	// A look that fails leaves the schedule on (before the disable: not
	// touched; after it: switched on again).
	for _, failAt := range []int{1, 2} {
		sw := &switchLog{on: true}
		looks := 0
		_, err := cron.Settle(context.Background(), sw, "j", func(context.Context) (bool, error) {
			looks++
			if looks == failAt {
				return false, errors.New("connection lost")
			}
			return false, nil
		})
		if err == nil || !sw.on {
			t.Fatalf("look %d failed: err %v, on %v (%v)", failAt, err, sw.on, sw.ops)
		}
	}
}

// TestDueOnlyEntries: the frequent jobs are due-only (nothing runs more
// often than daily at idle), and the two whose work can wait hours (retries)
// are Timed — the app gives exactly those a NextFunc (shared/app).
func TestDueOnlyEntries(t *testing.T) {
	if got := strings.Join(cron.DueOnlyJobs(cron.Schedule), ","); got != "webhook-retries,job-reconcile,mail-outbox,asset-verify,ledger-full" {
		t.Fatalf("due-only %s", got)
	}
	if got := strings.Join(cron.TimedJobs(cron.Schedule), ","); got != "webhook-retries,mail-outbox" {
		t.Fatalf("timed %s", got)
	}
	for _, e := range cron.Schedule {
		if !e.DueOnly && e.Rate < 24*time.Hour {
			t.Errorf("%s runs every %s at idle", e.Name, e.Rate)
		}
	}
}

// TestScheduleExpressions are what the CDK app hands EventBridge.
func TestScheduleExpressions(t *testing.T) {
	want := map[string]string{"webhook-retries": "rate(1 minute)", "retention": "rate(1 day)", "workspace-purge": "rate(1 day)", "job-reconcile": "rate(5 minutes)", "mail-outbox": "rate(1 minute)",
		"asset-verify": "rate(1 minute)", "asset-sweep": "rate(1 day)", "ledger-full": "rate(1 minute)"}
	for _, e := range cron.Schedule {
		if e.Expression() != want[e.Name] {
			t.Errorf("%s: %s, want %s", e.Name, e.Expression(), want[e.Name])
		}
	}
}

// TestJobsDoNotStarveThePool: more jobs start at once than the pool has
// connections, and each job itself needs a pool connection. Locks held on
// pool connections deadlocked this (it hung `framebroker dev` at start).
func TestJobsDoNotStarveThePool(t *testing.T) {
	d := dbtest.New(t)
	cfg := d.App.Config().Copy()
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	jobs := map[string]cron.JobFunc{}
	for _, name := range []string{"webhook-retries", "retention", "workspace-purge", "job-reconcile"} {
		jobs[name] = func(ctx context.Context) (any, error) {
			var one int
			time.Sleep(50 * time.Millisecond) // all four hold their locks together
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return nil, pool.QueryRow(ctx, `SELECT 1`).Scan(&one)
		}
	}
	mux, err := guard.NewMux(cron.NewRunner(pool, "s", jobs).Routes(), nil, pool)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for name := range jobs {
			wg.Go(func() {
				if st, r := post(t, srv.URL+"/internal/cron/"+name, "s"); st != 200 || !r.Ran {
					t.Errorf("%s: %d %+v", name, st, r)
				}
			})
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("cron jobs deadlocked on the connection pool")
	}
}

// TestRunnerSettlesAndSweeps: through the cron route, with the switch in
// the request's context (as the app serves it), a due-only run that leaves
// nothing pending switches its schedule off and one that leaves work keeps
// it on; a daily job's run wakes the due-only jobs that have pending work
// (the safety sweep).
func TestRunnerSettlesAndSweeps(t *testing.T) {
	d := dbtest.New(t)
	var mu sync.Mutex
	pendingWork := map[string]bool{}
	pend := func(name string) cron.PendingFunc {
		return func(context.Context) (bool, error) { mu.Lock(); defer mu.Unlock(); return pendingWork[name], nil }
	}
	nop := func(context.Context) (any, error) { return nil, nil }
	runner := cron.NewRunner(d.App, "s", map[string]cron.JobFunc{"mail-outbox": nop, "webhook-retries": nop, "retention": nop}).
		WithPending(map[string]cron.PendingFunc{"mail-outbox": pend("mail-outbox"), "webhook-retries": pend("webhook-retries")})
	mux, err := guard.NewMux(runner.Routes(), nil, d.App)
	if err != nil {
		t.Fatal(err)
	}
	sw := &switchLog{on: true}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(wake.With(r.Context(), sw)))
	}))
	defer srv.Close()

	if st, r := post(t, srv.URL+"/internal/cron/mail-outbox", "s"); st != 200 || r.Schedule != "off" || sw.on {
		t.Fatalf("nothing pending: %d %+v, on %v", st, r, sw.on)
	}
	mu.Lock()
	pendingWork["mail-outbox"] = true
	mu.Unlock()
	sw.ops = nil
	if st, r := post(t, srv.URL+"/internal/cron/mail-outbox", "s"); st != 200 || r.Schedule != "on" || len(sw.ops) != 0 {
		t.Fatalf("work left: %d %+v, ops %v", st, r, sw.ops)
	}
	// The safety sweep: mail-outbox has work and its schedule is off (a
	// lost wake); the daily job's run wakes it, and only it.
	sw.on = false
	if st, r := post(t, srv.URL+"/internal/cron/retention", "s"); st != 200 || !r.Ran || strings.Join(r.Woken, ",") != "mail-outbox" || !sw.on {
		t.Fatalf("sweep: %d %+v, on %v", st, r, sw.on)
	}
	// Without a switch in the context (the purge function, a test
	// server), nothing is settled.
	plain := server(t, "s", map[string]cron.JobFunc{"mail-outbox": nop})
	if st, r := post(t, plain.URL+"/internal/cron/mail-outbox", "s"); st != 200 || r.Schedule != "" {
		t.Fatalf("no switch: %d %+v", st, r)
	}
}

// timerLog is a switchLog that can also set one-time wakes.
type timerLog struct {
	switchLog
	at      time.Time
	failing bool
}

func (s *timerLog) WakeAt(_ context.Context, job string, at time.Time) error {
	if s.failing {
		return errors.New("scheduler: AccessDenied")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = at
	s.ops = append(s.ops, "at")
	return nil
}

// TestSettleUntil: work pending only beyond the horizon switches the
// schedule off with a one-time wake at the earliest due time; work due
// sooner keeps it on; work due now that arrives while switching off wins;
// a failed one-time wake leaves the schedule on; a switch that cannot set
// timers keeps the schedule on while anything is pending.
func TestSettleUntil(t *testing.T) {
	far := time.Now().Add(3 * time.Hour)
	for _, tc := range []struct {
		name      string
		nexts     []time.Time // per look
		failing   bool
		wantState string
		wantOps   string
	}{
		{"retry in 3 h", []time.Time{far, far}, false, "until " + far.UTC().Format(time.RFC3339), "sleep at"},
		{"retry in 5 min", []time.Time{time.Now().Add(5 * time.Minute)}, false, "on", ""},
		{"new work due now while switching off", []time.Time{far, time.Now()}, false, "on", "sleep wake"},
		{"one-time wake refused", []time.Time{far, far}, true, "on", "sleep wake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &timerLog{switchLog: switchLog{on: true}, failing: tc.failing}
			looks := 0
			next := func(context.Context) (time.Time, error) { looks++; return tc.nexts[min(looks, len(tc.nexts))-1], nil }
			state, _ := cron.SettleUntil(context.Background(), sw, "j", func(context.Context) (bool, error) { return true, nil }, next)
			if state != tc.wantState || strings.Join(sw.ops, " ") != tc.wantOps || sw.on != (tc.wantState == "on") {
				t.Fatalf("state %q ops %q on %v; want %q %q", state, strings.Join(sw.ops, " "), sw.on, tc.wantState, tc.wantOps)
			}
		})
	}
	// Without timers (a plain switch) pending work keeps it on.
	sw := &switchLog{on: true}
	state, _ := cron.SettleUntil(context.Background(), sw, "j", func(context.Context) (bool, error) { return true, nil },
		func(context.Context) (time.Time, error) { return far, nil })
	if state != "on" || len(sw.ops) != 0 {
		t.Fatalf("plain switch: %q %v", state, sw.ops)
	}
}

// TestSchedulerWakeAt: the local scheduler runs a job once at its one-time
// wake although its schedule is off, and leaves it off.
func TestSchedulerWakeAt(t *testing.T) {
	var runs atomic.Int32
	srv := server(t, "s", map[string]cron.JobFunc{"mail-outbox": func(context.Context) (any, error) { runs.Add(1); return nil, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Scale 3600: an hour is a second.
	sched := cron.NewScheduler(srv.URL, "s", []cron.Entry{{Name: "mail-outbox", Rate: time.Hour, DueOnly: true}}, 3600)
	sched.Start(ctx)
	if err := sched.WakeAt(ctx, "mail-outbox", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for runs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the one-time wake did not run the job")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sched.On("mail-outbox") {
		t.Fatal("a one-time wake switched the schedule on")
	}
}
