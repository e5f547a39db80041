package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/problem"
)

// leaves lists the paths (as the decoder names them: a.b, a[0]) of every
// string in a JSON value.
func leaves(v any, path string, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, path)
	case map[string]any:
		for k, c := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			leaves(c, p, out)
		}
	case []any:
		for i, c := range x {
			leaves(c, path+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

// withNUL returns v with the string at path replaced by one holding NUL.
func withNUL(v any, path, at string) any {
	switch x := v.(type) {
	case string:
		if path == at {
			return "a\x00b"
		}
		return x
	case map[string]any:
		out := map[string]any{}
		for k, c := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out[k] = withNUL(c, p, at)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = withNUL(c, path+"["+strconv.Itoa(i)+"]", at)
		}
		return out
	}
	return v
}

// TestNULOnEveryTextField (Observed 5): walking the router table, every
// string field of every route's example body, sent with a NUL character
// (which Postgres cannot store), is refused with 400 problem+json naming
// that field — never a 500 — as workspace A's owner, with A's real ids in
// the path so the request reaches the handler.
func TestNULOnEveryTextField(t *testing.T) {
	e := apptest.New(t)
	tokA, _ := e.User("a@example.com")
	wsA := e.Workspace(tokA, "A")
	f := newFixtures(t, e, tokA, wsA)
	var fields int
	for _, r := range e.App.Routes() {
		if r.Example == "" || r.Policy.Level == guard.LevelInternal {
			continue
		}
		var ex any
		dec := json.NewDecoder(bytes.NewReader([]byte(r.Example)))
		dec.UseNumber()
		if err := dec.Decode(&ex); err != nil {
			t.Fatalf("%s %s: example is not JSON: %v", r.Method, r.Pattern, err)
		}
		var paths []string
		leaves(ex, "", &paths)
		for _, p := range paths {
			t.Run(r.Method+" "+r.Pattern+" "+p, func(t *testing.T) {
				fields++
				body, _ := json.Marshal(withNUL(ex, "", p))
				token := ""
				if r.Policy.Level != guard.LevelPublic {
					token = tokA
				}
				got := e.Do(r.Method, fill(r.Pattern, f.a), token, string(body))
				var pb problem.Body
				if err := json.Unmarshal(got.Body, &pb); err != nil || got.Status != http.StatusBadRequest ||
					got.Header.Get("Content-Type") != "application/problem+json" || len(pb.Errors) != 1 || pb.Errors[0].Field != p {
					t.Fatalf("status %d, want 400 naming %q: %s", got.Status, p, got.Body)
				}
			})
		}
	}
	if fields < 20 {
		t.Fatalf("only %d text fields walked: table not walked?", fields)
	}
}
