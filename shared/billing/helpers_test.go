package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v85"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

// noop is an encode provider that accepts every job and runs nothing: the
// concurrency and rate-limit tests exercise submission, not encoding (the
// real providers are tested in shared/pipeline).
type noop struct{}

func (noop) Name() string { return "noop" }
func (noop) Start(_ context.Context, _ id.WorkspaceID, j id.JobID) (string, error) {
	return "noop-" + j.String(), nil
}
func (noop) Cancel(context.Context, string) error { return nil }

// env is the API with the no-op provider and generous rate limits (tests of
// the limits set their own).
func env(t testing.TB) *apptest.Env {
	t.Helper()
	e := apptest.New(t)
	e.App.Pipeline.Dispatcher.Backends = []pipeline.Backend{noop{}}
	e.App.Billing.Plans = plans(1000, 1000)
	return e
}

// plans is the default plan with the job-submission limit set to user and
// ws requests per minute (bursts of the same size).
func plans(user, ws int) map[string]billing.Plan {
	ps := billing.DefaultPlans()
	p := ps[billing.DefaultPlan]
	p.Limits[billing.LimitJobSubmit] = billing.RouteLimit{
		User:      billing.Quota{Rate: ratelimit.PerMinute(user), Burst: user},
		Workspace: billing.Quota{Rate: ratelimit.PerMinute(ws), Burst: ws},
	}
	ps[billing.DefaultPlan] = p
	return ps
}

func wsID(t testing.TB, s string) id.WorkspaceID {
	t.Helper()
	var w id.WorkspaceID
	if err := w.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return w
}

// probedAsset records a completed asset whose probe says it lasts seconds
// (the upload and probe path is tested in shared/asset).
func probedAsset(t testing.TB, e *apptest.Env, ws string, seconds float64) string {
	t.Helper()
	a := id.New[id.AssetID]()
	probe := fmt.Sprintf(`{"format":{"duration":"%.3f"}}`, seconds)
	if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO assets (id, workspace_id, filename, content_type, declared_size, object_key, status, size, probe, completed_at)
		VALUES ($1, $2, 'clip.mp4', 'video/mp4', 1000, $3, 'complete', 1000, $4, now())`, a, wsID(t, ws), "test/"+a.String(), probe); err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// fixture is an API env with an owner (tok), a workspace ws (w) with a
// verified card unless unbilled, and a probed 60 s asset priced price for
// mp4-h264-720p.
type fixture struct {
	e              *apptest.Env
	tok, ws, asset string
	w              id.WorkspaceID
	price          billing.Micros
}

func newFixture(t *testing.T, unbilled bool) fixture {
	t.Helper()
	f := fixture{e: env(t), price: billing.Price("mp4-h264-720p", 60)}
	f.tok, _ = f.e.User("owner@example.com")
	if unbilled {
		f.ws = f.e.UnbilledWorkspace(f.tok, "W")
	} else {
		f.ws = f.e.Workspace(f.tok, "W")
	}
	f.w = wsID(t, f.ws)
	f.asset = probedAsset(t, f.e, f.ws, 60)
	return f
}

// inWS runs fn in a transaction scoped to ws as the app role.
func inWS(t testing.TB, e *apptest.Env, ws id.WorkspaceID, fn func(pgx.Tx) error) {
	t.Helper()
	if err := db.InWorkspace(context.Background(), e.DB.App, ws.UUID().String(), fn); err != nil {
		t.Fatal(err)
	}
}

func setCeilings(t testing.TB, e *apptest.Env, ws string, c billing.Ceilings) {
	t.Helper()
	w := wsID(t, ws)
	inWS(t, e, w, func(tx pgx.Tx) error { return billing.SetAccount(context.Background(), tx, w, billing.DefaultPlan, &c) })
}

// windows reads ws's windows by kind and start, as the owner.
func windows(t testing.TB, e *apptest.Env, ws id.WorkspaceID) []billing.Window {
	t.Helper()
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT kind, starts_at, ends_at, ceiling, spent, reserved FROM spend_windows WHERE workspace_id = $1 ORDER BY starts_at, kind`, ws)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Window, error) {
		var w billing.Window
		err := r.Scan(&w.Kind, &w.StartsAt, &w.EndsAt, &w.Ceiling, &w.Spent, &w.Reserved)
		return w, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func current(t testing.TB, e *apptest.Env, ws id.WorkspaceID, kind string) billing.Window {
	t.Helper()
	for _, w := range windows(t, e, ws) {
		if w.Kind == kind && !w.StartsAt.After(time.Now()) && w.EndsAt.After(time.Now()) {
			return w
		}
	}
	t.Fatalf("no current %s window", kind)
	return billing.Window{}
}

// post sends a POST of body (JSON-marshalled unless []byte) to url with
// an optional token and headers.
func post(t testing.TB, client *http.Client, url, tok string, body any, hdr map[string]string) apptest.Response {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return apptest.Response{}
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return apptest.Response{Status: res.StatusCode, Header: res.Header, Body: rb}
}

// event builds a Stripe event of typ whose data.object is obj.
func event(t testing.TB, evID, typ string, obj any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"id": evID, "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": json.RawMessage(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign is the Stripe-Signature header for body at ts with secret.
func sign(body []byte, secret string, ts time.Time) string {
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts}).Header
}

// paidCheckout is a paid checkout.session.completed event for ws.
func paidCheckout(t testing.TB, evID, ws string, cents int64) []byte {
	return event(t, evID, "checkout.session.completed", map[string]any{
		"id": "cs_" + evID, "object": "checkout.session", "payment_status": "paid", "currency": "usd",
		"amount_total": cents, "client_reference_id": ws, "metadata": map[string]string{"workspace_id": ws},
	})
}

// deliver posts a signed event to the webhook route.
func deliver(t testing.TB, e *apptest.Env, body []byte, header string) apptest.Response {
	t.Helper()
	return post(t, http.DefaultClient, e.Server.URL+"/v1/stripe/webhook", "", body, map[string]string{"Stripe-Signature": header})
}

func credits(t testing.TB, e *apptest.Env, ws string) int64 {
	t.Helper()
	var n int64
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT coalesce(sum(amount_micros), 0)::bigint FROM credit_ledger WHERE workspace_id = $1`, wsID(t, ws)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
