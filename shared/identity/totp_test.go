package identity

import (
	"strings"
	"testing"
	"time"
)

// TestTOTPVectors checks the SHA-1 rows of RFC 6238 Appendix B (8 digits)
// and their 6-digit truncations.
func TestTOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(tc.unix, 0)
		if got := HOTP(key, uint64(TOTPStep(at)), 8); got != tc.want {
			t.Errorf("T=%d: HOTP8 = %s, want %s", tc.unix, got, tc.want)
		}
		if got := TOTP(key, at); got != tc.want[2:] {
			t.Errorf("T=%d: TOTP = %s, want %s", tc.unix, got, tc.want[2:])
		}
	}
}

func TestMatchTOTPWindowAndReplay(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	step := TOTPStep(now)
	for _, tc := range []struct {
		name  string
		at    time.Time
		after int64
		ok    bool
	}{
		{"current step", now, 0, true},
		{"one step early", now.Add(-TOTPPeriod), 0, true},
		{"one step late", now.Add(TOTPPeriod), 0, true},
		{"two steps early", now.Add(-2 * TOTPPeriod), 0, false},
		{"two steps late", now.Add(2 * TOTPPeriod), 0, false},
		{"same step replayed", now, step, false},
		{"older than last used", now.Add(-TOTPPeriod), step, false},
		{"next step after use", now.Add(TOTPPeriod), step, true},
	} {
		_, ok := matchTOTP(key, TOTP(key, tc.at), now, tc.after)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := matchTOTP(key, bad, now, 0); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOtpauthURI(t *testing.T) {
	u := otpauthURI("Framebroker", "ada@example.com", []byte("12345678901234567890"))
	if !strings.HasPrefix(u, "otpauth://totp/Framebroker:ada@example.com?") || !strings.Contains(u, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") {
		t.Fatal(u)
	}
}

// FuzzMatchTOTP: any submitted code is either refused or is exactly the
// six-digit code of a step in the window after the last used one.
func FuzzMatchTOTP(f *testing.F) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	for _, s := range []string{"050471", "", "0", "abcdef", "1405047", "٠٥٠٤٧١", "050471\x00"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, code string, after int64) {
		st, ok := matchTOTP(key, code, now, after)
		if !ok {
			return
		}
		if st <= after || st < TOTPStep(now)-TOTPSkew || st > TOTPStep(now)+TOTPSkew || HOTP(key, uint64(st), TOTPDigits) != code {
			t.Fatalf("accepted %q at step %d (after %d)", code, st, after)
		}
	})
}
