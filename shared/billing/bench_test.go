package billing_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/pipeline"
)

// BenchmarkSubmitControls measures the latency the money and abuse
// controls add to job submission: the same submission through the real
// HTTP stack, alternately on an instance with the route limiter and the
// billing hook (payment gate, estimate, spend reservation) and on one
// without them (same database, same run, no-op encode provider). It
// reports the median and p99 of both and the added median (goal ≤ 2 ms).
func BenchmarkSubmitControls(b *testing.B) {
	e := env(b)
	big := billing.Ceilings{Hour: 1 << 50, Day: 1 << 50, Month: 1 << 50}
	bare, err := app.NewWith(e.Config, e.DB.App, e.App.Blob, media.FFprobe{})
	if err != nil {
		b.Fatal(err)
	}
	bare.Pipeline.Dispatcher.Backends = []pipeline.Backend{noop{}}
	bare.Pipeline.Jobs.OnSubmit = nil
	routes := bare.Routes()
	for i := range routes {
		routes[i].Limit = nil
	}
	mux, err := guard.NewMux(routes, bare.Identity, e.DB.App)
	if err != nil {
		b.Fatal(err)
	}
	bareSrv := httptest.NewServer(httpx.Middleware(mux))
	b.Cleanup(bareSrv.Close)

	tok, _ := e.User("bench@example.com")
	ws := e.Workspace(tok, "Bench")
	setCeilings(b, e, ws, big)
	asset := probedAsset(b, e, ws, 60)
	job := map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	n := max(b.N, 300)
	with := make([]time.Duration, 0, n)
	without := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range 2 * n {
		url := e.Server.URL
		if i%2 == 1 {
			url = bareSrv.URL
		}
		t0 := time.Now()
		r := post(b, client, url+"/v1/workspaces/"+ws+"/jobs", tok, job, nil)
		d := time.Since(t0)
		if r.Status != http.StatusAccepted {
			b.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if i%2 == 0 {
			with = append(with, d)
		} else {
			without = append(without, d)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	w50, w99 := pct(with)
	o50, o99 := pct(without)
	b.ReportMetric(ms(w50), "with-p50-ms")
	b.ReportMetric(ms(w99), "with-p99-ms")
	b.ReportMetric(ms(o50), "without-p50-ms")
	b.ReportMetric(ms(o99), "without-p99-ms")
	b.ReportMetric(ms(w50-o50), "added-p50-ms")
	b.ReportMetric(ms(w99-o99), "added-p99-ms")
}

func pct(ds []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)*99/100]
}
