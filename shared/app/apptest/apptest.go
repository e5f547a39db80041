// Package apptest runs the whole API in process against the real local stack
// (a per-test Postgres database and the versitygw S3 server) for tests, and
// offers the few helpers every API test needs.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail/mailtest"
	"github.com/framebroker/framebroker/shared/media"
)

// Env is a running API for one test.
type Env struct {
	T      testing.TB
	DB     *dbtest.DB
	App    *app.App
	Server *httptest.Server
	Config config.Config
	// Mail catches everything the API sends by SMTP.
	Mail *mailtest.Catcher
}

// Option changes how New builds the environment.
type Option func(*options)

type options struct{ tracer pgx.QueryTracer }

// WithTracer serves the API on a pool whose connections report every query
// (and batch and prepare, if tr implements those tracers) to tr: for tests
// that count a request's round trips.
func WithTracer(tr pgx.QueryTracer) Option { return func(o *options) { o.tracer = tr } }

// New starts the API on a fresh database.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	dbtest.RequireStack(t, config.EnvS3Endpoint)
	if os.Getenv("FRAMEBROKER_TEST_LOG") == "" {
		// Request lines are noise in test output; errors still show.
		app.SetupLogging("warn")
	}
	d := dbtest.New(t)
	cfg, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = d.AppDSN
	catcher := mailtest.Start(t)
	cfg.SMTPAddr = catcher.Addr
	// The server's address is known before the app is built, so mailed
	// links point at it (the pages' browser tests open them).
	var serve http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	// Webhooks: a fresh sealing key unless the stack gives one, and
	// deliveries to loopback receivers allowed.
	if cfg.WebhookKey == "" {
		cfg.WebhookKey = base64.StdEncoding.EncodeToString([]byte(rand.Text() + rand.Text())[:32])
	}
	if cfg.TOTPKey == "" {
		cfg.TOTPKey = base64.StdEncoding.EncodeToString([]byte(rand.Text() + rand.Text())[:32])
	}
	cfg.WebhookAllowCIDRs = "127.0.0.0/8"
	cfg.DeletionGrace = 0
	if cfg.CronSecret == "" {
		cfg.CronSecret = rand.Text()
	}
	// Stripe: stripe-mock accepts any test key; events are signed by the
	// tests with this secret.
	if cfg.StripeKey == "" {
		cfg.StripeKey = "sk_test_framebroker"
	}
	if cfg.StripeWebhookSecret == "" {
		cfg.StripeWebhookSecret = "whsec_" + rand.Text()
	}
	store, err := s3blob.FromConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := d.App
	if o.tracer != nil {
		pc, err := pgxpool.ParseConfig(d.AppDSN)
		if err != nil {
			t.Fatal(err)
		}
		pc.ConnConfig.Tracer = o.tracer
		if pool, err = pgxpool.NewWithConfig(context.Background(), pc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
	}
	a, err := app.NewWith(cfg, pool, store, media.FFprobe{})
	if err != nil {
		t.Fatal(err)
	}
	// Served with the local server's timeouts, like `framebroker dev`; every
	// exchange is checked against the API document.
	serve = validating(t, a.OpenAPI(), a.Handler())
	srv.Config = httpx.NewServer(srv.Config.Handler)
	srv.Start()
	return &Env{T: t, DB: d, App: a, Server: srv, Config: cfg, Mail: catcher}
}

// Response is a captured reply.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Str is a top-level string field of the JSON body.
func (r Response) Str(field string) string {
	s, _ := r.JSON()[field].(string)
	return s
}

// Do sends a request with an optional bearer token and JSON body (a string
// is sent as is; anything else is marshalled).
func (e *Env) Do(method, path, token string, body any) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Must is Do that fails the test unless the status is want.
func (e *Env) Must(want int, method, path, token string, body any) Response {
	e.T.Helper()
	r := e.Do(method, path, token, body)
	if r.Status != want {
		e.T.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// User signs up and logs in a user with a verified email (as if they had
// followed the verification link), returning its token and id.
func (e *Env) User(email string) (token, userID string) {
	e.T.Helper()
	token, userID = e.UnverifiedUser(email)
	var u id.UserID
	if err := u.UnmarshalText([]byte(userID)); err != nil {
		e.T.Fatal(err)
	}
	if err := e.App.Identity.MarkEmailVerified(context.Background(), u); err != nil {
		e.T.Fatal(err)
	}
	return token, userID
}

// UnverifiedUser signs up and logs in a user who has not verified their
// email, returning its token and id.
func (e *Env) UnverifiedUser(email string) (token, userID string) {
	e.T.Helper()
	cred := map[string]string{"email": email, "password": "correct horse battery"}
	r := e.Must(http.StatusCreated, "POST", "/v1/auth/signup", "", cred)
	userID = r.JSON()["user"].(map[string]any)["id"].(string)
	token = e.Must(http.StatusOK, "POST", "/v1/auth/login", "", cred).Str("token")
	return token, userID
}

// Workspace creates a workspace owned by token's user, with a verified
// card on file (as if its owner had completed the card check, so it may
// submit paid jobs), and returns its id.
func (e *Env) Workspace(token, name string) string {
	e.T.Helper()
	ws := e.UnbilledWorkspace(token, name)
	var w id.WorkspaceID
	if err := w.UnmarshalText([]byte(ws)); err != nil {
		e.T.Fatal(err)
	}
	err := db.InWorkspace(context.Background(), e.DB.App, w.UUID().String(), func(tx pgx.Tx) error {
		return billing.MarkCardVerified(context.Background(), tx, w)
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return ws
}

// UnbilledWorkspace creates a workspace owned by token's user without a
// verified card or credits, and returns its id.
func (e *Env) UnbilledWorkspace(token, name string) string {
	e.T.Helper()
	return e.Must(http.StatusCreated, "POST", "/v1/workspaces", token, map[string]string{"name": name}).Str("id")
}

var invitationTokenRE = regexp.MustCompile(`#token=(fbi_[A-Za-z0-9_-]+)`)

// InvitationToken waits for the newest invitation mailed to email and
// returns the token its link carries.
func (e *Env) InvitationToken(email string) string {
	e.T.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tok := ""
		for _, m := range e.Mail.Messages() {
			if len(m.To) != 1 || !strings.EqualFold(m.To[0], email) {
				continue
			}
			// Undo quoted-printable soft breaks and the = escape.
			body := strings.ReplaceAll(strings.ReplaceAll(string(m.Data), "=\r\n", ""), "=3D", "=")
			if mm := invitationTokenRE.FindStringSubmatch(body); mm != nil {
				tok = mm[1]
			}
		}
		if tok != "" {
			return tok
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("no invitation mailed to %s", email)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invite has ownerToken's user invite email to ws with role, the way
// members join, and returns the invitation's id.
func (e *Env) Invite(ownerToken, ws, email, role string) string {
	e.T.Helper()
	return e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/invitations", ownerToken,
		map[string]string{"email": email, "role": role}).Str("id")
}

// Join makes memberToken's user (whose verified address is email) a member
// of ws with role: ownerToken's user invites the address, and the member
// accepts the mailed invitation.
func (e *Env) Join(ownerToken, ws, memberToken, email, role string) {
	e.T.Helper()
	e.Invite(ownerToken, ws, email, role)
	e.Must(http.StatusOK, "POST", "/v1/invitations/accept", memberToken, map[string]string{"token": e.InvitationToken(email)})
}

// AssetBody is the create-asset request body declaring data (its size and
// SHA-256) as a file called name of type contentType.
func AssetBody(name, contentType string, data []byte) map[string]any {
	sum := sha256.Sum256(data)
	return map[string]any{"filename": name, "content_type": contentType, "size": len(data), "sha256": hex.EncodeToString(sum[:])}
}

// PutUpload sends data to a created asset's presigned upload (upload_url
// with upload_headers, as a client must) and returns the HTTP status.
func (e *Env) PutUpload(created Response, data []byte) int {
	e.T.Helper()
	var c struct {
		URL     string            `json:"upload_url"`
		Headers map[string]string `json:"upload_headers"`
	}
	if err := json.Unmarshal(created.Body, &c); err != nil || c.URL == "" {
		e.T.Fatalf("not a created single-PUT asset: %s", created.Body)
	}
	req, _ := http.NewRequest("PUT", c.URL, bytes.NewReader(data))
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// UploadAsset creates, uploads and completes an asset of data and returns
// its id.
func (e *Env) UploadAsset(token, ws, name, contentType string, data []byte) string {
	e.T.Helper()
	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", token, AssetBody(name, contentType, data))
	if code := e.PutUpload(created, data); code != 200 {
		e.T.Fatalf("upload %s: status %d", name, code)
	}
	id := created.Str("id")
	e.Must(200, "POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", token, nil)
	return id
}
