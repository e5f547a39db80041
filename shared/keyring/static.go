package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Static is a Provider over a keyring document held in memory: in AWS, the
// same JSON as the local keyring.json, stored in Secrets Manager (the
// FRAMEBROKER_KEYRING setting, which the Lambdas resolve from the operator's
// secret at cold start) and rotated by replacing the secret with the output
// of `framebroker keyring rotate`.
type Static struct{ f dirFile }

// ParseKeyring reads a keyring document (the keyring.json format).
func ParseKeyring(b []byte) (*Static, error) {
	var f dirFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if len(f.Ed25519) == 0 || len(f.HMAC) == 0 {
		return nil, errors.New("keyring: document holds no keys")
	}
	for _, k := range f.Ed25519 {
		if len(k.Seed) != 32 {
			return nil, fmt.Errorf("keyring: key %s: seed is not 32 bytes", k.ID)
		}
	}
	for _, k := range f.HMAC {
		if len(k.Secret) < 32 {
			return nil, fmt.Errorf("keyring: hmac %s: secret shorter than 32 bytes", k.ID)
		}
	}
	return &Static{f: f}, nil
}

// NewKeyring returns a fresh keyring document with one key of each kind.
func NewKeyring(now time.Time) ([]byte, error) {
	f := dirFile{}
	f.add(now.UTC())
	return json.MarshalIndent(f, "", "  ")
}

// RotateKeyring returns doc with new keys in service from now; the old
// public keys stay published with NotAfter = now.
func RotateKeyring(doc []byte, now time.Time) ([]byte, error) {
	s, err := ParseKeyring(doc)
	if err != nil {
		return nil, err
	}
	s.f.add(now.UTC())
	return json.MarshalIndent(s.f, "", "  ")
}

// Signer implements Provider.
func (s *Static) Signer(context.Context) (Signer, error) { return s.f.signer(), nil }

// PublicKeys implements Provider.
func (s *Static) PublicKeys(context.Context) (Set, error) { return s.f.publicKeys(), nil }

// Signers implements SignerHistory.
func (s *Static) Signers(context.Context) ([]Signer, error) { return s.f.signers(), nil }

// HMAC implements Provider.
func (s *Static) HMAC(_ context.Context, id string) (string, []byte, error) { return s.f.hmac(id) }
