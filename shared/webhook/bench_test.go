package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// deliverAll enqueues n events to every endpoint of e and measures how long
// a running dispatcher takes to get all n to the healthy receiver.
func deliverAll(b *testing.B, e *env, healthy *receiver, n int) time.Duration {
	b.Helper()
	before := len(healthy.got())
	for i := range n {
		e.enqueue("job.completed", map[string]int{"i": i})
	}
	d := e.svc.NewDispatcher()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	start := time.Now()
	go func() { _ = d.Run(ctx); close(stopped) }()
	for len(healthy.got())-before < n {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	<-stopped
	return took
}

// BenchmarkDeliveries measures deliveries per second to one healthy local
// receiver, alone and beside a second endpoint that hangs (never answers
// within the real 15 s timeout), and reports the ratio (goal ≥ 0.9).
func BenchmarkDeliveries(b *testing.B) {
	const n = 300
	var alone, shared float64
	for b.Loop() {
		e := newEnv(b)
		healthy := newReceiver(b, e.clock, status(200))
		e.hook(healthy.URL)
		alone = n / deliverAll(b, e, healthy, n).Seconds()

		e2 := newEnv(b)
		release := make(chan struct{})
		hang := newReceiver(b, e2.clock, func(_ int, _ http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		healthy2 := newReceiver(b, e2.clock, status(200))
		e2.hook(hang.URL)
		e2.hook(healthy2.URL)
		shared = n / deliverAll(b, e2, healthy2, n).Seconds()
		close(release)
	}
	b.ReportMetric(alone, "deliveries/s-alone")
	b.ReportMetric(shared, "deliveries/s-beside-hanging")
	b.ReportMetric(shared/alone, "ratio")
}
