package identity_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

// lim is n requests at once, then one an hour.
func lim(n int) identity.Limit {
	return identity.Limit{Rate: ratelimit.PerHour(n), Burst: n}
}

// TestLimitsExact: every auth limit admits exactly its configured number
// and answers the next with 429 and a Retry-After.
func TestLimitsExact(t *testing.T) {
	type call func(e *apptest.Env, i int) apptest.Response
	post := func(path string, body func(i int) any) call {
		return func(e *apptest.Env, i int) apptest.Response { return e.Do("POST", path, "", body(i)) }
	}
	varyEmail := func(i int) string { return fmt.Sprintf("user%d@example.com", i) }
	for _, tc := range []struct {
		name string
		set  func(*identity.Limits, identity.Limit)
		n    int
		call call
	}{
		{"signup per IP", func(l *identity.Limits, x identity.Limit) { l.SignupPerIP = x }, 4,
			post("/v1/auth/signup", func(i int) any { return map[string]string{"email": varyEmail(i), "password": pw} })},
		{"signup per email (any spelling)", func(l *identity.Limits, x identity.Limit) { l.SignupPerEmail = x }, 3,
			post("/v1/auth/signup", func(i int) any {
				return map[string]string{"email": fmt.Sprintf("a.b+%d@gmail.com", i), "password": pw}
			})},
		{"login per IP", func(l *identity.Limits, x identity.Limit) { l.LoginPerIP = x }, 5,
			post("/v1/auth/login", func(i int) any { return map[string]string{"email": varyEmail(i), "password": pw} })},
		{"login per email", func(l *identity.Limits, x identity.Limit) { l.LoginPerEmail = x }, 4,
			post("/v1/auth/login", func(i int) any { return map[string]string{"email": "ada@example.com", "password": pw} })},
		{"reset per IP", func(l *identity.Limits, x identity.Limit) { l.ResetPerIP = x }, 3,
			post("/v1/auth/password-reset", func(i int) any { return map[string]string{"email": varyEmail(i)} })},
		{"reset per email", func(l *identity.Limits, x identity.Limit) { l.ResetPerEmail = x }, 2,
			post("/v1/auth/password-reset", func(i int) any { return map[string]string{"email": "ada@example.com"} })},
		{"magic per IP", func(l *identity.Limits, x identity.Limit) { l.MagicPerIP = x }, 3,
			post("/v1/auth/magic-link", func(i int) any { return map[string]string{"email": varyEmail(i)} })},
		{"magic per email", func(l *identity.Limits, x identity.Limit) { l.MagicPerEmail = x }, 2,
			post("/v1/auth/magic-link", func(i int) any { return map[string]string{"email": "Ada@example.com"} })},
		{"confirm per IP", func(l *identity.Limits, x identity.Limit) { l.ConfirmPerIP = x }, 6,
			post("/v1/auth/magic-link/confirm", func(i int) any { return map[string]string{"token": "fbt_guess" + strconv.Itoa(i)} })},
		{"oauth per IP", func(l *identity.Limits, x identity.Limit) { l.OAuthPerIP = x }, 3,
			func(e *apptest.Env, i int) apptest.Response {
				return e.Do("GET", "/v1/auth/oauth/google/start", "", nil)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apptest.New(t)
			l := roomy
			tc.set(&l, lim(tc.n))
			e.App.Identity.Use(identity.WithLimits(l))
			e.User("ada@example.com")
			exec(t, e, `DELETE FROM rate_limits`) // count from zero
			for i := 0; i < tc.n; i++ {
				if r := tc.call(e, i); r.Status == http.StatusTooManyRequests {
					t.Fatalf("request %d of %d refused", i+1, tc.n)
				}
			}
			r := tc.call(e, tc.n)
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("request %d past the limit of %d: %d %s", tc.n+1, tc.n, r.Status, r.Body)
			}
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 3600/tc.n+1 {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
		})
	}
}

// TestVerifyResendLimit: per user, exactly as configured.
func TestVerifyResendLimit(t *testing.T) {
	e := apptest.New(t)
	l := roomy
	l.VerifyResendPerUser = lim(2)
	e.App.Identity.Use(identity.WithLimits(l))
	tok, _ := e.UnverifiedUser("ada@example.com")
	for i := 0; i < 2; i++ {
		e.Must(http.StatusAccepted, "POST", "/v1/auth/verify-email/resend", tok, nil)
	}
	e.Must(http.StatusTooManyRequests, "POST", "/v1/auth/verify-email/resend", tok, nil)
}

// TestFailedLoginBackoff: after exactly the configured number of failures
// the account answers 429 (even to the right password) without checking
// it; known and unknown emails behave alike; the backoff passes on its own
// (no permanent lockout) and a success clears the count.
func TestFailedLoginBackoff(t *testing.T) {
	e := apptest.New(t)
	l := roomy
	// One failure regained every 6 s: the eight logins and the alias check
	// below must fit in that window (they take well under a second even
	// on a loaded machine; 1.5 s was too tight for Argon2 under load).
	l.LoginFailures = identity.Limit{Rate: ratelimit.Rate{Count: 1, Per: 6 * time.Second}, Burst: 3}
	e.App.Identity.Use(identity.WithLimits(l))
	e.User("ada@example.com")
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		for i := 0; i < 3; i++ {
			if r := login(e, email, "wrong password"); r.Status != http.StatusUnauthorized {
				t.Fatalf("%s failure %d: %d", email, i+1, r.Status)
			}
		}
		r := login(e, email, pw)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s after 3 failures: %d %s", email, r.Status, r.Body)
		}
	}
	// Another spelling of the same account shares the count.
	if r := login(e, "ADA@example.com", pw); r.Status != http.StatusTooManyRequests {
		t.Fatalf("alias spelling escapes the backoff: %d", r.Status)
	}
	time.Sleep(6100 * time.Millisecond) // one interval: the backoff passes on its own
	e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": pw})
	// The success cleared the count: three more failures are allowed again.
	for i := 0; i < 3; i++ {
		if r := login(e, "ada@example.com", "wrong password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d after a success: %d", i+1, r.Status)
		}
	}
}

// TestDefaultLimitsLeaveRoomForTests: the defaults admit the handful of
// users an API test makes from one address.
func TestDefaultLimitsLeaveRoomForTests(t *testing.T) {
	e := apptest.New(t)
	for i := 0; i < 12; i++ {
		e.User(fmt.Sprintf("u%d@example.com", i))
	}
}
