package billing_test

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v85/webhook"

	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/preset"
)

// FuzzVerifyEvent feeds arbitrary bodies and Stripe-Signature headers to
// the verifier: it never panics, and it accepts only a header that carries
// the HMAC of its own timestamp and the exact body under the secret.
func FuzzVerifyEvent(f *testing.F) {
	const secret = "whsec_fuzz"
	body := []byte(`{"id":"evt_1","object":"event","type":"customer.created","data":{"object":{"id":"cus_1"}}}`)
	f.Add(body, sign(body, secret, time.Now()))
	f.Add(body, sign(body, "whsec_other", time.Now()))
	f.Add(body, "t=1,v1=00")
	f.Add([]byte(`{}`), "")
	f.Add([]byte(`not json`), "t=,v1=,v0=abc")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		_, err := billing.VerifyEvent(body, header, secret)
		if err != nil {
			return
		}
		ok := false
		for _, part := range strings.Split(header, ",") {
			if ts, found := strings.CutPrefix(part, "t="); found {
				n, perr := strconv.ParseInt(ts, 10, 64)
				if perr == nil && strings.Contains(header, "v1="+hex.EncodeToString(stripewebhook.ComputeSignature(time.Unix(n, 0), body, secret))) {
					ok = true
				}
			}
		}
		if !ok {
			t.Fatalf("accepted a header without the body's signature: %q", header)
		}
	})
}

// TestPrice: the pricing model's figures, and every preset has a price.
func TestPrice(t *testing.T) {
	for _, p := range preset.Names() {
		if billing.PricePerMinute[p] <= 0 {
			t.Errorf("preset %s has no price in billing.PricePerMinute", p)
		}
	}
	for _, tc := range []struct {
		preset  string
		seconds float64
		want    billing.Micros
	}{
		{"mp4-h264-720p", 60, 10_000},
		{"mp4-h264-720p", 0, 167}, // the 1 s minimum, rounded up
		{"mp4-h264-1080p", 90, 30_000},
		{"hls-ladder", 120, 90_000},
		{"thumbnails", 30, 1_000},
		{"nope", 60, 0},
	} {
		if got := billing.Price(tc.preset, tc.seconds); got != tc.want {
			t.Errorf("Price(%s, %v) = %d, want %d", tc.preset, tc.seconds, got, tc.want)
		}
	}
}
