package app_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

var (
	idRE   = regexp.MustCompile(`\b[a-z]+_[0-9a-f]{32}\b`)
	timeRE = regexp.MustCompile(`"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)"`)
	ridRE  = regexp.MustCompile(`"request_id":"[^"]*"`)
)

// normal is a reply body with the address replaced, random ids and
// timestamps masked, after checking that every timestamp is UTC with at
// most microsecond precision (the database clock's).
func normal(t *testing.T, body []byte, email string) string {
	t.Helper()
	s := strings.ReplaceAll(string(body), email, "<email>")
	s = ridRE.ReplaceAllString(s, `"request_id":"<rid>"`)
	for _, m := range timeRE.FindAllStringSubmatch(s, -1) {
		if m[3] != "Z" || len(m[2]) > 7 {
			t.Errorf("timestamp %s: not UTC at microsecond precision (the database clock)", m[0])
		}
	}
	s = timeRE.ReplaceAllString(s, `"<time>"`)
	return idRE.ReplaceAllString(s, "<id>")
}

// TestIndistinguishableReplies (Observed 2 and 3): every route that takes
// an email answers an address with an account and one without byte for
// byte alike, apart from random ids and timestamps, which come from one
// clock at one precision: signup (a decoy for an existing account),
// invitations (no lookup at all), password reset and magic link.
func TestIndistinguishableReplies(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws := e.Workspace(owner, "W")
	e.User("ada@example.com")
	const known, unknown = "ada@example.com", "nobody@example.com"
	for _, tc := range []struct {
		name, path, token string
		body              func(email string) any
	}{
		{"signup", "/v1/auth/signup", "", func(m string) any { return map[string]string{"email": m, "password": "correct horse battery"} }},
		{"invitation", "/v1/workspaces/" + ws + "/invitations", owner, func(m string) any { return map[string]string{"email": m, "role": "viewer"} }},
		{"password reset", "/v1/auth/password-reset", "", func(m string) any { return map[string]string{"email": m} }},
		{"magic link", "/v1/auth/magic-link", "", func(m string) any { return map[string]string{"email": m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.Do("POST", tc.path, tc.token, tc.body(known))
			b := e.Do("POST", tc.path, tc.token, tc.body(unknown))
			if a.Status != b.Status || a.Status >= 300 {
				t.Fatalf("status %d vs %d: %s / %s", a.Status, b.Status, a.Body, b.Body)
			}
			if a.Header.Get("Content-Type") != b.Header.Get("Content-Type") {
				t.Fatalf("content types differ")
			}
			na, nb := normal(t, a.Body, known), normal(t, b.Body, unknown)
			if na != nb {
				t.Fatalf("replies differ:\n existing %s\n unknown  %s", na, nb)
			}
		})
	}
	// The probe of Observed 2: invitations answer 201 for both (above) and
	// nothing in the workspace tells the two apart either.
	e.Must(http.StatusOK, "GET", "/v1/workspaces/"+ws+"/invitations", owner, nil)
}
