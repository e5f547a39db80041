package broker

import (
	"net/url"
	"strings"
)

// secretParams are the query parameters of a presigned URL that must never
// be written down: the signature and the security token. The rest (key,
// algorithm, date, expiry) is kept, so the trail still says what was
// authorised and until when.
var secretParams = []string{"X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"}

// Redact returns s with the secret parts of any presigned URL replaced by
// REDACTED. Strings that are not URLs are returned unchanged.
func Redact(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "?") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "REDACTED-URL"
	}
	q := u.Query()
	changed := false
	for _, p := range secretParams {
		for k := range q {
			if strings.EqualFold(k, p) {
				q.Set(k, "REDACTED")
				changed = true
			}
		}
	}
	if !changed {
		return s
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RedactAll redacts every element of argv.
func RedactAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if k, v, ok := strings.Cut(a, "="); ok && strings.Contains(v, "://") {
			out[i] = k + "=" + Redact(v)
			continue
		}
		out[i] = Redact(a)
	}
	return out
}
