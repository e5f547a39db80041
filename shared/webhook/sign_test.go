package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/framebroker/framebroker/shared/webhook"
)

// TestWireFormatMatchesStandardWebhooks signs with our code and verifies with
// the Standard Webhooks reference library, and the other way round,
// including a rotation's double signature (either secret verifies).
func TestWireFormatMatchesStandardWebhooks(t *testing.T) {
	cur, prev := webhook.NewSecret(), webhook.NewSecret()
	body := []byte(`{"type":"job.completed","timestamp":"2026-01-02T03:04:05Z","data":{"id":"job_1"}}`)
	now := time.Now()
	h := http.Header{}
	webhook.SignHeaders(h, "msg_0123", now, body, cur, prev)
	if !strings.HasPrefix(h.Get("webhook-signature"), "v1,") || len(strings.Fields(h.Get("webhook-signature"))) != 2 {
		t.Fatalf("signature header %q", h.Get("webhook-signature"))
	}
	if h.Get("webhook-timestamp") != strconv.FormatInt(now.Unix(), 10) || h.Get("webhook-id") != "msg_0123" {
		t.Fatalf("headers %v", h)
	}
	for _, s := range []webhook.Secret{cur, prev} {
		lib, err := standardwebhooks.NewWebhook(s.String())
		if err != nil {
			t.Fatal(err)
		}
		if err := lib.Verify(body, h); err != nil {
			t.Fatalf("reference library refuses our delivery: %v", err)
		}
		if err := lib.Verify(append(body, ' '), h); err == nil {
			t.Fatal("reference library accepts a tampered body")
		}
		// And ours accepts what the library signs.
		sig, err := lib.Sign("msg_9", now, body)
		if err != nil {
			t.Fatal(err)
		}
		lh := http.Header{}
		lh.Set("webhook-id", "msg_9")
		lh.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		lh.Set("webhook-signature", sig)
		v, err := webhook.NewVerifier(s.String())
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(lh, body); err != nil {
			t.Fatalf("our verifier refuses the library's signature: %v", err)
		}
	}
	other, _ := standardwebhooks.NewWebhook(webhook.NewSecret().String())
	if err := other.Verify(body, h); err == nil {
		t.Fatal("a third secret verifies")
	}
}

// TestVerifierRejects proves the verifier refuses replays (timestamp outside
// the 5-minute window), tampering with body, id or timestamp, wrong
// secrets and malformed headers, and accepts the authentic delivery.
func TestVerifierRejects(t *testing.T) {
	secret := webhook.NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"job.completed","data":{}}`)
	sign := func(id string, ts time.Time, b []byte, s webhook.Secret) http.Header {
		h := http.Header{}
		webhook.SignHeaders(h, id, ts, b, s)
		return h
	}
	v := &webhook.Verifier{Secrets: []webhook.Secret{secret}, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"authentic", sign("msg_1", now, body, secret), body, nil},
		{"4m59s old", sign("msg_1", now.Add(-4*time.Minute-59*time.Second), body, secret), body, nil},
		{"replayed 5m01s later", sign("msg_1", now.Add(-5*time.Minute-time.Second), body, secret), body, webhook.ErrTooOld},
		{"replayed a day later", sign("msg_1", now.Add(-24*time.Hour), body, secret), body, webhook.ErrTooOld},
		{"from the future", sign("msg_1", now.Add(6*time.Minute), body, secret), body, webhook.ErrTooNew},
		{"tampered body", sign("msg_1", now, body, secret), []byte(`{"type":"job.completed","data":{"x":1}}`), webhook.ErrNoMatch},
		{"wrong secret", sign("msg_1", now, body, webhook.NewSecret()), body, webhook.ErrNoMatch},
		{"tampered id", func() http.Header { h := sign("msg_1", now, body, secret); h.Set("webhook-id", "msg_2"); return h }(), body, webhook.ErrNoMatch},
		{"timestamp moved, signature kept", func() http.Header {
			h := sign("msg_1", now.Add(-10*time.Minute), body, secret)
			h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			return h
		}(), body, webhook.ErrNoMatch},
		{"missing signature", func() http.Header { h := sign("msg_1", now, body, secret); h.Del("webhook-signature"); return h }(), body, webhook.ErrMissingHeaders},
		{"timestamp not a number", func() http.Header { h := sign("msg_1", now, body, secret); h.Set("webhook-timestamp", "1e9"); return h }(), body, webhook.ErrBadTimestamp},
		{"v2 scheme", func() http.Header {
			h := sign("msg_1", now, body, secret)
			h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v2,", 1))
			return h
		}(), body, webhook.ErrNoMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Verify(tc.h, tc.body); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzVerify feeds arbitrary headers and bodies to the verifier: it must
// never panic, and must accept only what the secret signed.
func FuzzVerify(f *testing.F) {
	secret := webhook.Secret([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	webhook.SignHeaders(h, "msg_1", now, []byte("{}"), secret)
	f.Add("msg_1", h.Get("webhook-timestamp"), h.Get("webhook-signature"), []byte("{}"))
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "-1", "v1,AAAA v1,", []byte("x"))
	f.Add("msg_1", "99999999999999999999", "v1,====", []byte("x"))
	v := &webhook.Verifier{Secrets: []webhook.Secret{secret}, Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		if v.Verify(h, body) == nil {
			secs, _ := strconv.ParseInt(ts, 10, 64)
			want := webhook.Signature(secret, h.Get("webhook-id"), time.Unix(secs, 0), body)
			if !strings.Contains(" "+h.Get("webhook-signature")+" ", " "+want+" ") {
				t.Fatalf("accepted without the right signature: %q %q %q", id, ts, sig)
			}
		}
	})
}

// TestSecretText round-trips the whsec_ form and refuses short keys.
func TestSecretText(t *testing.T) {
	s := webhook.NewSecret()
	got, err := webhook.ParseSecret(s.String())
	if err != nil || string(got) != string(s) || !strings.HasPrefix(s.String(), "whsec_") {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"whsec_", "whsec_AAAA", "whsec_!!!", ""} {
		if _, err := webhook.ParseSecret(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCipherBindsEndpoint: a sealed secret opens only under the same key and
// the same additional data (its endpoint id).
func TestCipherBindsEndpoint(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	c1, _ := webhook.NewCipher(k1)
	c2, _ := webhook.NewCipher(k2)
	s := webhook.NewSecret()
	sealed, err := c1.Seal(s, []byte("endpoint-a"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), string(s)) {
		t.Fatal("secret visible in sealed form")
	}
	if got, err := c1.Open(sealed, []byte("endpoint-a")); err != nil || string(got) != string(s) {
		t.Fatalf("open: %v", err)
	}
	if _, err := c1.Open(sealed, []byte("endpoint-b")); err == nil {
		t.Fatal("opened under another endpoint's id")
	}
	if _, err := c2.Open(sealed, []byte("endpoint-a")); err == nil {
		t.Fatal("opened under another key")
	}
	none, _ := webhook.NewCipher(nil)
	if _, err := none.Seal(s, nil); !errors.Is(err, webhook.ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}
