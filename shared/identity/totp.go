package identity

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"
)

// TOTP parameters (RFC 6238 defaults, what every authenticator app
// assumes): HMAC-SHA-1, six digits, 30-second steps, one step of drift
// accepted either way.
const (
	TOTPDigits = 6
	TOTPPeriod = 30 * time.Second
	TOTPSkew   = 1
)

// HOTP is the RFC 4226 one-time password of key at counter, with digits
// digits (HMAC-SHA-1, dynamic truncation).
func HOTP(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// TOTPStep is the RFC 6238 time step T at t (Unix epoch, 30 s).
func TOTPStep(t time.Time) int64 {
	return t.Unix() / int64(TOTPPeriod/time.Second)
}

// TOTP is the six-digit code of key at t.
func TOTP(key []byte, t time.Time) string {
	return HOTP(key, uint64(TOTPStep(t)), TOTPDigits)
}

// matchTOTP returns the step within ±TOTPSkew of now whose code is code
// and which is later than after (the last step already used), or false.
// Every candidate is compared in constant time.
func matchTOTP(key []byte, code string, now time.Time, after int64) (int64, bool) {
	if len(code) != TOTPDigits {
		return 0, false
	}
	cur := TOTPStep(now)
	var found int64
	ok := false
	for d := int64(-TOTPSkew); d <= TOTPSkew; d++ {
		st := cur + d
		if hmac.Equal([]byte(HOTP(key, uint64(st), TOTPDigits)), []byte(code)) && st > after && !ok {
			found, ok = st, true
		}
	}
	return found, ok
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// otpauthURI is the Key URI authenticator apps import (usually as a QR
// code): otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=….
func otpauthURI(issuer, account string, key []byte) string {
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(key))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(TOTPDigits))
	q.Set("period", fmt.Sprint(int(TOTPPeriod/time.Second)))
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + q.Encode()
}
