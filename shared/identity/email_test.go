package identity

import (
	"strings"
	"testing"
)

// TestCanonicalEmailDedupe: spellings of one mailbox share one canonical
// form; different mailboxes do not.
func TestCanonicalEmailDedupe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ada@example.com", "ada@example.com"},
		{"  Ada@Example.COM ", "ada@example.com"},
		{"A.B+x@gmail.com", "ab@gmail.com"},
		{"ab@googlemail.com", "ab@gmail.com"},
		{"AB+news+more@GoogleMail.com", "ab@gmail.com"},
		{"a.b@example.com", "a.b@example.com"},      // dots matter elsewhere
		{"a+b@example.com", "a+b@example.com"},      // +tags are not assumed
		{"ada+work@outlook.com", "ada@outlook.com"}, // +tags, dots kept
		{"a.da+x@outlook.com", "a.da@outlook.com"},
		{"ada+x@me.com", "ada@icloud.com"},
		{"ada@protonmail.com", "ada@proton.me"},
	} {
		got, err := CanonicalEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCanonicalEmailRefuses(t *testing.T) {
	for _, in := range []string{
		"", "ada", "ada@", "@example.com", "ada@localhost", "Ada <ada@example.com>",
		"+x@gmail.com", "...@gmail.com", "ada@example.com.", "a b@example.com",
		"ada@example.com\r\nBcc: x@example.com", strings.Repeat("a", 250) + "@example.com",
	} {
		if got, err := CanonicalEmail(in); err == nil {
			t.Errorf("CanonicalEmail(%q) = %q, want an error", in, got)
		}
	}
}

// TestCanonicalEmailConfigurable: the rules are per provider and replaceable.
func TestCanonicalEmailConfigurable(t *testing.T) {
	rules := map[string]EmailRule{"corp.example": {PlusTags: true, IgnoreDots: true}}
	got, err := CanonicalEmailWith(rules, "J.Doe+ci@corp.example")
	if err != nil || got != "jdoe@corp.example" {
		t.Fatalf("got %q, %v", got, err)
	}
	got, _ = CanonicalEmailWith(rules, "a.b+x@gmail.com")
	if got != "a.b+x@gmail.com" {
		t.Fatalf("gmail rule applied though not configured: %q", got)
	}
}

func TestBlocklist(t *testing.T) {
	for _, tc := range []struct {
		email string
		want  bool
	}{
		{"x@mailinator.com", true},
		{"x@MAILINATOR.com", true},
		{"x@eu.mailinator.com", true}, // subdomains too
		{"x@yopmail.fr", true},
		{"x@notmailinator.com", false},
		{"x@gmail.com", false},
		{"x@example.com", false},
	} {
		if got := DefaultBlocklist.Blocks(tc.email); got != tc.want {
			t.Errorf("Blocks(%q) = %v, want %v", tc.email, got, tc.want)
		}
	}
	b, err := ReadBlocklist(strings.NewReader("# comment\n\n  Spam.Example \n"))
	if err != nil || len(b) != 1 || !b.Blocks("a@spam.example") {
		t.Fatalf("ReadBlocklist = %v, %v", b, err)
	}
	if len(DefaultBlocklist) < 40 {
		t.Fatalf("shipped blocklist has only %d domains", len(DefaultBlocklist))
	}
}

// FuzzCanonicalEmail: the canonical form is idempotent, is itself a valid
// address, is lower-case and trimmed, and never grows.
func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range []string{"A.B+x@gmail.com", "ab@googlemail.com", " x@Example.com ", "+@gmail.com",
		"a@b.c", "\"a b\"@example.com", "a@[127.0.0.1]", "ü@exämple.com", "a.@gmail.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalEmail(s)
		if err != nil {
			return
		}
		again, err := CanonicalEmail(c)
		if err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, c, again, err)
		}
		if c != strings.ToLower(strings.TrimSpace(c)) || len(c) > len(strings.TrimSpace(s))+len("gmail.com") {
			t.Fatalf("canonical %q of %q not folded or grew", c, s)
		}
		_ = DefaultBlocklist.Blocks(c)
	})
}
