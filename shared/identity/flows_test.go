package identity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/problem"
)

// shape replaces every leaf of a JSON document with its type, so two
// replies can be compared for structure.
func shape(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				x[k] = walk(c)
			}
			return x
		case string:
			return "string"
		case bool:
			return "bool"
		case float64:
			return "number"
		}
		return v
	}
	out, _ := json.Marshal(walk(v))
	return string(out)
}

// TestSignupVerifyEmail: signup answers 201 {user}, mails a verification
// link; the email gate refuses paid work until the link is followed; the
// link works once.
func TestSignupVerifyEmail(t *testing.T) {
	e := newEnv(t)
	r := signup(e, "Ada@Example.com")
	if r.Status != http.StatusCreated {
		t.Fatalf("signup %d %s", r.Status, r.Body)
	}
	var u id.UserID
	_ = u.UnmarshalText([]byte(r.JSON()["user"].(map[string]any)["id"].(string)))
	subject, tok := mailTo(t, e, 1)
	if tok == "" || subject != "Verify your Framebroker email address" {
		t.Fatalf("verification mail: subject %q token %q", subject, tok)
	}
	ctx := context.Background()
	if err := identity.RequireVerifiedEmail(ctx, e.DB.App, u); !problem.Is(err, problem.Forbidden) {
		t.Fatalf("unverified user passes the paid-work gate: %v", err)
	}
	e.Must(http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": tok})
	if err := identity.RequireVerifiedEmail(ctx, e.DB.App, u); err != nil {
		t.Fatalf("verified user refused: %v", err)
	}
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/verify-email", "", map[string]string{"token": tok})
	if count(t, e, `SELECT count(*) FROM auth_tokens WHERE token_hash = sha256($1::bytea)`, []byte(tok)) != 1 {
		t.Fatal("token not stored as its SHA-256")
	}
	if count(t, e, `SELECT count(*) FROM auth_tokens WHERE position($1::bytea in token_hash) > 0`, []byte(tok)) != 0 {
		t.Fatal("raw token stored")
	}
}

// TestSignupExistingEmailIndistinguishable: signing up with an address that
// already has an account (in any spelling that canonicalises to it) gets the
// same status and the same reply shape, makes no account, and mails the
// owner instead.
func TestSignupExistingEmailIndistinguishable(t *testing.T) {
	e := newEnv(t)
	first := signup(e, "a.b@gmail.com")
	mailTo(t, e, 1)
	for i, dup := range []string{"ab@googlemail.com", "A.B+x@gmail.com", " AB@GMAIL.COM "} {
		r := signup(e, dup)
		if r.Status != first.Status || shape(t, r.Body) != shape(t, first.Body) {
			t.Fatalf("duplicate %q: %d %s vs new %d %s", dup, r.Status, r.Body, first.Status, first.Body)
		}
		if subject, _ := mailTo(t, e, i+2); subject != "Someone tried to sign up with your email" {
			t.Fatalf("owner mail subject %q", subject)
		}
		if r.JSON()["user"].(map[string]any)["id"] == first.JSON()["user"].(map[string]any)["id"] {
			t.Fatal("duplicate signup reveals the real user id")
		}
	}
	if n := count(t, e, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	// The fake id is unusable: logging in returns the real account.
	if got := login(e, "ab@googlemail.com", pw); got.Status != 200 ||
		got.JSON()["user"].(map[string]any)["id"] != first.JSON()["user"].(map[string]any)["id"] {
		t.Fatalf("login with an alias spelling: %d %s", got.Status, got.Body)
	}
}

func TestSignupRefusesDisposableDomains(t *testing.T) {
	e := newEnv(t)
	for _, email := range []string{"x@mailinator.com", "x@eu.mailinator.com", "x@YOPMAIL.com"} {
		r := signup(e, email)
		if r.Status != http.StatusBadRequest || !bytes.Contains(r.Body, []byte("disposable")) {
			t.Errorf("%s: %d %s", email, r.Status, r.Body)
		}
	}
}

// TestPasswordReset: always 202; the mailed token sets a new password once,
// revokes every session and outstanding link, and is refused when reused,
// expired, or older than the latest password change.
func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	tok1, _ := e.User("ada@example.com")
	tok2 := login(e, "ada@example.com", pw).Str("token")
	n := len(e.Mail.Messages())
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	_, reset := mailTo(t, e, n+1)
	// A second link asked before the change dies with it.
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ADA@example.com"})
	_, stale := mailTo(t, e, n+2)

	r := e.Must(http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": reset, "password": "a brand new password"})
	fresh := r.Str("token")
	for _, old := range []string{tok1, tok2} {
		e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", old, nil)
	}
	e.Must(http.StatusOK, "GET", "/v1/auth/me", fresh, nil)
	if login(e, "ada@example.com", pw).Status != http.StatusUnauthorized {
		t.Fatal("old password still works")
	}
	e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "a brand new password"})

	confirm := func(tok string) int {
		return e.Do("POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": tok, "password": "yet another password"}).Status
	}
	if s := confirm(reset); s != http.StatusUnauthorized {
		t.Fatalf("reused token: %d", s)
	}
	if s := confirm(stale); s != http.StatusUnauthorized {
		t.Fatalf("token from before the password change: %d", s)
	}
	// Expired: 30 minutes.
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	_, expiring := mailTo(t, e, n+3)
	var ttl time.Duration
	var micros int64
	_ = e.DB.Owner.QueryRow(context.Background(), `SELECT (extract(epoch FROM expires_at - created_at) * 1e6)::bigint FROM auth_tokens WHERE token_hash = sha256($1::bytea)`, []byte(expiring)).Scan(&micros)
	ttl = time.Duration(micros) * time.Microsecond
	if ttl != identity.ResetTokenTTL {
		t.Fatalf("reset token lives %s", ttl)
	}
	exec(t, e, `UPDATE auth_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)`, []byte(expiring))
	if s := confirm(expiring); s != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", s)
	}
	// Token after an authenticated password change is dead too.
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	_, beforeChange := mailTo(t, e, n+4)
	cur := login(e, "ada@example.com", "a brand new password").Str("token")
	e.Must(http.StatusOK, "POST", "/v1/auth/password", cur, map[string]string{"current_password": "a brand new password", "new_password": "changed by the user"})
	if s := confirm(beforeChange); s != http.StatusUnauthorized {
		t.Fatalf("token after password change: %d", s)
	}
	if s := confirm("fbt_garbage"); s != http.StatusUnauthorized {
		t.Fatalf("garbage token: %d", s)
	}
}

// TestMagicLink: a mailed link opens a session once; reused and expired
// links fail; an unknown address gets the same 202 and a "no account" mail.
func TestMagicLink(t *testing.T) {
	e := newEnv(t)
	_, uid := e.UnverifiedUser("ada@example.com")
	n := len(e.Mail.Messages())
	e.Must(http.StatusAccepted, "POST", "/v1/auth/magic-link", "", map[string]string{"email": "ada@example.com"})
	subject, tok := mailTo(t, e, n+1)
	if subject != "Your Framebroker sign-in link" || tok == "" {
		t.Fatalf("magic mail %q %q", subject, tok)
	}
	r := e.Must(http.StatusOK, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": tok})
	if r.JSON()["user"].(map[string]any)["id"] != uid || r.JSON()["user"].(map[string]any)["email_verified"] != true {
		t.Fatalf("magic link session: %s", r.Body)
	}
	e.Must(http.StatusOK, "GET", "/v1/auth/me", r.Str("token"), nil)
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": tok})
	// A reset token is not a magic link.
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	_, reset := mailTo(t, e, n+2)
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": reset})

	e.Must(http.StatusAccepted, "POST", "/v1/auth/magic-link", "", map[string]string{"email": "ada@example.com"})
	_, expiring := mailTo(t, e, n+3)
	exec(t, e, `UPDATE auth_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)`, []byte(expiring))
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": expiring})

	e.Must(http.StatusAccepted, "POST", "/v1/auth/magic-link", "", map[string]string{"email": "nobody@example.com"})
	if subject, tok := mailTo(t, e, n+4); tok != "" || subject != "Your Framebroker sign-in link" {
		t.Fatalf("unknown address got %q with token %q", subject, tok)
	}
}

// TestSessions: list own sessions, revoke one, refuse another user's
// session like a missing one, idle and absolute expiry, rotation on
// password change.
func TestSessions(t *testing.T) {
	e := newEnv(t)
	a1, _ := e.User("ada@example.com")
	a2 := login(e, "ada@example.com", pw).Str("token")
	b1, _ := e.User("bob@example.com")

	list := e.Must(http.StatusOK, "GET", "/v1/auth/sessions", a1, nil).JSON()["items"].([]any)
	if len(list) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(list))
	}
	var ids []string
	current := 0
	for _, s := range list {
		m := s.(map[string]any)
		ids = append(ids, m["id"].(string))
		if m["current"] == true {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d current sessions", current)
	}
	sort.Strings(ids)
	bobs := e.Must(http.StatusOK, "GET", "/v1/auth/sessions", b1, nil).JSON()["items"].([]any)[0].(map[string]any)["id"].(string)
	e.Must(http.StatusNotFound, "DELETE", "/v1/auth/sessions/"+bobs, a1, nil)
	e.Must(http.StatusNotFound, "DELETE", "/v1/auth/sessions/not-an-id", a1, nil)
	e.Must(http.StatusOK, "GET", "/v1/auth/me", b1, nil)

	// Revoke the other one of Ada's sessions.
	for _, m := range list {
		if m.(map[string]any)["current"] != true {
			e.Must(http.StatusNoContent, "DELETE", "/v1/auth/sessions/"+m.(map[string]any)["id"].(string), a1, nil)
		}
	}
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", a2, nil)
	e.Must(http.StatusOK, "GET", "/v1/auth/me", a1, nil)

	// Idle expiry.
	exec(t, e, `UPDATE sessions SET last_seen_at = now() - interval '8 days' WHERE token_hash = sha256($1::bytea)`, []byte(a1))
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", a1, nil)
	// Absolute expiry even when active.
	a3 := login(e, "ada@example.com", pw).Str("token")
	exec(t, e, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)`, []byte(a3))
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", a3, nil)

	// Password change rotates: the calling token and all others die, a new one works.
	a4 := login(e, "ada@example.com", pw).Str("token")
	a5 := login(e, "ada@example.com", pw).Str("token")
	e.Must(http.StatusBadRequest, "POST", "/v1/auth/password", a4, map[string]string{"current_password": "wrong password!", "new_password": "another long one"})
	r := e.Must(http.StatusOK, "POST", "/v1/auth/password", a4, map[string]string{"current_password": pw, "new_password": "another long one"})
	for _, old := range []string{a4, a5} {
		e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", old, nil)
	}
	fresh := r.Str("token")
	e.Must(http.StatusOK, "GET", "/v1/auth/me", fresh, nil)
	// Revoke all others.
	other := login(e, "ada@example.com", "another long one").Str("token")
	if n := e.Must(http.StatusOK, "DELETE", "/v1/auth/sessions", fresh, nil).JSON()["revoked"]; n != float64(1) {
		t.Fatalf("revoked %v", n)
	}
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", other, nil)
	e.Must(http.StatusOK, "GET", "/v1/auth/me", fresh, nil)
}

// TestIdleTimeoutIsConfigurable: WithSessionLifetime sets idle and absolute.
func TestIdleTimeoutIsConfigurable(t *testing.T) {
	e := newEnv(t, identity.WithSessionLifetime(time.Hour, 2*time.Hour))
	tok, _ := e.User("ada@example.com")
	r := login(e, "ada@example.com", pw)
	if r.JSON()["expires_in"] != float64(7200) {
		t.Fatalf("expires_in %v", r.JSON()["expires_in"])
	}
	exec(t, e, `UPDATE sessions SET last_seen_at = now() - interval '61 minutes' WHERE token_hash = sha256($1::bytea)`, []byte(tok))
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", tok, nil)
}
