package cron_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/cron"
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

// TestTickerCallsEveryJob: the local ticker calls each scheduled job with
// the secret.
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
	cron.Tick(ctx, srv.URL, "s", cron.Schedule, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == len(cron.Schedule) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticker called %v", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScheduleExpressions are what the CDK app hands EventBridge.
func TestScheduleExpressions(t *testing.T) {
	want := map[string]string{"webhook-retries": "rate(1 minute)", "retention": "rate(1 day)", "workspace-purge": "rate(1 day)", "job-reconcile": "rate(5 minutes)", "mail-outbox": "rate(1 minute)",
		"asset-verify": "rate(1 minute)", "asset-sweep": "rate(1 day)"}
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
