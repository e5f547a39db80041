// Package seal encrypts small secrets at rest (webhook signing secrets, TOTP
// seeds) with AES-256-GCM: a random nonce, then the ciphertext, with the
// owning row's identity bound as additional data so a sealed value copied
// onto another row does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Box seals and opens under one 32-byte key.
type Box struct{ aead cipher.AEAD }

// New builds a Box from a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: key must be 32 bytes, got %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Box{aead: g}, nil
}

// Seal encrypts plain for the row identified by ad.
func (b *Box) Seal(plain, ad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plain, ad)
}

// ErrShort is returned for a sealed value shorter than its nonce.
var ErrShort = errors.New("seal: sealed value too short")

// Open decrypts what Seal produced for the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrShort
	}
	return b.aead.Open(nil, sealed[:n], sealed[n:], ad)
}
