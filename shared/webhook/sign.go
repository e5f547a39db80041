package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret's text form.
const SecretPrefix = "whsec_"

// secretBytes is the size of a generated secret (Standard Webhooks allows
// 24 to 64 bytes).
const secretBytes = 32

// Tolerance is the verifier's replay window: a delivery whose timestamp is
// more than this far from the verifier's clock, either way, is refused.
const Tolerance = 5 * time.Minute

// Secret is an endpoint's raw signing key.
type Secret []byte

// NewSecret returns a fresh random secret.
func NewSecret() Secret {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b)
	return b
}

// String is the secret's text form, "whsec_" + base64: what the customer
// is shown once and configures in their verifier.
func (s Secret) String() string { return SecretPrefix + base64.StdEncoding.EncodeToString(s) }

// ParseSecret reads a secret's text form ("whsec_" optional).
func ParseSecret(s string) (Secret, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil || len(b) < 24 || len(b) > 64 {
		return nil, errors.New("webhook: a secret is whsec_ followed by the base64 of 24 to 64 bytes")
	}
	return b, nil
}

// Signature is "v1," + base64(HMAC-SHA256(secret, id "." timestamp "." body)).
func Signature(secret Secret, msgID string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignHeaders sets the three Standard Webhooks headers on h, signing with
// every secret given (space-separated signatures, newest first), as during a
// rotation's overlap window.
func SignHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...Secret) {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Signature(s, msgID, ts, body)
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// Verification errors.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp   = errors.New("webhook: webhook-timestamp is not a Unix time in seconds")
	ErrTooOld         = errors.New("webhook: timestamp too old (replay window is 5 minutes)")
	ErrTooNew         = errors.New("webhook: timestamp too far in the future")
	ErrNoMatch        = errors.New("webhook: no signature matches")
)

// Verifier checks deliveries, for customers' receivers and for our tests.
// Give it the endpoint's secret; during a rotation, give it both.
type Verifier struct {
	Secrets []Secret
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewVerifier builds a Verifier from secrets in text form.
func NewVerifier(secrets ...string) (*Verifier, error) {
	v := &Verifier{}
	for _, s := range secrets {
		b, err := ParseSecret(s)
		if err != nil {
			return nil, err
		}
		v.Secrets = append(v.Secrets, b)
	}
	return v, nil
}

// maxHeader bounds the headers a verifier will parse.
const maxHeader = 4096

// Verify checks the headers and body of a delivery: the three headers are
// present, the timestamp is within Tolerance of now (refusing replays of old
// deliveries), and one of the v1 signatures is the HMAC of id.timestamp.body
// under one of the secrets (compared in constant time). It returns nil only
// for an authentic, fresh delivery.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	msgID, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if msgID == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if len(msgID)+len(tsText)+len(sigs) > maxHeader {
		return fmt.Errorf("%w: headers too long", ErrNoMatch)
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || secs < 0 || tsText != strconv.FormatInt(secs, 10) {
		return ErrBadTimestamp
	}
	ts := time.Unix(secs, 0)
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	switch t := now(); {
	case ts.Before(t.Add(-Tolerance)):
		return ErrTooOld
	case ts.After(t.Add(Tolerance)):
		return ErrTooNew
	}
	for _, s := range v.Secrets {
		want := []byte(Signature(s, msgID, ts, body))
		for _, got := range strings.Fields(sigs) {
			if hmac.Equal([]byte(got), want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}
