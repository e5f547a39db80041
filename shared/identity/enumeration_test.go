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

// timing holds interleaved measurements of two paths, a and b.
type timing struct {
	a, b []time.Duration
	// diff holds the paired differences a[i]-b[i] of runs made back to
	// back, so a load burst lasting longer than one pair shifts both sides
	// and cancels out.
	diff []time.Duration
}

// measure runs f and g n more times each, in back-to-back pairs that
// alternate which of the two runs first (so neither systematically gets
// the warmer cache or the start of a load burst).
func (m *timing) measure(n int, f, g func(i int)) {
	run := func(h func(int), i int) time.Duration {
		t0 := time.Now()
		h(i)
		return time.Since(t0)
	}
	for k := 0; k < n; k++ {
		i := len(m.a)
		var da, db time.Duration
		if i%2 == 0 {
			da = run(f, i)
			db = run(g, i)
		} else {
			db = run(g, i)
			da = run(f, i)
		}
		m.a, m.b, m.diff = append(m.a, da), append(m.b, db), append(m.diff, da-db)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// within reports whether the median paired difference is small next to
// the medians themselves: a generous bound, meant to catch a path that
// skips (or adds) the expensive step, such as the Argon2 hash (a
// difference of the whole hash, >50% of the login), not scheduler noise on
// a shared machine.
func within(diff, a, b, abs time.Duration, rel float64) bool {
	d := diff
	if d < 0 {
		d = -d
	}
	return d <= abs || float64(d) <= rel*float64(max(a, b))
}

// Timing comparisons take batches of samples until the medians agree, up
// to maxBatches: each batch adds to the pooled samples (a larger sample,
// not a fresh coin toss), so a real difference, which does not shrink as
// samples grow, still fails, while a burst of load on a shared 2-core
// machine that skewed one batch is outvoted by the next.
const maxBatches = 4

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
// mail for signup, reset and magic link), so the median paired difference
// must be small next to the medians (see maxBatches for how load is
// absorbed).
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
		var m timing
		for batch := 1; ; batch++ {
			m.measure(n, tc.known, tc.other)
			a, b, d := median(m.a), median(m.b), median(m.diff)
			t.Logf("%s: existing %s, unknown %s, paired difference %s (medians of %d)", tc.name, a, b, d, len(m.a))
			if within(d, a, b, 15*time.Millisecond, 0.5) {
				break
			}
			if batch == maxBatches {
				t.Errorf("%s: median paired difference %s (existing %s, unknown %s) beyond tolerance after %d runs", tc.name, d, a, b, len(m.a))
				break
			}
		}
	}
}

// TestNoEnumerationTimingUnderConcurrency: logins for an existing and an
// unknown address sent together, several of each at once (more than the
// Argon2 bound can run together), in interleaved rounds: the median
// latency of each kind must be close. Both wait in the same Argon2 queue
// and hash once, so nothing but noise separates them. Rounds are added in
// batches until the pooled medians agree, up to maxBatches.
func TestNoEnumerationTimingUnderConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison")
	}
	e := newEnv(t)
	e.User("ada@example.com")
	const rounds, each = 6, 4
	var known, unknown []time.Duration
	var mu sync.Mutex
	for r := 0; ; r++ {
		if r > 0 && r%rounds == 0 {
			a, b := median(known), median(unknown)
			t.Logf("concurrent login: existing %s, unknown %s (medians of %d each)", a, b, len(known))
			if within(a-b, a, b, 25*time.Millisecond, 0.5) {
				break
			}
			if r == rounds*maxBatches {
				t.Errorf("medians %s (existing) vs %s (unknown) differ beyond tolerance after %d rounds", a, b, r)
				break
			}
		}
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
}
