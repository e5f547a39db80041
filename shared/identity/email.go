package identity

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// EmailRule is how one mail provider treats the local part of its
// addresses, so that different spellings of one mailbox dedupe to one
// account.
type EmailRule struct {
	IgnoreDots bool   // "a.b" and "ab" are one mailbox (Gmail)
	PlusTags   bool   // "ab+anything" delivers to "ab"
	Domain     string // the provider's canonical domain, if this one is an alias
}

// DefaultEmailRules are the providers whose aliasing is known. Providers not
// listed are only case-folded and trimmed.
var DefaultEmailRules = map[string]EmailRule{
	"gmail.com":      {IgnoreDots: true, PlusTags: true},
	"googlemail.com": {IgnoreDots: true, PlusTags: true, Domain: "gmail.com"},
	"outlook.com":    {PlusTags: true},
	"hotmail.com":    {PlusTags: true},
	"live.com":       {PlusTags: true},
	"icloud.com":     {PlusTags: true},
	"me.com":         {PlusTags: true, Domain: "icloud.com"},
	"fastmail.com":   {PlusTags: true},
	"proton.me":      {PlusTags: true},
	"protonmail.com": {PlusTags: true, Domain: "proton.me"},
}

// CanonicalEmail is the form emails are deduplicated on, under the default
// provider rules: trimmed, case-folded, and for known providers without the
// dots and +tags they ignore (A.B+x@gmail.com and ab@googlemail.com are both
// ab@gmail.com). It refuses what is not a bare address.
func CanonicalEmail(s string) (string, error) {
	return CanonicalEmailWith(DefaultEmailRules, s)
}

// CanonicalEmailWith is CanonicalEmail under the given provider rules.
func CanonicalEmailWith(rules map[string]EmailRule, s string) (string, error) {
	addr, err := cleanEmail(s)
	if err != nil {
		return "", err
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if r, ok := rules[domain]; ok {
		if r.PlusTags {
			local, _, _ = strings.Cut(local, "+")
		}
		if r.IgnoreDots {
			local = strings.ReplaceAll(local, ".", "")
		}
		if r.Domain != "" {
			domain = r.Domain
		}
		if local == "" {
			return "", errors.New("is not an email address")
		}
		// The rewritten address must still be one.
		if _, err := cleanEmail(local + "@" + domain); err != nil {
			return "", err
		}
	}
	return local + "@" + domain, nil
}

// cleanEmail trims and lower-cases s and checks it is a bare address with a
// dotted domain.
func cleanEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("is not an email address")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", errors.New("is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errors.New("is not an email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at:], ".") || strings.HasSuffix(s, ".") || strings.HasPrefix(s[at+1:], "[") {
		return "", errors.New("is not an email address")
	}
	return s, nil
}

//go:embed disposable_domains.txt
var disposableData []byte

// Blocklist is a set of email domains refused at signup; a listed domain
// also blocks its subdomains.
type Blocklist map[string]bool

// DefaultBlocklist is the shipped list of disposable-email domains
// (disposable_domains.txt, one domain a line, # comments). Update the file
// to update the list.
var DefaultBlocklist = func() Blocklist {
	b, err := ReadBlocklist(bytes.NewReader(disposableData))
	if err != nil {
		panic(err)
	}
	return b
}()

// ReadBlocklist parses a domain list: one domain per line, blank lines and
// lines starting with # ignored.
func ReadBlocklist(r io.Reader) (Blocklist, error) {
	out := Blocklist{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.ToLower(strings.TrimSpace(sc.Text()))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out[line] = true
	}
	return out, sc.Err()
}

// Blocks reports whether email's domain (or a parent of it) is listed.
func (b Blocklist) Blocks(email string) bool {
	at := strings.LastIndexByte(email, '@')
	d := strings.ToLower(strings.TrimSpace(email[at+1:]))
	for d != "" {
		if b[d] {
			return true
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			return false
		}
		d = rest
	}
	return false
}
