package problem_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/problem"
)

// TestRefusalTypes (Observed 7): each refusal answers its own problem type
// with its Kind's status, also when wrapped, and two refusals of the same
// status are told apart by `type`.
func TestRefusalTypes(t *testing.T) {
	seen := map[string]problem.Refusal{}
	for _, f := range problem.Refusals() {
		t.Run(f.Slug, func(t *testing.T) {
			err := fmt.Errorf("outer: %w", problem.Wrap("test.Outer", problem.Internal, f.E("test.Op", "because")))
			w := httptest.NewRecorder()
			problem.Write(w, httptest.NewRequest("GET", "/x", nil), err)
			var b problem.Body
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if w.Code != f.Kind.Status() || b.Status != f.Kind.Status() {
				t.Errorf("status %d/%d, want %d", w.Code, b.Status, f.Kind.Status())
			}
			if b.Type != problem.TypeBase+f.Slug || b.Title != f.Title || b.Detail != "because" {
				t.Errorf("body %+v", b)
			}
			if !f.Is(err) || problem.KindOf(err) != f.Kind {
				t.Errorf("Is/KindOf lost the refusal through wrapping")
			}
			if f.Advice == "" {
				t.Error("no advice for clients")
			}
		})
		if g, dup := seen[f.Slug]; dup {
			t.Errorf("slug %s twice (%v, %v)", f.Slug, g, f)
		}
		seen[f.Slug] = f
	}
	for _, pair := range [][2]problem.Refusal{
		{problem.EmailUnverified, problem.RoleInsufficient},
		{problem.CardRequired, problem.CreditsInsufficient},
		{problem.CreditsInsufficient, problem.SpendCeilingReached},
	} {
		if pair[0].Kind != pair[1].Kind || pair[0].Type() == pair[1].Type() {
			t.Errorf("%s and %s: same status must come with different types", pair[0].Slug, pair[1].Slug)
		}
	}
}

// TestREADMEListsRefusals: the README's refusal table names every refusal
// type, so clients can look up what to do.
func TestREADMEListsRefusals(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range problem.Refusals() {
		if !strings.Contains(string(b), "| `"+f.Slug+"` |") {
			t.Errorf("README.md has no row for refusal `%s` (| `%s` | status | what to do |)", f.Slug, f.Slug)
		}
	}
}
