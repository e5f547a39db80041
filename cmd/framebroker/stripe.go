package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
)

// devStripeSecret is the dev stack's Stripe webhook secret, made on first
// run and kept in dir.
func devStripeSecret(dir string) (string, error) {
	path := filepath.Join(dir, "stripe-webhook.secret")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte("whsec_" + rand.Text())
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("stripe webhook secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// runStripe sends Stripe events to the dev API the way Stripe would, signed
// with the dev stack's webhook secret (stripe-mock does not send webhooks):
// `stripe trigger setup_intent.succeeded --workspace ws_…` marks a card
// verified; `stripe trigger checkout.session.completed --workspace ws_…
// --amount 5000` credits $50.
func runStripe(args []string) int {
	if len(args) < 2 || args[0] != "trigger" {
		fmt.Fprintln(os.Stderr, "Usage: framebroker stripe trigger setup_intent.succeeded|checkout.session.completed --workspace WS [--amount CENTS] [--dir .local/dev] [--url http://127.0.0.1:8080]")
		return 2
	}
	event := args[1]
	fs := flag.NewFlagSet("stripe", flag.ContinueOnError)
	ws := fs.String("workspace", "", "workspace id (ws_…)")
	amount := fs.Int64("amount", 5000, "checkout amount in cents (USD)")
	dir := fs.String("dir", ".local/dev", "dev stack directory (holds the webhook secret)")
	url := fs.String("url", "http://127.0.0.1:8080", "API base URL")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if *ws == "" {
		fmt.Fprintln(os.Stderr, "framebroker stripe: --workspace is required")
		return 2
	}
	id := "evt_dev_" + strings.ToLower(rand.Text())
	meta := map[string]string{"workspace_id": *ws}
	var object map[string]any
	switch event {
	case "setup_intent.succeeded":
		object = map[string]any{"id": "seti_dev_" + strings.ToLower(rand.Text()), "object": "setup_intent", "status": "succeeded", "metadata": meta}
	case "checkout.session.completed":
		object = map[string]any{"id": "cs_dev_" + strings.ToLower(rand.Text()), "object": "checkout.session", "payment_status": "paid",
			"currency": "usd", "amount_total": *amount, "mode": "payment", "metadata": meta}
	default:
		fmt.Fprintf(os.Stderr, "framebroker stripe: unsupported event %q\n", event)
		return 2
	}
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": event, "api_version": "2025-01-01", "created": time.Now().Unix(),
		"livemode": false, "data": map[string]any{"object": object},
	})
	secret, err := devStripeSecret(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker stripe:", err)
		return 1
	}
	signed := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()})
	req, _ := http.NewRequest("POST", strings.TrimRight(*url, "/")+"/v1/stripe/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker stripe:", err)
		return 1
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	fmt.Printf("%s %s → %d %s\n", event, id, res.StatusCode, strings.TrimSpace(string(out)))
	if res.StatusCode >= 300 {
		return 1
	}
	return 0
}
