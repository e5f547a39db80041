package billing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// TestStripeWebhook: a signed paid checkout credits the workspace through
// the credit ledger (and a ledger event); the same event again credits
// nothing; mis-signed, tampered, unsigned and replayed (older than 5
// minutes) events are refused with 400 and change nothing; an event for
// no workspace of ours is acknowledged and ignored.
func TestStripeWebhook(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	ws := e.UnbilledWorkspace(tok, "W")
	secret := e.Config.StripeWebhookSecret
	good := paidCheckout(t, "evt_paid_1", ws, 2500)
	now := time.Now()
	for _, tc := range []struct {
		name    string
		body    []byte
		header  string
		status  int
		outcome string
		credits int64
	}{
		{"mis-signed (other secret)", good, sign(good, "whsec_other", now), 400, "", 0},
		{"tampered body", []byte(strings.Replace(string(good), "2500", "250000", 1)), sign(good, secret, now), 400, "", 0},
		{"unsigned", good, "", 400, "", 0},
		{"malformed header", good, "t=abc,v1=zz", 400, "", 0},
		{"replayed after 5 minutes", good, sign(good, secret, now.Add(-5*time.Minute-10*time.Second)), 400, "", 0},
		{"signed", good, sign(good, secret, now), 200, "applied", 25 * billing.USD},
		{"same event again", good, sign(good, secret, now.Add(time.Second)), 200, "duplicate", 25 * billing.USD},
		{"unpaid session", event(t, "evt_unpaid", "checkout.session.completed", map[string]any{"id": "cs_x", "payment_status": "unpaid", "currency": "usd", "amount_total": 100, "metadata": map[string]string{"workspace_id": ws}}),
			"", 200, "ignored", 25 * billing.USD},
		{"unknown workspace", paidCheckout(t, "evt_other_ws", "wsp_00000000000000000000000000000001", 900), "", 200, "ignored", 25 * billing.USD},
		// Observed 5: a well-formed id of a workspace that does not exist
		// (never did, or purged) was a 500, which Stripe retries for days.
		{"missing workspace (checkout)", paidCheckout(t, "evt_missing_ws", id.New[id.WorkspaceID]().String(), 900), "", 200, "ignored", 25 * billing.USD},
		{"missing workspace (card check)", event(t, "evt_missing_si", "setup_intent.succeeded", map[string]any{"id": "seti_1", "object": "setup_intent", "status": "succeeded",
			"metadata": map[string]string{"workspace_id": id.New[id.WorkspaceID]().String()}}), "", 200, "ignored", 25 * billing.USD},
		// Observed 5: a signature dated in the future was accepted.
		{"signed in the future beyond the tolerance", good, sign(good, secret, now.Add(billing.WebhookTolerance+time.Minute)), 400, "", 25 * billing.USD},
		{"signed far in the future", good, sign(good, secret, now.Add(24*time.Hour)), 400, "", 25 * billing.USD},
		{"other event type", event(t, "evt_misc", "customer.created", map[string]any{"id": "cus_1"}), "", 200, "ignored", 25 * billing.USD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == "" && tc.status == 200 {
				h = sign(tc.body, secret, now)
			}
			r := deliver(t, e, tc.body, h)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.outcome != "" && r.Str("outcome") != tc.outcome {
				t.Fatalf("outcome %q, want %q", r.Str("outcome"), tc.outcome)
			}
			if got := credits(t, e, ws); got != tc.credits {
				t.Fatalf("balance %d, want %d", got, tc.credits)
			}
		})
	}
	var n int
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM ledger_events WHERE workspace_id = $1 AND type = 'credits.purchased'`, wsID(t, ws)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d credits.purchased ledger events (err %v), want 1", n, err)
	}
}

// TestCreditLedgerAppendOnly: neither the app role nor the owner can
// rewrite or delete a credit; the app role cannot even try (no grant).
func TestCreditLedgerAppendOnly(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	ws := e.UnbilledWorkspace(tok, "W")
	body := paidCheckout(t, "evt_ledger", ws, 1000)
	if r := deliver(t, e, body, sign(body, e.Config.StripeWebhookSecret, time.Now())); r.Status != 200 {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	for _, q := range []string{
		`UPDATE credit_ledger SET amount_micros = amount_micros * 100`,
		`DELETE FROM credit_ledger`,
		`TRUNCATE credit_ledger`,
	} {
		if _, err := e.DB.App.Exec(ctx, q); err == nil {
			t.Errorf("app role: %s succeeded", q)
		}
		if _, err := e.DB.Owner.Exec(ctx, q); err == nil {
			t.Errorf("owner: %s succeeded", q)
		}
	}
	if got := credits(t, e, ws); got != 10*billing.USD {
		t.Fatalf("balance %d after the attempts, want %d", got, 10*billing.USD)
	}
}

// TestPaymentGate: a workspace with neither a verified card nor credits
// cannot submit a paid job (402 pointing at card-check and checkout);
// credits from a paid checkout, or a card verified by
// setup_intent.succeeded, open it.
func TestPaymentGate(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	secret := e.Config.StripeWebhookSecret
	for _, tc := range []struct {
		name  string
		event func(ws string) []byte
	}{
		{"credits", func(ws string) []byte { return paidCheckout(t, "evt_gate_credits", ws, 500) }},
		{"verified card", func(ws string) []byte {
			return event(t, "evt_gate_card", "setup_intent.succeeded", map[string]any{"id": "seti_1", "object": "setup_intent", "status": "succeeded", "metadata": map[string]string{"workspace_id": ws}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := e.UnbilledWorkspace(tok, "W "+tc.name)
			asset := probedAsset(t, e, ws, 60)
			job := map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"}
			r := e.Must(402, "POST", "/v1/workspaces/"+ws+"/jobs", tok, job)
			if !strings.Contains(r.Str("detail"), "card-check") || r.Str("type") != problem.CardRequired.Type() {
				t.Fatalf("402 detail %q does not say how to pay", r.Str("detail"))
			}
			body := tc.event(ws)
			if r := deliver(t, e, body, sign(body, secret, time.Now())); r.Status != 200 || r.Str("outcome") != "applied" {
				t.Fatalf("webhook: %d %s", r.Status, r.Body)
			}
			e.Must(202, "POST", "/v1/workspaces/"+ws+"/jobs", tok, job)
		})
	}
}

// TestCheckoutAndCardCheck against stripe-mock: admins get a Checkout
// Session URL for credits or a pack and a SetupIntent client secret;
// invalid amounts are refused; editors may not buy.
func TestCheckoutAndCardCheck(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	ws := e.Workspace(tok, "W")
	edTok, _ := e.User("ed@example.com")
	e.Join(tok, ws, edTok, "ed@example.com", "editor")
	base := "/v1/workspaces/" + ws
	for _, tc := range []struct {
		name   string
		tok    string
		body   any
		status int
	}{
		{"credits", tok, map[string]any{"credits": 25}, 201},
		{"pack", tok, map[string]any{"pack": "studio"}, 201},
		{"too few", tok, map[string]any{"credits": 1}, 400},
		{"too many", tok, map[string]any{"credits": billing.MaxCredits + 1}, 400},
		{"unknown pack", tok, map[string]any{"pack": "gold"}, 400},
		{"both", tok, map[string]any{"pack": "studio", "credits": 10}, 400},
		{"editor", edTok, map[string]any{"credits": 25}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Must(tc.status, "POST", base+"/checkout", tc.tok, tc.body)
			if tc.status == 201 && (r.Str("url") == "" || !strings.HasPrefix(r.Str("id"), "cs_")) {
				t.Fatalf("no session: %s", r.Body)
			}
		})
	}
	r := e.Must(201, "POST", base+"/billing/card-check", tok, nil)
	if !strings.HasPrefix(r.Str("setup_intent"), "seti_") || r.Str("client_secret") == "" {
		t.Fatalf("card check: %s", r.Body)
	}
	e.Must(403, "POST", base+"/billing/card-check", edTok, nil)
	sum := e.Must(200, "GET", base+"/billing", edTok, nil).JSON()
	if sum["card_verified"] != true || sum["plan"] != billing.DefaultPlan {
		t.Fatalf("summary: %v", sum)
	}
}
