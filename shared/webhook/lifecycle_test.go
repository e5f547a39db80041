package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/webhook"
)

// TestRotationResendTestDelete exercises an endpoint's life from a
// customer's side: after a rotation both secrets verify each delivery
// during the overlap and only the new one after it; a resend delivers the
// same message (same id, same bytes) again; the test route sends a signed
// webhook.test to this endpoint; a deleted endpoint receives nothing more,
// not even what was queued before the delete.
func TestRotationResendTestDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rv := newReceiver(t, e.clock, status(200))
	hook, oldSecret := e.hook(rv.URL)
	d := e.svc.NewDispatcher()
	deliver := func(want int) []hit {
		t.Helper()
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got := rv.got()
		if len(got) != want {
			t.Fatalf("%d deliveries, want %d", len(got), want)
		}
		return got
	}
	verifies := func(h hit, secret string) bool {
		v, err := webhook.NewVerifier(secret)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = e.clock.Now
		return v.Verify(h.header, h.body) == nil
	}

	st, m := e.do("POST", "/webhooks/"+hook+"/rotate-secret", "owner", map[string]any{"overlap_seconds": 3600})
	newSecret, _ := m["secret"].(string)
	if st != 200 || newSecret == "" || newSecret == oldSecret {
		t.Fatalf("rotate: %d %v", st, m)
	}
	e.enqueue("job.completed", map[string]string{"job": "during overlap"})
	h := deliver(1)[0]
	if !verifies(h, oldSecret) || !verifies(h, newSecret) || strings.Count(h.header.Get(webhook.HeaderSignature), "v1,") != 2 {
		t.Fatalf("during the overlap: old %v new %v, signatures %q", verifies(h, oldSecret), verifies(h, newSecret), h.header.Get(webhook.HeaderSignature))
	}

	// The overlap ends (by the database's clock, which set it).
	if _, err := e.db.Owner.Exec(ctx, `UPDATE webhook_endpoints SET prev_secret_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	e.enqueue("job.completed", map[string]string{"job": "after overlap"})
	h = deliver(2)[1]
	if verifies(h, oldSecret) || !verifies(h, newSecret) || strings.Count(h.header.Get(webhook.HeaderSignature), "v1,") != 1 {
		t.Fatalf("after the overlap: old %v new %v, signatures %q", verifies(h, oldSecret), verifies(h, newSecret), h.header.Get(webhook.HeaderSignature))
	}

	// Resend the first delivery: same message id and bytes, signed anew.
	st, m = e.do("GET", "/webhooks/"+hook+"/deliveries", "viewer", nil)
	raw, _ := json.Marshal(m)
	var list struct {
		Data []webhook.Delivery `json:"data"`
	}
	if err := json.Unmarshal(raw, &list); st != 200 || err != nil || len(list.Data) != 2 {
		t.Fatalf("deliveries: %d %v %s", st, err, raw)
	}
	var first string
	for _, dl := range list.Data {
		if dl.Message.String() == rv.got()[0].header.Get(webhook.HeaderID) {
			first = dl.ID.String()
		}
	}
	if st, m = e.do("POST", "/webhooks/"+hook+"/resend", "owner", map[string]any{"delivery": first}); st != 202 {
		t.Fatalf("resend %q: %d %v", first, st, m)
	}
	got := deliver(3)
	if got[2].header.Get(webhook.HeaderID) != got[0].header.Get(webhook.HeaderID) || string(got[2].body) != string(got[0].body) || !verifies(got[2], newSecret) {
		t.Fatalf("resent delivery differs: %s %s vs %s %s", got[2].header.Get(webhook.HeaderID), got[2].body, got[0].header.Get(webhook.HeaderID), got[0].body)
	}

	// The test route: a signed webhook.test for this endpoint.
	if st, m = e.do("POST", "/webhooks/"+hook+"/test", "owner", nil); st != 202 || m["type"] != webhook.TestEvent {
		t.Fatalf("test: %d %v", st, m)
	}
	if st, _ = e.do("POST", "/webhooks/"+hook+"/test", "viewer", nil); st != 403 {
		t.Fatalf("a viewer sent a test event: %d", st)
	}
	h = deliver(4)[3]
	var env webhook.Envelope
	if err := json.Unmarshal(h.body, &env); err != nil || env.Type != webhook.TestEvent || !verifies(h, newSecret) {
		t.Fatalf("test delivery: %s %v", h.body, err)
	}

	// Delete: what was queued before is not delivered, nor anything after.
	e.enqueue("job.completed", map[string]string{"job": "queued before delete"})
	if st, _ = e.do("DELETE", "/webhooks/"+hook, "owner", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if msg := e.enqueue("job.completed", map[string]string{"job": "after delete"}); !msg.IsZero() {
		t.Fatalf("an event was queued for a deleted endpoint: %s", msg)
	}
	deliver(4)
	if st, _ = e.do("POST", "/webhooks/"+hook+"/test", "owner", nil); st != 404 {
		t.Fatalf("test on a deleted endpoint: %d", st)
	}
}
