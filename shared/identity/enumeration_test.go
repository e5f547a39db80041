package identity_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// timed runs f n times interleaved with g and returns both medians.
func timed(n int, f, g func(i int)) (time.Duration, time.Duration) {
	var a, b []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		f(i)
		a = append(a, time.Since(t0))
		t0 = time.Now()
		g(i)
		b = append(b, time.Since(t0))
	}
	slices.Sort(a)
	slices.Sort(b)
	return a[n/2], b[n/2]
}

// within reports whether two medians are close: a generous bound, meant to
// catch a path that skips (or adds) the expensive step, such as the Argon2
// hash or the mail, not scheduler noise on a shared machine.
func within(a, b, abs time.Duration, rel float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= abs || float64(d) <= rel*float64(max(a, b))
}

// TestNoEnumerationBodies: signup, login, password reset and magic link
// answer byte for byte (bar the user id and timestamps of signup, whose
// shape is equal) the same for an existing and an unknown address.
func TestNoEnumerationBodies(t *testing.T) {
	e := newEnv(t)
	e.User("ada@example.com")
	strip := func(r apptest.Response) string {
		m := r.JSON()
		delete(m, "request_id")
		return fmt.Sprint(r.Status, m)
	}
	for _, path := range []string{"/v1/auth/password-reset", "/v1/auth/magic-link"} {
		known := e.Do("POST", path, "", map[string]string{"email": "ada@example.com"})
		unknown := e.Do("POST", path, "", map[string]string{"email": "nobody@example.com"})
		if known.Status != http.StatusAccepted || string(known.Body) != string(unknown.Body) {
			t.Errorf("%s: %d %s vs %d %s", path, known.Status, known.Body, unknown.Status, unknown.Body)
		}
	}
	wrong, unknown := login(e, "ada@example.com", "wrong password"), login(e, "nobody@example.com", "wrong password")
	if strip(wrong) != strip(unknown) {
		t.Errorf("login: %s vs %s", wrong.Body, unknown.Body)
	}
	existing, fresh := signup(e, "ada@example.com"), signup(e, "new@example.com")
	if existing.Status != fresh.Status || shape(t, existing.Body) != shape(t, fresh.Body) {
		t.Errorf("signup: %d %s vs %d %s", existing.Status, existing.Body, fresh.Status, fresh.Body)
	}
}

// TestNoEnumerationTiming compares median response times, over many
// interleaved runs, for existing and unknown addresses. Both paths do the
// same expensive work by design (an Argon2 hash at signup and login, one
// mail for signup, reset and magic link), so the medians must be close.
func TestNoEnumerationTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison")
	}
	e := newEnv(t)
	e.User("ada@example.com")
	const n = 15
	for _, tc := range []struct {
		name         string
		known, other func(i int)
	}{
		{"signup",
			func(i int) { signup(e, "ada@example.com") },
			func(i int) { signup(e, fmt.Sprintf("fresh%d@example.com", i)) }},
		{"login",
			func(i int) { login(e, "ada@example.com", "wrong password") },
			func(i int) { login(e, fmt.Sprintf("nobody%d@example.com", i), "wrong password") }},
		{"password reset",
			func(i int) {
				e.Do("POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
			},
			func(i int) {
				e.Do("POST", "/v1/auth/password-reset", "", map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i)})
			}},
		{"magic link",
			func(i int) { e.Do("POST", "/v1/auth/magic-link", "", map[string]string{"email": "ada@example.com"}) },
			func(i int) {
				e.Do("POST", "/v1/auth/magic-link", "", map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i)})
			}},
	} {
		a, b := timed(n, tc.known, tc.other)
		t.Logf("%s: existing %s, unknown %s (medians of %d)", tc.name, a, b, n)
		if !within(a, b, 15*time.Millisecond, 0.5) {
			t.Errorf("%s: medians %s (existing) vs %s (unknown) differ beyond tolerance", tc.name, a, b)
		}
	}
}

// TestNoEnumerationTimingUnderConcurrency: logins for an existing and an
// unknown address sent together, several of each at once (more than the
// Argon2 bound can run together), in interleaved rounds: the median
// latency of each kind must be close. Both wait in the same Argon2 queue
// and hash once, so nothing but noise separates them.
func TestNoEnumerationTimingUnderConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison")
	}
	e := newEnv(t)
	e.User("ada@example.com")
	const rounds, each = 6, 4
	var known, unknown []time.Duration
	var mu sync.Mutex
	for r := range rounds {
		var wg sync.WaitGroup
		for i := range 2 * each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				isKnown := (i+r)%2 == 0 // interleaved, alternating who starts
				email := "ada@example.com"
				if !isKnown {
					email = fmt.Sprintf("nobody-%d-%d@example.com", r, i)
				}
				t0 := time.Now()
				res := login(e, email, "wrong password")
				d := time.Since(t0)
				if res.Status != http.StatusUnauthorized {
					t.Errorf("login %s: %d %s", email, res.Status, res.Body)
				}
				mu.Lock()
				if isKnown {
					known = append(known, d)
				} else {
					unknown = append(unknown, d)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	slices.Sort(known)
	slices.Sort(unknown)
	a, b := known[len(known)/2], unknown[len(unknown)/2]
	t.Logf("concurrent login: existing %s, unknown %s (medians of %d each)", a, b, len(known))
	if !within(a, b, 25*time.Millisecond, 0.5) {
		t.Errorf("medians %s (existing) vs %s (unknown) differ beyond tolerance", a, b)
	}
}
