package identity_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/framebroker/framebroker/shared/identity"
)

// TestTOTPGuardsLinks: a magic link or reset link alone does not sign a
// TOTP account in (and is not spent by the attempt); with a code it does.
// OAuth, whose redirect cannot carry a code, is refused for such accounts.
func TestTOTPGuardsLinks(t *testing.T) {
	e, m := withGoogle(t)
	const email = "links@example.com"
	tok, _ := e.User(email)
	key, codes := enableTOTP(t, e, tok)
	n := len(e.Mail.Wait(1, time.Second)) // the signup's verification mail

	e.Must(http.StatusAccepted, "POST", "/v1/auth/magic-link", "", map[string]string{"email": email})
	_, magic := mailTo(t, e, n+1)
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": magic})
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": magic, "totp": wrongCode(key)})
	e.Must(http.StatusOK, "POST", "/v1/auth/magic-link/confirm", "", map[string]string{"token": magic, "recovery_code": codes[0]})

	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email})
	_, reset := mailTo(t, e, n+2)
	body := map[string]string{"token": reset, "password": "a brand new password"}
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/password-reset/confirm", "", body)
	if r := login(e, email, "a brand new password"); r.Status != http.StatusUnauthorized {
		t.Fatal("reset without a code changed the password")
	}
	body["totp"] = identity.TOTP(key, time.Now().Add(identity.TOTPPeriod))
	e.Must(http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", body)

	m.QueueUser(&mockoidc.MockUser{Subject: "g-links", Email: email, EmailVerified: true})
	cb, ck := begin(t, e, "google")
	finish(t, cb, ck, http.StatusUnauthorized)
	if c := count(t, e, `SELECT count(*) FROM oauth_identities`); c != 0 {
		t.Fatal("refused OAuth sign-in still linked the identity")
	}
}
