package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/framebroker/framebroker/shared/seal"
)

// Cipher seals endpoint secrets at rest with AES-256-GCM under a key from
// the configuration (FRAMEBROKER_WEBHOOK_KEY; Secrets Manager in AWS). The
// endpoint's id is bound as additional data, so a sealed secret copied onto
// another endpoint's row does not open.
type Cipher struct{ box *seal.Box }

// ErrNoKey is returned when no webhook key is configured: endpoints cannot
// be created or signed for.
var ErrNoKey = errors.New("webhook: no secret-encryption key configured (FRAMEBROKER_WEBHOOK_KEY)")

// NewCipher builds a Cipher from a 32-byte key. A nil key gives a Cipher
// that refuses to seal or open (ErrNoKey).
func NewCipher(key []byte) (*Cipher, error) {
	if key == nil {
		return &Cipher{}, nil
	}
	b, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Cipher{box: b}, nil
}

// ParseKey reads a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("webhook: key must be the base64 of 32 bytes")
}

// Seal encrypts secret for the row identified by ad.
func (c *Cipher) Seal(secret Secret, ad []byte) ([]byte, error) {
	if c == nil || c.box == nil {
		return nil, ErrNoKey
	}
	return c.box.Seal(secret, ad), nil
}

// Open decrypts what Seal produced for the same ad.
func (c *Cipher) Open(sealed, ad []byte) (Secret, error) {
	if c == nil || c.box == nil {
		return nil, ErrNoKey
	}
	b, err := c.box.Open(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("webhook: open secret: %w", err)
	}
	return b, nil
}
