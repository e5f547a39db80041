package identity

import (
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/problem"
)

// TestPasswordPolicy (Observed 5): ten spaces were a valid password. Now a
// password needs MinPasswordNonSpace characters that are not whitespace;
// spaces inside a passphrase still count toward the length.
func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{strings.Repeat(" ", 10), false},
		{strings.Repeat(" ", 20), false},
		{"\t\n\u00a0\u2003      ", false},
		{"ab        ", false},
		{"a b c d e f g  ", false}, // 7 non-space
		{"a b c d e f g h", true},  // 8 non-space
		{"correct horse battery", true},
		{"abcdefghij", true},
		{"abcdefgh", false}, // too short
		{strings.Repeat("x", MaxPasswordLen+1), false},
	} {
		err := checkPasswordPolicy("test", tc.pw)
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.pw, err)
		}
		if err != nil && !problem.Is(err, problem.Invalid) {
			t.Errorf("%q: kind %v", tc.pw, problem.KindOf(err))
		}
	}
}
