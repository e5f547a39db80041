package identity_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

func TestSignupLoginLogout(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	cred := map[string]string{"email": "Ada@Example.com", "password": "correct horse battery"}
	u := e.Must(201, "POST", "/v1/auth/signup", "", cred).JSON()["user"].(map[string]any)
	if !strings.HasPrefix(u["id"].(string), "usr_") {
		t.Fatalf("user %v", u)
	}
	// Same address in another case is the same account: the reply does not
	// say so (201, a user object with an unusable id), no account is made.
	dup := e.Must(201, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@example.COM", "password": "another long one"})
	if dup.JSON()["user"].(map[string]any)["id"] == u["id"] {
		t.Fatal("duplicate signup returned the real id")
	}
	e.Must(400, "POST", "/v1/auth/signup", "", map[string]string{"email": "not an email", "password": "correct horse battery"})
	e.Must(400, "POST", "/v1/auth/signup", "", map[string]string{"email": "x@example.com", "password": "short"})
	e.Must(400, "POST", "/v1/auth/signup", "", map[string]string{"email": "x@example.com", "password": strings.Repeat("p", 300)})

	wrong := e.Must(401, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "wrong password"})
	unknown := e.Must(401, "POST", "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong password"})
	if wrong.JSON()["detail"] != unknown.JSON()["detail"] {
		t.Fatalf("login replies differ for known and unknown email: %s / %s", wrong.Body, unknown.Body)
	}
	tok := e.Must(200, "POST", "/v1/auth/login", "", map[string]string{"email": "ADA@example.com", "password": "correct horse battery"}).Str("token")

	// The token is stored only as its SHA-256.
	var n int
	sum := sha256.Sum256([]byte(tok))
	if err := e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token_hash = $1`, sum[:]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("session by hash: %d %v", n, err)
	}
	var hash string
	_ = e.DB.Owner.QueryRow(ctx, `SELECT password_hash FROM users`).Scan(&hash)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("stored hash %q", hash)
	}
	if err := e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM sessions s, users u WHERE position($1 in s::text) > 0 OR position($1 in u::text) > 0`, tok[4:]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token found in clear: %d %v", n, err)
	}

	e.Must(200, "GET", "/v1/auth/me", tok, nil)
	e.Must(204, "POST", "/v1/auth/logout", tok, nil)
	e.Must(401, "GET", "/v1/auth/me", tok, nil)

	// An expired session is refused like a revoked one.
	tok2 := e.Must(200, "POST", "/v1/auth/login", "", cred).Str("token")
	sum2 := sha256.Sum256([]byte(tok2))
	if _, err := e.DB.Owner.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, sum2[:]); err != nil {
		t.Fatal(err)
	}
	e.Must(401, "GET", "/v1/auth/me", tok2, nil)
}
