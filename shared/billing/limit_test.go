package billing_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/pipeline"
)

// TestRateLimitExactAcrossInstances: two API processes (two app instances
// on the same database) share one GCRA limit. Job submission allows 5 a
// minute per user and 8 a minute per workspace: alternating between the
// instances, the first user gets exactly 5 (RateLimit r=4…0), the 6th is
// 429 with Retry-After 12 (one emission interval); a second member then
// gets exactly 3 (the workspace's 8), the next is 429 by the workspace's
// limit with Retry-After 8 (7.5 s rounded up). The headers carry both
// policies; unlimited routes carry none. Both instances evaluate the limits
// at one test clock (frozen unless the test moves it), so the exact figures
// do not depend on how fast a loaded machine answers; moving it by one
// emission interval gives the first user exactly one more request.
func TestRateLimitExactAcrossInstances(t *testing.T) {
	e := env(t)
	e.App.Billing.Plans = plans(5, 8)
	var clockMu sync.Mutex
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	e.App.Billing.RateClock = clock
	a2, err := app.NewWith(e.Config, e.DB.App, e.App.Blob, media.FFprobe{})
	if err != nil {
		t.Fatal(err)
	}
	a2.Pipeline.Dispatcher.Backends = []pipeline.Backend{noop{}}
	a2.Billing.Plans = plans(5, 8)
	a2.Billing.RateClock = clock
	srv2 := httptest.NewServer(a2.Handler())
	t.Cleanup(srv2.Close)
	servers := []string{e.Server.URL, srv2.URL}

	tok, _ := e.User("owner@example.com")
	tok2, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	e.Join(tok, ws, tok2, "ed@example.com", "editor")
	asset := probedAsset(t, e, ws, 10)
	job := map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"}
	const policy = `"user";q=5;w=60, "workspace";q=8;w=60`

	n := 0
	send := func(tok string) (int, http.Header) {
		r := post(t, http.DefaultClient, servers[n%2]+"/v1/workspaces/"+ws+"/jobs", tok, job, nil)
		n++
		return r.Status, r.Header
	}
	for i := range 5 {
		st, h := send(tok)
		if st != 202 {
			t.Fatalf("request %d: %d", i+1, st)
		}
		if got := h.Get("RateLimit-Policy"); got != policy {
			t.Fatalf("RateLimit-Policy %q, want %q", got, policy)
		}
		want := `"user";r=` + strconv.Itoa(4-i) + `;t=`
		if got := h.Get("RateLimit"); len(got) < len(want) || got[:len(want)] != want {
			t.Fatalf("request %d: RateLimit %q, want prefix %q", i+1, got, want)
		}
	}
	st, h := send(tok)
	if st != 429 || h.Get("Retry-After") != "12" {
		t.Fatalf("6th: status %d Retry-After %q, want 429 and 12", st, h.Get("Retry-After"))
	}
	for i := range 3 {
		if st, h := send(tok2); st != 202 {
			t.Fatalf("second member, request %d: %d (%s)", i+1, st, h.Get("RateLimit"))
		}
	}
	st, h = send(tok2)
	if st != 429 || h.Get("Retry-After") != "8" {
		t.Fatalf("9th for the workspace: status %d Retry-After %q, want 429 and 8", st, h.Get("Retry-After"))
	}
	// One user emission interval (12 s) later the first user has exactly
	// one request back (the workspace regained one and a half), and the
	// next is refused again for 12 s (the user's wait; the workspace's
	// would be 4.5 s).
	advance(12 * time.Second)
	if st, h := send(tok); st != 202 {
		t.Fatalf("after 12 s: %d (%s)", st, h.Get("RateLimit"))
	}
	st, h = send(tok)
	if st != 429 || h.Get("Retry-After") != "12" {
		t.Fatalf("after 12 s, 2nd: status %d Retry-After %q, want 429 and 12", st, h.Get("Retry-After"))
	}
	if r := e.Do("GET", "/v1/workspaces/"+ws+"/jobs", tok, nil); r.Header.Get("RateLimit") != "" {
		t.Fatal("an unlimited route carries RateLimit headers")
	}
}
