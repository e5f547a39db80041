// Package token mints the bearer secrets Framebroker hands out (session
// tokens, mailed one-time links, invitations): 256 random bits behind a
// recognisable prefix, stored only as their SHA-256.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// New returns a fresh token starting with prefix and its SHA-256, the only
// form that is stored.
func New(prefix string) (tok string, sum []byte, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	tok = prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return tok, Sum(tok), nil
}

// Sum is the SHA-256 of tok, as stored and looked up.
func Sum(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}
