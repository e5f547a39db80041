// Package identity is users, passwords and sessions (T-03): Argon2id password
// hashes in PHC string form, session tokens stored only as SHA-256, and the
// Authenticate call that both the Lambda authorizer and the local middleware
// use to turn a bearer token into a guard.Principal.
package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum configuration (m = 19 MiB, t = 2,
// p = 1), with a 16-byte salt and a 32-byte key.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length limits, in bytes. The upper bound stops a caller from
// making the server hash megabytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// MinPasswordNonSpace is how many characters of a password must not be
// whitespace: 8, the minimum length NIST SP 800-63B sets for memorized
// secrets chosen by users. Spaces still count toward MinPasswordLen (a
// passphrase like "correct horse battery" is welcome), but ten spaces, or
// two letters padded with spaces, are among the first things a guesser
// tries and add almost nothing to guess.
const MinPasswordNonSpace = 8

// HashPassword returns the PHC string of password under Argon2id:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded base64).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("identity: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("identity: malformed password hash")

// CheckPassword reports whether password matches the PHC string phc. The
// parameters are read from phc, so hashes made with older parameters still
// verify.
func CheckPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 64*1024 || t > 10 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login names an unknown email, so the
// reply takes as long as for a known one.
var dummyHash = func() string {
	h, err := HashPassword("framebroker-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()
