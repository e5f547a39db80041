package identity_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

const pw = "correct horse battery"

// roomy are limits no functional test reaches.
var roomy = func() identity.Limits {
	big := identity.Limit{Rate: ratelimit.PerMinute(10000), Burst: 10000}
	return identity.Limits{
		SignupPerIP: big, SignupPerEmail: big, LoginPerIP: big, LoginPerEmail: big,
		ResetPerIP: big, ResetPerEmail: big, MagicPerIP: big, MagicPerEmail: big,
		ConfirmPerIP: big, OAuthPerIP: big, VerifyResendPerUser: big, LoginFailures: big,
		PasswordChangePerUser: big,
	}
}()

func newEnv(t *testing.T, opts ...identity.Option) *apptest.Env {
	t.Helper()
	e := apptest.New(t)
	e.App.Identity.Use(append([]identity.Option{identity.WithLimits(roomy)}, opts...)...)
	return e
}

var tokenRE = regexp.MustCompile(`#token=(fbt_[A-Za-z0-9_-]+)`)

// mailTo waits for the n-th message (1-based) and returns its subject and
// the one-time token its link carries ("" if none).
func mailTo(t *testing.T, e *apptest.Env, n int) (subject, token string) {
	t.Helper()
	msgs := e.Mail.Wait(n, 5*time.Second)
	if len(msgs) < n {
		t.Fatalf("%d messages caught, want %d", len(msgs), n)
	}
	m := msgs[n-1]
	// Undo quoted-printable soft breaks and the = escape.
	body := strings.ReplaceAll(strings.ReplaceAll(string(m.Data), "=\r\n", ""), "=3D", "=")
	if mm := tokenRE.FindStringSubmatch(body); mm != nil {
		token = mm[1]
	}
	if m.Message != nil {
		subject = m.Message.Header.Get("Subject")
	}
	return subject, token
}

func signup(e *apptest.Env, email string) apptest.Response {
	return e.Do("POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": pw})
}

func login(e *apptest.Env, email, password string) apptest.Response {
	return e.Do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
}

func exec(t *testing.T, e *apptest.Env, sql string, args ...any) {
	t.Helper()
	if _, err := e.DB.Owner.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, e *apptest.Env, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.DB.Owner.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
