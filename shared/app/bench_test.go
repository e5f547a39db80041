package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// load runs op n times from `workers` goroutines and returns throughput and
// the 50th and 99th percentile latencies.
func load(b *testing.B, n, workers int, op func() error) (perSec float64, p50, p99 time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(n) / el.Seconds(), lat[n/2], lat[n*99/100]
}

// BenchmarkGuardedGET measures an authenticated, member-guarded GET through
// the real HTTP server (session lookup, membership and resource check,
// handler query) against, in the same run, a net/http hello-world served
// by this binary through the same client ("hello-ratio", goal ≥ 0.5) and a
// bare `SELECT 1` loop through pgx on the same database ("ratio").
func BenchmarkGuardedGET(b *testing.B) {
	e := apptest.New(b)
	tok, _ := e.User("bench@example.com")
	ws := e.Workspace(tok, "Bench")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "p"}).Str("id")
	url := e.Server.URL + "/v1/workspaces/" + ws + "/projects/" + prj
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const workers = 4
	n := max(b.N, 200)

	get := func() error {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var buf [4096]byte
		for {
			if _, err := res.Body.Read(buf[:]); err != nil {
				break
			}
		}
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
		return nil
	}
	ctx := context.Background()
	sel := func() error {
		var one int
		return e.DB.App.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	// The physical ceiling: a net/http hello-world served by this same
	// binary, through the same client.
	hello := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello, world\n"))
	}))
	defer hello.Close()
	hi := func() error {
		res, err := client.Get(hello.URL)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		return res.Body.Close()
	}
	// Warm every path.
	load(b, 50, workers, get)
	load(b, 50, workers, sel)
	load(b, 50, workers, hi)

	b.ResetTimer()
	apiRate, apiP50, apiP99 := load(b, n, workers, get)
	selRate, selP50, selP99 := load(b, n, workers, sel)
	helloRate, _, _ := load(b, n, workers, hi)
	b.StopTimer()
	b.ReportMetric(helloRate, "hello-req/s")
	b.ReportMetric(apiRate/helloRate, "hello-ratio")
	b.ReportMetric(apiRate, "api-req/s")
	b.ReportMetric(float64(apiP50.Microseconds())/1000, "api-p50-ms")
	b.ReportMetric(float64(apiP99.Microseconds())/1000, "api-p99-ms")
	b.ReportMetric(selRate, "select1/s")
	b.ReportMetric(float64(selP50.Microseconds())/1000, "select1-p50-ms")
	b.ReportMetric(float64(selP99.Microseconds())/1000, "select1-p99-ms")
	b.ReportMetric(apiRate/selRate, "ratio")
}
