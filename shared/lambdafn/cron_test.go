package lambdafn

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/cron"
)

// TestCronEvents feeds EventBridge's cron events through the cron Lambda's
// real handler (the guard's constant-time secret check, the job runner)
// against the local stack.
func TestCronEvents(t *testing.T) {
	e := apptest.New(t)
	h, err := e.App.FunctionHandler(cron.Function)
	if err != nil {
		t.Fatal(err)
	}
	handle := Dispatch(h, e.Config.CronSecret)
	// A function whose own secret is missing refuses events without one.
	bare := Dispatch(h, "")
	ctx := context.Background()
	raw := func(ev any) json.RawMessage {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name    string
		ev      CronEvent
		wantErr string
	}{
		{"right secret runs the job", CronEvent{Job: cron.WebhookRetries, Secret: e.Config.CronSecret}, ""},
		{"wrong secret", CronEvent{Job: cron.WebhookRetries, Secret: e.Config.CronSecret + "x"}, "status 40"},
		{"secret prefix", CronEvent{Job: cron.WebhookRetries, Secret: e.Config.CronSecret[:len(e.Config.CronSecret)-1]}, "status 40"},
		{"no secret in the event: the function's own", CronEvent{Job: cron.WebhookRetries}, ""},
		{"unknown job", CronEvent{Job: "nope", Secret: e.Config.CronSecret}, "status 404"},
		{"path traversal in the job name", CronEvent{Job: "../../v1/workspaces", Secret: e.Config.CronSecret}, "status 404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := handle(ctx, raw(c.ev))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), e.Config.CronSecret) {
					t.Fatal("the error quotes the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res cron.Result
			if err := json.Unmarshal(out.(json.RawMessage), &res); err != nil || res.Job != c.ev.Job {
				t.Fatalf("result %s (%v)", out, err)
			}
		})
	}
	if _, err := bare(ctx, raw(CronEvent{Job: cron.WebhookRetries})); err == nil || !strings.Contains(err.Error(), "status 40") {
		t.Fatalf("no secret anywhere: err %v, want a refusal", err)
	}
	// An API Gateway request to the same function is served as HTTP, not
	// mistaken for a cron event.
	out, err := handle(ctx, json.RawMessage(`{"version":"2.0","routeKey":"$default","rawPath":"/internal/cron/x","requestContext":{"http":{"method":"GET","path":"/internal/cron/x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(out); !strings.Contains(string(b), `"statusCode":`) {
		t.Fatalf("API event answered %s", b)
	}
}

// FuzzIsCronEvent: only objects with a job and no requestContext are cron
// events; nothing panics.
func FuzzIsCronEvent(f *testing.F) {
	f.Add(`{"job":"retention","secret":"s"}`)
	f.Add(`{"job":"retention","requestContext":{}}`)
	f.Add(`{"version":"2.0","routeKey":"GET /healthz","requestContext":{"http":{"method":"GET"}}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, raw string) {
		ev, ok := isCronEvent([]byte(raw))
		if ok && (ev.Job == "" || strings.Contains(raw, "requestContext") && json.Valid([]byte(raw)) && hasKey(raw, "requestContext")) {
			t.Fatalf("%s accepted as %+v", raw, ev)
		}
	})
}

func hasKey(raw, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &m) != nil {
		return false
	}
	v, ok := m[key]
	return ok && string(v) != "null"
}
