package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/webhook"
)

// runUntil steps the injected clock by step up to total, running the
// dispatcher once at each step.
func runUntil(t *testing.T, e *env, d *webhook.Dispatcher, step, total time.Duration) {
	t.Helper()
	for el := time.Duration(0); el <= total; el += step {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(step)
	}
}

// TestRetryScheduleOffsets: a receiver answering 500 three times then 200
// gets exactly 4 attempts, at 0, 1 min, 1+5 min and 1+5+30 min (plus the
// jitter, fixed here at half its range), never earlier; the delivery record
// says delivered after 4 attempts; every attempt carries the same
// webhook-id and a valid signature.
func TestRetryScheduleOffsets(t *testing.T) {
	e := newEnv(t)
	rv := newReceiver(t, e.clock, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	hook, secret := e.hook(rv.URL, "job.*")
	e.enqueue("job.completed", map[string]string{"job": "job_1"})
	start := e.clock.Now()
	d := e.svc.NewDispatcher()
	d.Jitter = func() float64 { return 0.5 }
	const step = 5 * time.Second
	runUntil(t, e, d, step, 40*time.Minute)

	hits := rv.got()
	if len(hits) != 4 {
		t.Fatalf("%d attempts, want 4", len(hits))
	}
	j := func(d time.Duration) time.Duration { return d + time.Duration(float64(d)*webhook.Jitter*0.5) }
	want := []time.Duration{0, j(time.Minute), j(time.Minute) + j(5*time.Minute), j(time.Minute) + j(5*time.Minute) + j(30*time.Minute)}
	v, _ := webhook.NewVerifier(secret)
	for i, h := range hits {
		off := h.at.Sub(start)
		if off < want[i] || off > want[i]+step {
			t.Errorf("attempt %d at +%s, want +%s (within one %s step)", i+1, off, want[i], step)
		}
		v.Now = func() time.Time { return h.at }
		if err := v.Verify(h.header, h.body); err != nil {
			t.Errorf("attempt %d does not verify: %v", i+1, err)
		}
		if h.header.Get("webhook-id") != hits[0].header.Get("webhook-id") {
			t.Errorf("attempt %d changed webhook-id", i+1)
		}
	}
	var env webhook.Envelope
	if err := json.Unmarshal(hits[0].body, &env); err != nil || env.Type != "job.completed" || string(env.Data) != `{"job":"job_1"}` {
		t.Fatalf("body %s (%v)", hits[0].body, err)
	}
	st, list := e.do("GET", "/webhooks/"+hook+"/deliveries", "viewer", nil)
	data := list["data"].([]any)
	if st != 200 || len(data) != 1 {
		t.Fatalf("deliveries: %d %v", st, list)
	}
	dl := data[0].(map[string]any)
	if dl["status"] != "delivered" || dl["attempts"] != float64(4) || dl["response_status"] != float64(200) {
		t.Fatalf("delivery record %v", dl)
	}
}

// TestRetryAfterHonoured: a 503 with Retry-After: 600 pushes the second
// attempt to at least 10 minutes, past the 1-minute step.
func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t)
	rv := newReceiver(t, e.clock, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			w.Header().Set("Retry-After", "600")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	})
	e.hook(rv.URL)
	e.enqueue("asset.created", map[string]int{"n": 1})
	start := e.clock.Now()
	d := e.svc.NewDispatcher()
	runUntil(t, e, d, 10*time.Second, 12*time.Minute)
	hits := rv.got()
	if len(hits) != 2 {
		t.Fatalf("%d attempts, want 2", len(hits))
	}
	if off := hits[1].at.Sub(start); off < 10*time.Minute {
		t.Fatalf("second attempt at +%s, before Retry-After", off)
	}
}

// TestCircuitBreaker: ten consecutive failures disable the endpoint, record
// webhook.endpoint_disabled, and mail the owner (not the viewer); the 11th
// event is not attempted. A 410 Gone disables at once.
func TestCircuitBreaker(t *testing.T) {
	t.Run("10 failures", func(t *testing.T) {
		e := newEnv(t)
		rv := newReceiver(t, e.clock, status(500))
		hook, _ := e.hook(rv.URL)
		d := e.svc.NewDispatcher()
		for i := range 10 {
			e.enqueue("job.failed", map[string]int{"i": i})
		}
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(rv.got()); n != 10 {
			t.Fatalf("%d attempts, want 10", n)
		}
		_, ep := e.do("GET", "/webhooks/"+hook, "viewer", nil)
		if ep["enabled"] != false || !strings.Contains(ep["disabled_reason"].(string), "10 consecutive") {
			t.Fatalf("endpoint %v", ep)
		}
		if !e.events.has("webhook.endpoint_disabled") {
			t.Fatal("no webhook.endpoint_disabled event recorded")
		}
		msgs := e.mail.Wait(1, 5*time.Second)
		if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "owner@example.com" {
			t.Fatalf("owner mail: %+v", msgs)
		}
		e.enqueue("job.failed", map[string]int{"i": 11})
		e.clock.Advance(2 * time.Hour) // every retry is due too
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(rv.got()); n != 10 {
			t.Fatalf("%d attempts after disabling, want still 10", n)
		}
		// Re-enabling closes the breaker and resumes the pending retries.
		if st, ep := e.do("PATCH", "/webhooks/"+hook, "owner", map[string]any{"enabled": true}); st != 200 || ep["consecutive_failures"] != float64(0) {
			t.Fatalf("re-enable: %d %v", st, ep)
		}
	})
	t.Run("410 Gone", func(t *testing.T) {
		e := newEnv(t)
		rv := newReceiver(t, e.clock, status(http.StatusGone))
		hook, _ := e.hook(rv.URL)
		e.enqueue("job.failed", map[string]int{})
		e.enqueue("job.failed", map[string]int{})
		d := e.svc.NewDispatcher()
		d.PerEndpoint = 1
		runUntil(t, e, d, time.Minute, 10*time.Minute)
		if n := len(rv.got()); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		_, ep := e.do("GET", "/webhooks/"+hook, "viewer", nil)
		if ep["enabled"] != false {
			t.Fatalf("endpoint %v", ep)
		}
	})
}

// TestRedirectAndTimeoutFail: a 3xx is not followed and counts as a failed
// attempt; so does a receiver slower than the timeout.
func TestRedirectAndTimeoutFail(t *testing.T) {
	e := newEnv(t)
	target := newReceiver(t, e.clock, status(200))
	redir := newReceiver(t, e.clock, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	release := make(chan struct{})
	slow := newReceiver(t, e.clock, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	h1, _ := e.hook(redir.URL)
	h2, _ := e.hook(slow.URL)
	e.enqueue("job.completed", map[string]int{})
	d := e.svc.NewDispatcher().WithTimeout(300 * time.Millisecond)
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(target.got()) != 0 {
		t.Fatal("redirect followed")
	}
	for hook, want := range map[string]string{h1: "redirect (307)", h2: "timed out"} {
		_, list := e.do("GET", "/webhooks/"+hook+"/deliveries", "viewer", nil)
		dl := list["data"].([]any)[0].(map[string]any)
		if dl["status"] != "pending" || dl["attempts"] != float64(1) || !strings.Contains(dl["last_error"].(string), want) {
			t.Fatalf("%s: %v", hook, dl)
		}
	}
}

// TestKilledMidBatchDeliversAtLeastOnce: the dispatcher is cancelled while
// some attempts are in flight (the receiver holds them); after its leases
// expire a new dispatcher delivers every event, none lost.
func TestKilledMidBatchDeliversAtLeastOnce(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	hold := true
	inflight := make(chan struct{}, 100)
	rv := newReceiver(t, e.clock, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hold
		mu.Unlock()
		if h {
			inflight <- struct{}{}
			<-r.Context().Done() // never answers: the dispatcher dies first
			return
		}
		w.WriteHeader(200)
	})
	e.hook(rv.URL)
	const n = 20
	want := map[string]bool{}
	for i := range n {
		want[e.enqueue("job.completed", map[string]int{"i": i}).String()] = true
	}
	d := e.svc.NewDispatcher()
	ctx, kill := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = d.RunOnce(ctx); close(done) }()
	for range d.PerEndpoint {
		<-inflight // the batch is mid-flight
	}
	kill()
	<-done
	mu.Lock()
	hold = false
	mu.Unlock()

	e.clock.Advance(d.Lease + time.Second)
	d2 := e.svc.NewDispatcher()
	if _, err := d2.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, h := range rv.got() {
		got[h.header.Get("webhook-id")] = true
	}
	for m := range want {
		if !got[m] {
			t.Errorf("message %s never delivered", m)
		}
	}
}

// TestOneDeadEndpointDoesNotBlockAnother: with an endpoint that never
// answers (held until the test ends), every delivery to a healthy endpoint
// completes, while the dead one holds at most PerEndpoint attempts.
func TestOneDeadEndpointDoesNotBlockAnother(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	dead := newReceiver(t, e.clock, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	healthy := newReceiver(t, e.clock, status(200))
	e.hook(dead.URL)
	e.hook(healthy.URL)
	const n = 40
	for i := range n {
		e.enqueue("job.completed", map[string]int{"i": i})
	}
	d := e.svc.NewDispatcher()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = d.Run(ctx); close(stopped) }()
	deadline := time.After(30 * time.Second)
	for len(healthy.got()) < n {
		select {
		case <-deadline:
			t.Fatalf("healthy endpoint got %d of %d while the dead one hangs", len(healthy.got()), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if k := len(dead.got()); k > d.PerEndpoint {
		t.Fatalf("dead endpoint holds %d attempts, want ≤ %d", k, d.PerEndpoint)
	}
	close(release)
	cancel()
	<-stopped
}

// TestRetention: delivered records go after 30 days, failed ones after 90.
func TestRetention(t *testing.T) {
	e := newEnv(t)
	rv := newReceiver(t, e.clock, status(200))
	hook, _ := e.hook(rv.URL)
	for range 3 {
		e.enqueue("job.completed", map[string]int{})
	}
	ctx := context.Background()
	// Age the records by hand, as the owner: delivered 31 d, failed 31 d, failed 91 d.
	if _, err := e.db.Owner.Exec(ctx, `WITH x AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM webhook_deliveries)
		UPDATE webhook_deliveries d SET
			status = CASE x.i WHEN 1 THEN 'delivered' ELSE 'failed' END,
			finished_at = $1::timestamptz - CASE x.i WHEN 3 THEN interval '91 days' ELSE interval '31 days' END
		FROM x WHERE x.id = d.id`, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.Trim(ctx)
	if err != nil || n != 2 {
		t.Fatalf("trimmed %d (%v), want 2", n, err)
	}
	_, list := e.do("GET", "/webhooks/"+hook+"/deliveries", "viewer", nil)
	data := list["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["status"] != "failed" {
		t.Fatalf("left %v", data)
	}
}

// TestShutdownFreesLease: a dispatcher stopped while an attempt is in
// flight (the receiver has the request and has not answered) frees that
// delivery's lease before Run returns, records no attempt, and leaves the
// delivery pending, so the next dispatcher attempts it at once rather than
// after the lease (Timeout + 45 s) runs out.
func TestShutdownFreesLease(t *testing.T) {
	e := newEnv(t)
	e.clock.Follow()
	got := make(chan struct{}, 1)
	rv := newReceiver(t, e.clock, func(_ int, _ http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		<-r.Context().Done()
	})
	e.hook(rv.URL)
	e.enqueue("job.completed", map[string]string{"job": "job_1"})
	d := e.svc.NewDispatcher()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	select {
	case <-got:
	case <-time.After(time.Minute):
		t.Fatal("the receiver never got the delivery")
	}
	var leased bool
	if err := e.db.Owner.QueryRow(context.Background(), `SELECT lease_until IS NOT NULL FROM webhook_deliveries`).Scan(&leased); err != nil || !leased {
		t.Fatalf("in flight: leased %v, %v", leased, err)
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	var st string
	var attempts int
	var lease *time.Time
	err := e.db.Owner.QueryRow(context.Background(), `SELECT status, attempts, lease_until FROM webhook_deliveries`).Scan(&st, &attempts, &lease)
	if err != nil {
		t.Fatal(err)
	}
	var recorded int
	_ = e.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM webhook_attempts`).Scan(&recorded)
	if st != "pending" || attempts != 0 || lease != nil || recorded != 0 {
		t.Fatalf("after shutdown: status %s, attempts %d, lease %v, %d attempt records; want pending, 0, none, 0", st, attempts, lease, recorded)
	}
}
