package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/mail/mailtest"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/tenancy"
	"github.com/framebroker/framebroker/shared/webhook"
)

// clock is an injectable clock: frozen (tests advance it), or following
// the wall clock once Follow is called (benchmarks, where deliveries are
// stamped with the database's clock and must fall due in real time).
type clock struct {
	mu     sync.Mutex
	t      time.Time
	follow bool
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.follow {
		return time.Now()
	}
	return c.t
}

// Follow makes the clock read the wall clock from now on.
func (c *clock) Follow() { c.mu.Lock(); c.follow = true; c.mu.Unlock() }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tokens is a test Authenticator: a bearer token names a user.
type tokens map[string]id.UserID

func (t tokens) Authenticate(_ context.Context, tok string) (guard.Principal, error) {
	u, ok := t[tok]
	if !ok {
		return guard.Principal{}, problem.E("test", problem.Unauthenticated, "bad token")
	}
	return guard.Principal{User: u}, nil
}

// env is a webhook service on a fresh database with one workspace (owner
// token "owner", viewer token "viewer"), its API behind the real guard, a
// mail catcher and an injected clock.
type env struct {
	t      testing.TB
	db     *dbtest.DB
	svc    *webhook.Service
	api    *httptest.Server
	ws     id.WorkspaceID
	clock  *clock
	mail   *mailtest.Catcher
	events *recorded
}

type recorded struct {
	mu    sync.Mutex
	types []string
}

func (r *recorded) record(_ context.Context, _ pgx.Tx, _ id.WorkspaceID, _, typ, _ string, _ any) error {
	r.mu.Lock()
	r.types = append(r.types, typ)
	r.mu.Unlock()
	return nil
}

func (r *recorded) has(typ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.types {
		if t == typ {
			return true
		}
	}
	return false
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newEnv(t testing.TB) *env {
	t.Helper()
	d := dbtest.New(t)
	ctx := context.Background()
	owner, viewer, ws := id.New[id.UserID](), id.New[id.UserID](), id.New[id.WorkspaceID]()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, email_canonical) VALUES ($1, 'owner@example.com', 'owner@example.com'), ($2, 'viewer@example.com', 'viewer@example.com')`, []any{owner, viewer}},
		{`INSERT INTO workspaces (id, name, created_by) VALUES ($1, 'W', $2)`, []any{ws, owner}},
		{`INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, 'owner'), ($1, $3, 'viewer')`, []any{ws, owner, viewer}},
	} {
		if _, err := d.Owner.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 32)
	key[0] = 7
	ciph, err := webhook.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().Truncate(time.Second).Add(2 * time.Second)}
	mc := mailtest.Start(t)
	rec := &recorded{}
	svc := webhook.NewService(webhook.Config{
		Pool: d.App, Cipher: ciph, Addresses: webhook.AddressPolicy{Allow: loopback},
		Mail: &mail.Outbox{Pool: d.App, Sender: mail.SMTP{Addr: mc.Addr, From: "no-reply@framebroker.test"}, Immediate: true}, Owners: tenancy.OwnerEmails, Record: rec.record, Now: c.Now,
	})
	mux, err := guard.NewMux(svc.Routes(), tokens{"owner": owner, "viewer": viewer}, d.App)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	return &env{t: t, db: d, svc: svc, api: api, ws: ws, clock: c, mail: mc, events: rec}
}

// do calls the API; body may be nil.
func (e *env) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.api.URL+"/v1/workspaces/"+e.ws.String()+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// hook creates an endpoint for url and returns its id and secret.
func (e *env) hook(url string, events ...string) (string, string) {
	e.t.Helper()
	if events == nil {
		events = []string{}
	}
	st, m := e.do("POST", "/webhooks", "owner", map[string]any{"url": url, "events": events})
	if st != 201 {
		e.t.Fatalf("create endpoint: %d %v", st, m)
	}
	return m["id"].(string), m["secret"].(string)
}

// enqueue commits one event.
func (e *env) enqueue(typ string, data any) id.MessageID {
	e.t.Helper()
	var msg id.MessageID
	err := db.InWorkspace(context.Background(), e.db.App, e.ws.UUID().String(), func(tx pgx.Tx) error {
		var err error
		msg, err = webhook.Enqueue(context.Background(), tx, e.ws, typ, data)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return msg
}

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	at     time.Time // the injected clock when it arrived
}

// receiver is a local HTTP endpoint answering with respond(n) for the n-th
// request (0-based).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t testing.TB, c *clock, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rv := &receiver{}
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		n := len(rv.hits)
		rv.hits = append(rv.hits, hit{header: r.Header.Clone(), body: b, at: c.Now()})
		rv.mu.Unlock()
		respond(n, w, r)
	}))
	t.Cleanup(rv.Server.Close)
	return rv
}

// count is how many requests the receiver got.
func (rv *receiver) count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.hits)
}

func (rv *receiver) got() []hit {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]hit(nil), rv.hits...)
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}
