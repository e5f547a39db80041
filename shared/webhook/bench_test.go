package webhook_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/id"
)

// benchDeadline bounds every wait of the webhook benchmarks: a dispatcher
// that stops delivering fails the benchmark instead of hanging `make bench`.
const benchDeadline = 2 * time.Minute

// backlog is the depth of the failing endpoint's queue, and of the
// delivered history, in BenchmarkDeliveries.
const backlog = 50_000

// benchEnv is newEnv with a clock that follows the wall clock: Enqueue
// stamps deliveries with the database's now(), and a frozen test clock
// would never see them fall due (the hang of issue 16, observed #3).
func benchEnv(b *testing.B) *env {
	e := newEnv(b)
	e.clock.Follow()
	return e
}

// deliverAll enqueues msgs events to every endpoint of e and measures how
// long a running dispatcher takes until every receiver in want has n more
// requests. It fails the benchmark after benchDeadline.
func deliverAll(b *testing.B, e *env, want []*receiver, msgs, n int) time.Duration {
	b.Helper()
	before := make([]int, len(want))
	for i, r := range want {
		before[i] = r.count()
	}
	for i := range msgs {
		e.enqueue("job.completed", map[string]int{"i": i})
	}
	d := e.svc.NewDispatcher()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	start := time.Now()
	go func() { _ = d.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	deadline := time.Now().Add(benchDeadline)
	for i := 0; i < len(want); {
		if want[i].count()-before[i] >= n {
			i++
			continue
		}
		if time.Now().After(deadline) {
			b.Fatalf("receiver %d got %d of %d deliveries within %s", i, want[i].count()-before[i], n, benchDeadline)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// addBacklog gives endpoint hook n pending deliveries that are all due
// now, and writes n delivered records of the past to endpoint done (history
// the claim must not read), straight in SQL.
func addBacklog(b *testing.B, e *env, hook, done string, n int) {
	b.Helper()
	ctx := context.Background()
	_, err := e.db.Owner.Exec(ctx, `
		WITH m AS (
			INSERT INTO webhook_messages (id, workspace_id, event_type, body)
			VALUES (gen_random_uuid(), $1, 'job.completed', '{}') RETURNING id
		), pending AS (
			INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, message_id, next_attempt_at, created_at)
			SELECT gen_random_uuid(), $1, $2, m.id, now() - interval '1 hour' + g * interval '1 ms', now() - interval '1 hour'
			FROM m, generate_series(1, $4) g
		)
		INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, message_id, status, attempts, created_at, finished_at)
		SELECT gen_random_uuid(), $1, $3, m.id, 'delivered', 1, now() - interval '2 days', now() - interval '2 days'
		FROM m, generate_series(1, $4) g`, e.ws, uuidOf(b, hook), uuidOf(b, done), n)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.Owner.Exec(ctx, `ANALYZE webhook_deliveries`); err != nil {
		b.Fatal(err)
	}
}

// uuidOf reads the UUID inside an endpoint id ("wh_…").
func uuidOf(b testing.TB, hook string) string {
	b.Helper()
	var w id.WebhookID
	if err := w.UnmarshalText([]byte(hook)); err != nil {
		b.Fatal(err)
	}
	return w.UUID().String()
}

// BenchmarkDeliveries measures webhook deliveries per second to one healthy
// local receiver (a) alone, (b) beside a second endpoint that hangs (never
// answers within the real 15 s timeout, so it holds its in-flight slots)
// and has a 50 000-delivery backlog that is due, with 50 000 delivered
// records of history, and (c) 10 events fanned out to 100 healthy
// endpoints, each its own receiver (1 000 deliveries; total deliveries per
// second). The three run interleaved, five rounds, and each figure is the
// median round, so a burst of load from elsewhere on the machine moves one
// round, not the ratio. Goals: beside ÷ alone ≥ 0.9; fan-out ÷ alone > 1.
func BenchmarkDeliveries(b *testing.B) {
	const (
		n         = 300
		rounds    = 5
		endpoints = 100
		msgs      = 10
	)
	var alone, beside, fanout []float64
	for b.Loop() {
		e := benchEnv(b)
		healthy := newReceiver(b, e.clock, status(200))
		e.hook(healthy.URL)

		e2 := benchEnv(b)
		release := make(chan struct{})
		defer close(release)
		hang := newReceiver(b, e2.clock, func(_ int, _ http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		healthy2 := newReceiver(b, e2.clock, status(200))
		hangID, _ := e2.hook(hang.URL)
		healthyID, _ := e2.hook(healthy2.URL)
		addBacklog(b, e2, hangID, healthyID, backlog)

		e3 := benchEnv(b)
		many := make([]*receiver, endpoints)
		for i := range many {
			many[i] = newReceiver(b, e3.clock, status(200))
			e3.hook(many[i].URL)
		}
		// Settle: the set-up's bulk writes (the 100 000-row backlog above)
		// would otherwise set autovacuum off in the middle of the first
		// rounds, and the other databases would be measured never analyzed.
		for _, x := range []*env{e, e2, e3} {
			if _, err := x.db.Owner.Exec(context.Background(), `VACUUM ANALYZE`); err != nil {
				b.Fatal(err)
			}
		}
		for range rounds {
			alone = append(alone, n/deliverAll(b, e, []*receiver{healthy}, n, n).Seconds())
			beside = append(beside, n/deliverAll(b, e2, []*receiver{healthy2}, n, n).Seconds())
			fanout = append(fanout, endpoints*msgs/deliverAll(b, e3, many, msgs, msgs).Seconds())
		}
	}
	a, s, f := median(alone), median(beside), median(fanout)
	b.ReportMetric(a, "deliveries/s-alone")
	b.ReportMetric(s, "deliveries/s-beside-failing")
	b.ReportMetric(s/a, "ratio")
	b.ReportMetric(f, "deliveries/s-fanout100")
	b.ReportMetric(f/a, "fanout-ratio")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
