// Package events holds sample Lambda events for every function (one folder
// per function under events/) and the tests that feed each one through the
// real Lambda handler wired to the local stack: in process
// (TestSampleEvents) and through the built functions/<fn> binaries under
// the Lambda Runtime Interface Emulator (TestSampleEventsUnderRIE).
package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	stripe "github.com/stripe/stripe-go/v85"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
	"github.com/framebroker/framebroker/shared/pipeline"
)

type expectation struct {
	Expect struct {
		Status         int    `json:"status"`
		IsAuthorized   *bool  `json:"isAuthorized"`
		ErrorType      string `json:"errorType"` // pipeline steps
		OK             bool   `json:"ok"`
		DetailContains string `json:"detail_contains"`
		// Credits is the workspace's credit balance (micro-USD) after the
		// event: a Stripe event whose signature arrived whole credits it.
		Credits string `json:"credits"`
	} `json:"_expect"`
	RequestContext struct {
		RequestID string `json:"requestId"`
	} `json:"requestContext"`
}

func wsUUID(t *testing.T, s string) id.WorkspaceID {
	t.Helper()
	var ws id.WorkspaceID
	if err := ws.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return ws
}

// fill replaces {{name}} placeholders.
func fill(b []byte, vars map[string]string) []byte {
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return []byte(s)
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// TestEveryFunctionHasEvents checks that each Lambda of functions/ and each
// function of the router table has sample events.
func TestEveryFunctionHasEvents(t *testing.T) {
	dirs, err := os.ReadDir("../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && len(files(t, d.Name())) == 0 {
			t.Errorf("functions/%s has no sample events in events/%s/", d.Name(), d.Name())
		}
	}
}

// jsonString is s escaped for use inside a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// fixture is the state the sample events refer to, made through the API.
type fixture struct {
	e            *apptest.Env
	vars         map[string]string
	ws           string
	doomedExists func() bool
}

func newFixture(t *testing.T) *fixture {
	e := apptest.New(t)
	ctx := context.Background()
	tok, user := e.User("owner@example.com")
	ws := e.Workspace(tok, "Events")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "P"}).Str("id")
	shot := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": "S"}).Str("id")
	rel := e.Must(201, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "R", "shots": []string{shot}}).Str("id")
	ast := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody("a.mp4", "video/mp4", []byte("12345"))).Str("id")
	tokOther, _ := e.User("other@example.com")
	wsOther := e.Workspace(tokOther, "Other")
	foreign := e.Must(201, "POST", "/v1/workspaces/"+wsOther+"/projects", tokOther, map[string]string{"name": "theirs"}).Str("id")
	revoked, _ := e.User("revoked@example.com")
	e.Must(204, "POST", "/v1/auth/logout", revoked, nil)
	job := id.New[id.JobID]()
	var wsID id.WorkspaceID
	var astID id.AssetID
	_ = wsID.UnmarshalText([]byte(ws))
	_ = astID.UnmarshalText([]byte(ast))
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs) VALUES ($1, $2, 'mp4-h264-720p', $3)`,
		job, wsID, []id.AssetID{astID}); err != nil {
		t.Fatal(err)
	}
	// A workspace due for purge (no grace in tests): the cron event with a
	// wrong secret must leave it, the right one must purge it.
	doomed := e.Workspace(tokOther, "Doomed")
	e.Must(202, "DELETE", "/v1/workspaces/"+doomed, tokOther, nil)
	f := &fixture{e: e, ws: ws}
	f.doomedExists = func() bool {
		var n int
		if err := e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE id = $1`, wsUUID(t, doomed)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	// Stripe-signed checkout events for ws, signed with the stack's
	// webhook secret: Stripe-Signature ("t=…,v1=…") must reach the
	// handler whole for the credit to land.
	now := time.Now()
	paid := func(evID string, cents int64) (body, sig string) {
		obj, _ := json.Marshal(map[string]any{"id": "cs_" + evID, "object": "checkout.session", "payment_status": "paid", "currency": "usd",
			"amount_total": cents, "client_reference_id": ws, "metadata": map[string]string{"workspace_id": ws}})
		b, _ := json.Marshal(map[string]any{"id": evID, "object": "event", "type": "checkout.session.completed",
			"api_version": stripe.APIVersion, "created": now.Unix(), "data": map[string]any{"object": json.RawMessage(obj)}})
		s := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: b, Secret: e.Config.StripeWebhookSecret, Timestamp: now}).Header
		return string(b), s
	}
	body, sig := paid("evt_lambda_1", 2500)
	bodyB64, sigB64 := paid("evt_lambda_2", 1000)
	tOnly, _, _ := strings.Cut(sig, ",")
	signup, _ := json.Marshal(map[string]string{"email": "lambda-b64@example.com", "password": "correct horse battery"})
	f.vars = map[string]string{
		"cron_secret": e.Config.CronSecret,
		"job":         job.String(), "release": rel,
		"token": tok, "user": user, "session": "ses_unused", "ws": ws, "project": prj, "shot": shot, "asset": ast,
		"foreign_project": foreign, "revoked_token": revoked, "email": "lambda-signup@example.com",
		"stripe_body": jsonString(body), "stripe_signature": sig, "stripe_signature_t_only": tOnly,
		"stripe_credits":       strconv.FormatInt(25*billing.USD, 10),
		"stripe_body_b64":      base64.StdEncoding.EncodeToString([]byte(bodyB64)),
		"stripe_signature_b64": sigB64,
		"stripe_credits_b64":   strconv.FormatInt(35*billing.USD, 10),
		"signup_body_b64":      base64.StdEncoding.EncodeToString(signup),
	}
	return f
}

func (f *fixture) credits(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := f.e.DB.Owner.QueryRow(context.Background(), `SELECT coalesce(sum(amount_micros), 0)::bigint FROM credit_ledger WHERE workspace_id = $1`, wsUUID(t, f.ws)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// invokeError is a function error as Lambda reports it.
type invokeError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *invokeError) Error() string { return e.Type + ": " + e.Message }

// invoker runs one event through function fn and returns its JSON output,
// or the function error.
type invoker func(t *testing.T, fn string, raw []byte) (json.RawMessage, *invokeError)

// functionsWithEvents lists every function with a folder of events.
func functionsWithEvents(t *testing.T) []string {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if d.IsDir() && len(files(t, d.Name())) > 0 {
			out = append(out, d.Name())
		}
	}
	return out
}

// replay feeds every sample event of fns through invoke and checks its
// expectation.
func (f *fixture) replay(t *testing.T, fns []string, invoke invoker) {
	for _, fn := range fns {
		for _, path := range files(t, fn) {
			t.Run(path, func(t *testing.T) {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				raw = fill(raw, f.vars)
				if strings.Contains(string(raw), "{{") {
					t.Fatalf("unfilled placeholder in %s", raw)
				}
				var exp expectation
				if err := json.Unmarshal(raw, &exp); err != nil {
					t.Fatal(err)
				}
				out, ierr := invoke(t, fn, raw)
				f.check(t, fn, raw, exp, out, ierr)
			})
		}
	}
}

func (f *fixture) check(t *testing.T, fn string, raw []byte, exp expectation, out json.RawMessage, ierr *invokeError) {
	t.Helper()
	switch fn {
	case "pipeline":
		switch {
		case exp.Expect.OK && ierr != nil:
			t.Fatalf("step failed: %v", ierr)
		case exp.Expect.ErrorType != "" && (ierr == nil || ierr.Type != exp.Expect.ErrorType):
			t.Fatalf("step error %v, want type %s", ierr, exp.Expect.ErrorType)
		}
	case cron.Function:
		var ev lambdafn.CronEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if exp.Expect.Status != 0 {
			if ierr == nil || !strings.Contains(ierr.Message, fmt.Sprintf("status %d", exp.Expect.Status)) {
				t.Fatalf("err %v, want status %d", ierr, exp.Expect.Status)
			}
			if strings.Contains(ierr.Message, f.e.Config.CronSecret) {
				t.Fatal("the error quotes the cron secret")
			}
			if ev.Job == cron.WorkspacePurge && !f.doomedExists() {
				t.Fatal("a refused purge event purged a workspace")
			}
			return
		}
		var res cron.Result
		if ierr != nil || json.Unmarshal(out, &res) != nil || !res.Ran || res.Job != ev.Job {
			t.Fatalf("cron %s: %s, %v", ev.Job, out, ierr)
		}
		if ev.Job == cron.WorkspacePurge && f.doomedExists() {
			t.Fatalf("the purge event left the workspace due for purge: %s", out)
		}
	case "authorizer":
		if ierr != nil {
			t.Fatal(ierr)
		}
		var res events.APIGatewayV2CustomAuthorizerSimpleResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if exp.Expect.IsAuthorized == nil || res.IsAuthorized != *exp.Expect.IsAuthorized {
			t.Fatalf("isAuthorized = %v, want %v", res.IsAuthorized, *exp.Expect.IsAuthorized)
		}
		if res.IsAuthorized && res.Context["user"] != f.vars["user"] {
			t.Fatalf("context user = %v, want %s", res.Context["user"], f.vars["user"])
		}
	default:
		if ierr != nil {
			t.Fatal(ierr)
		}
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		body := res.Body
		if res.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		if res.StatusCode != exp.Expect.Status {
			t.Fatalf("status %d, want %d; body %s", res.StatusCode, exp.Expect.Status, body)
		}
		ct := res.Headers["Content-Type"]
		if res.StatusCode != 204 && ct != "application/json" && ct != "application/problem+json" {
			t.Fatalf("content type %q", ct)
		}
		rid := strings.ReplaceAll(exp.RequestContext.RequestID, "=", "")
		if res.Headers["X-Request-Id"] != rid {
			t.Fatalf("X-Request-Id %q, want API Gateway's request id %q", res.Headers["X-Request-Id"], rid)
		}
		if res.StatusCode >= 400 && !strings.Contains(body, `"request_id":"`+rid+`"`) {
			t.Fatalf("problem body lacks API Gateway's request id: %s", body)
		}
		if exp.Expect.DetailContains != "" && !strings.Contains(body, exp.Expect.DetailContains) {
			t.Fatalf("body %s does not mention %q", body, exp.Expect.DetailContains)
		}
		if exp.Expect.Credits != "" {
			want, err := strconv.ParseInt(exp.Expect.Credits, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.credits(t); got != want {
				t.Fatalf("credits %d after the signed Stripe event, want %d (body %s)", got, want, body)
			}
		}
	}
}

// TestSampleEvents feeds every sample event through its function's Lambda
// handler in process (the API Gateway v2 adapter over the router table,
// the cron adapter, the authorizer, the pipeline steps) against the local
// stack.
func TestSampleEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fns := f.e.App.Functions()
	f.replay(t, append(fns, "authorizer", "pipeline"), func(t *testing.T, fn string, raw []byte) (json.RawMessage, *invokeError) {
		var out any
		var err error
		switch fn {
		case "pipeline":
			var p pipeline.Payload
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			out, err = appfn.Steps(f.e.App.Pipeline.Steps)(ctx, p)
		case "authorizer":
			var ev events.APIGatewayV2CustomAuthorizerV2Request
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			out, err = lambdafn.Authorizer(f.e.App.Identity)(ctx, ev)
		default:
			h, herr := f.e.App.FunctionHandler(fn)
			if herr != nil {
				t.Fatal(herr)
			}
			out, err = lambdafn.Dispatch(h, f.e.Config.CronSecret)(ctx, raw)
		}
		if err != nil {
			var le messages.InvokeResponse_Error
			if errors.As(err, &le) {
				return nil, &invokeError{Type: le.Type, Message: le.Message}
			}
			return nil, &invokeError{Type: "errorString", Message: err.Error()}
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	})
}
