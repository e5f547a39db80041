package identity_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

// enableTOTP enrols and confirms TOTP for token's user and returns the raw
// secret and the recovery codes.
func enableTOTP(t *testing.T, e *apptest.Env, token string) ([]byte, []string) {
	t.Helper()
	r := e.Must(http.StatusOK, "POST", "/v1/auth/totp/enroll", token, nil)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.Str("secret"))
	if err != nil || len(key) != 20 {
		t.Fatalf("secret %q: %v", r.Str("secret"), err)
	}
	if uri := r.Str("otpauth_uri"); !strings.HasPrefix(uri, "otpauth://totp/Framebroker:") || !strings.Contains(uri, "secret="+r.Str("secret")) {
		t.Fatalf("uri %q", uri)
	}
	e.Must(http.StatusBadRequest, "POST", "/v1/auth/totp/confirm", token, map[string]string{"code": wrongCode(key)})
	c := e.Must(http.StatusOK, "POST", "/v1/auth/totp/confirm", token, map[string]string{"code": identity.TOTP(key, time.Now())})
	var codes []string
	for _, x := range c.JSON()["recovery_codes"].([]any) {
		codes = append(codes, x.(string))
	}
	if len(codes) != identity.RecoveryCodes {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return key, codes
}

// wrongCode is a six-digit code valid at no step near now.
func wrongCode(key []byte) string {
	for c := 0; ; c++ {
		s := fmt.Sprintf("%06d", c)
		hit := false
		for d := -2; d <= 2; d++ {
			hit = hit || identity.TOTP(key, time.Now().Add(time.Duration(d)*identity.TOTPPeriod)) == s
		}
		if !hit {
			return s
		}
	}
}

func userID(t *testing.T, s string) id.UserID {
	t.Helper()
	var u id.UserID
	if err := u.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return u
}

func login2(e *apptest.Env, email string, extra map[string]string) apptest.Response {
	body := map[string]string{"email": email, "password": pw}
	for k, v := range extra {
		body[k] = v
	}
	return e.Do("POST", "/v1/auth/login", "", body)
}

// problemType is the problem `type` of a refusal.
func problemType(t *testing.T, r apptest.Response) string {
	t.Helper()
	var p problem.Body
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%d %s: not a problem (%v)", r.Status, r.Body, err)
	}
	return p.Type
}

func TestTOTPLogin(t *testing.T) {
	e := newEnv(t)
	const email = "totp@example.com"
	tok, uidText := e.User(email)
	uid := userID(t, uidText)
	key, codes := enableTOTP(t, e, tok)

	// At rest: the secret is sealed, recovery codes are hashes only.
	var sealed []byte
	if err := e.DB.Owner.QueryRow(t.Context(), `SELECT totp_secret FROM users WHERE id = $1`, uid).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, key) {
		t.Fatal("TOTP secret stored in the clear")
	}
	if n := count(t, e, `SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL`, uid); n != identity.RecoveryCodes {
		t.Fatalf("%d stored codes", n)
	}
	if n := count(t, e, `SELECT count(*) FROM totp_recovery_codes WHERE code_hash = convert_to($1, 'UTF8')`, codes[0]); n != 0 {
		t.Fatal("recovery code stored in the clear")
	}

	now := identity.TOTP(key, time.Now())
	next := identity.TOTP(key, time.Now().Add(identity.TOTPPeriod))
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  int
	}{
		{"password alone", nil, http.StatusUnauthorized},
		{"wrong code", map[string]string{"totp": wrongCode(key)}, http.StatusUnauthorized},
		{"code already used by confirm (same step)", map[string]string{"totp": now}, http.StatusUnauthorized},
		{"next step's code", map[string]string{"totp": next}, http.StatusOK},
		{"next step's code replayed", map[string]string{"totp": next}, http.StatusUnauthorized},
		{"recovery code", map[string]string{"recovery_code": codes[0]}, http.StatusOK},
		{"recovery code reused", map[string]string{"recovery_code": codes[0]}, http.StatusUnauthorized},
		{"recovery code typed loosely", map[string]string{"recovery_code": strings.ToUpper(strings.ReplaceAll(codes[1], "-", " "))}, http.StatusOK},
		{"made-up recovery code", map[string]string{"recovery_code": "aaaa-bbbb-cccc-dddd"}, http.StatusUnauthorized},
	} {
		r := login2(e, email, tc.extra)
		if r.Status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.want)
		}
	}
	// The missing factor is a typed refusal (the pages key on the type).
	if r := login2(e, email, nil); problemType(t, r) != problem.SecondFactorRequired.Type() {
		t.Errorf("missing factor: %d %s, want type %s", r.Status, r.Body, problem.SecondFactorRequired.Type())
	}
	// A wrong password with a right code is still a wrong password.
	r := e.Do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "wrong wrong wrong", "recovery_code": codes[2]})
	if r.Status != http.StatusUnauthorized || count(t, e, `SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL`, uid) != identity.RecoveryCodes-2 {
		t.Errorf("wrong password spent a recovery code: %d", r.Status)
	}
	if problemType(t, r) == problem.SecondFactorRequired.Type() {
		t.Error("a wrong password was answered as second-factor-required")
	}
	// Enrolling again while enabled is refused.
	e.Must(http.StatusConflict, "POST", "/v1/auth/totp/enroll", tok, nil)
}

// TestTOTPConcurrentReplay sends one code in many simultaneous logins:
// exactly one wins.
func TestTOTPConcurrentReplay(t *testing.T) {
	e := newEnv(t)
	const email = "race@example.com"
	tok, _ := e.User(email)
	key, _ := enableTOTP(t, e, tok)
	code := identity.TOTP(key, time.Now().Add(identity.TOTPPeriod))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if login2(e, email, map[string]string{"totp": code}).Status == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d logins with one code, want 1", ok)
	}
}

// TestTOTPFailuresBackoff: wrong codes after a right password count toward
// the account's failed-login backoff, so the six digits cannot be brute
// forced; then even the right code waits.
func TestTOTPFailuresBackoff(t *testing.T) {
	lim := roomy
	lim.LoginFailures = identity.Limit{Rate: ratelimit.PerHour(1), Burst: 3}
	e := newEnv(t, identity.WithLimits(lim))
	const email = "brute@example.com"
	tok, _ := e.User(email)
	key, _ := enableTOTP(t, e, tok) // the wrong confirm already counted once
	bad := wrongCode(key)
	for i := range 2 {
		if r := login2(e, email, map[string]string{"totp": bad}); r.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	r := login2(e, email, map[string]string{"totp": identity.TOTP(key, time.Now().Add(identity.TOTPPeriod))})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d %s", r.Status, r.Body)
	}
}

func TestTOTPDisable(t *testing.T) {
	e := newEnv(t)
	const email = "off@example.com"
	tok, _ := e.User(email)
	key, codes := enableTOTP(t, e, tok)
	e.Must(http.StatusBadRequest, "DELETE", "/v1/auth/totp", tok, map[string]string{"code": wrongCode(key)})
	e.Must(http.StatusNoContent, "DELETE", "/v1/auth/totp", tok, map[string]string{"code": codes[0]})
	e.Must(http.StatusConflict, "DELETE", "/v1/auth/totp", tok, map[string]string{"code": codes[1]})
	if n := count(t, e, `SELECT count(*) FROM totp_recovery_codes`); n != 0 {
		t.Fatalf("%d recovery codes left", n)
	}
	if r := login(e, email, pw); r.Status != http.StatusOK {
		t.Fatalf("login after disable: %d", r.Status)
	}
	// Re-enrolling works and issues new codes.
	_, again := enableTOTP(t, e, tok)
	if again[0] == codes[0] {
		t.Fatal("recovery codes reused")
	}
}

// TestTOTPSealBoundToUser: a sealed secret copied onto another user's row
// does not open, so that user cannot sign in with the first user's codes.
func TestTOTPSealBoundToUser(t *testing.T) {
	e := newEnv(t)
	ta, a := e.User("a@example.com")
	tb, b := e.User("b@example.com")
	keyA, _ := enableTOTP(t, e, ta)
	enableTOTP(t, e, tb)
	exec(t, e, `UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = $1) WHERE id = $2`, userID(t, a), userID(t, b))
	if r := login2(e, "b@example.com", map[string]string{"totp": identity.TOTP(keyA, time.Now().Add(identity.TOTPPeriod))}); r.Status == http.StatusOK {
		t.Fatal("copied sealed secret opened for another user")
	}
}

func TestTOTPNoKey(t *testing.T) {
	e := newEnv(t, identity.WithTOTPKey(""))
	tok, _ := e.User("nokey@example.com")
	e.Must(http.StatusServiceUnavailable, "POST", "/v1/auth/totp/enroll", tok, nil)
}
