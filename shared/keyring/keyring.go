// Package keyring holds the signing keys behind the ledger's checkpoints and
// the provenance manifests: Ed25519 keys (published, with validity windows,
// so old signatures stay checkable after a rotation) and HMAC master secrets
// (never published; per-workspace secrets are derived from them).
//
// Keys never live in the database they vouch for: someone able to rewrite
// ledger rows must not also be able to re-sign them. Provider is the port; Dir
// is the local adapter (a 0600 JSON file generated on first run). In AWS an
// adapter over Secrets Manager or KMS implements the same interface in the
// Lambda wiring; this package imports no AWS SDK.
package keyring

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AlgEd25519 is the only signature algorithm published.
const AlgEd25519 = "ed25519"

// PublicKey is a published verification key and the window in which it
// signed. A key with NotAfter nil is the current one.
type PublicKey struct {
	ID        string            `json:"keyid"`
	Algorithm string            `json:"algorithm"`
	Key       ed25519.PublicKey `json:"public_key"` // base64 (standard, padded) in JSON
	NotBefore time.Time         `json:"not_before"`
	NotAfter  *time.Time        `json:"not_after,omitempty"`
}

// ValidAt reports whether the key was in service at t.
func (k PublicKey) ValidAt(t time.Time) bool {
	if t.Before(k.NotBefore) {
		return false
	}
	return k.NotAfter == nil || !t.After(*k.NotAfter)
}

// Set is a list of public keys, as served by GET /v1/provenance/keys.
type Set struct {
	Keys []PublicKey `json:"keys"`
}

// Lookup finds the key with id.
func (s Set) Lookup(id string) (PublicKey, bool) {
	for _, k := range s.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return PublicKey{}, false
}

// KeyID is the identifier of an Ed25519 public key: "ed25519-" and the first
// 16 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256Sum(pub)
	return "ed25519-" + hex.EncodeToString(sum[:16])
}

// ParseSet reads public keys from outside input (a --key file): either the
// JSON document GET /v1/provenance/keys returns, or one bare Ed25519 public
// key as base64 or hex (its keyid is then KeyID of it, valid at all times).
func ParseSet(b []byte) (Set, error) {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") {
		var set Set
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			return Set{}, fmt.Errorf("keyring: key set: %w", err)
		}
		if len(set.Keys) == 0 {
			return Set{}, errors.New("keyring: key set has no keys")
		}
		for i, k := range set.Keys {
			if k.Algorithm != AlgEd25519 || len(k.Key) != ed25519.PublicKeySize || k.ID == "" {
				return Set{}, fmt.Errorf("keyring: key %d: want an ed25519 key of %d bytes with a keyid", i, ed25519.PublicKeySize)
			}
		}
		return set, nil
	}
	var raw []byte
	if h, err := hex.DecodeString(s); err == nil && len(h) == ed25519.PublicKeySize {
		raw = h
	} else if d, err := base64.StdEncoding.DecodeString(s); err == nil && len(d) == ed25519.PublicKeySize {
		raw = d
	} else if d, err := base64.RawURLEncoding.DecodeString(s); err == nil && len(d) == ed25519.PublicKeySize {
		raw = d
	} else {
		return Set{}, errors.New("keyring: want a key set (JSON) or a 32-byte Ed25519 public key in base64 or hex")
	}
	pub := ed25519.PublicKey(raw)
	return Set{Keys: []PublicKey{{ID: KeyID(pub), Algorithm: AlgEd25519, Key: pub}}}, nil
}

// Signer is a private signing key.
type Signer struct {
	ID  string
	Key ed25519.PrivateKey
}

// Sign signs msg.
func (s Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.Key, msg) }

// Provider is where keys come from.
type Provider interface {
	// Signer is the current Ed25519 signing key.
	Signer(ctx context.Context) (Signer, error)
	// PublicKeys lists every Ed25519 key ever in service, current and retired.
	PublicKeys(ctx context.Context) (Set, error)
	// HMAC returns the HMAC master secret with id, or the current one (and its
	// id) when id is empty. ErrUnknownKey if there is none with that id.
	HMAC(ctx context.Context, id string) (keyID string, secret []byte, err error)
}

// SignerHistory is implemented by providers that still hold the private
// halves of retired Ed25519 keys (Dir, Static): Signers lists every key,
// oldest first, the current one last. Content Credentials roots are
// self-signed over these keys, and this is how the roots of earlier keys
// stay published after a rotation.
type SignerHistory interface {
	Signers(ctx context.Context) ([]Signer, error)
}

// ErrUnknownKey is returned for a key id the provider does not hold.
var ErrUnknownKey = errors.New("keyring: unknown key")
