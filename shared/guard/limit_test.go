package guard_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/guard"
)

type allowAll struct{}

func (allowAll) Limit(context.Context, http.Header, *guard.Access) error { return nil }

// TestLimitNeedsACaller: a rate limit may only sit on routes with an
// authenticated caller (the limiter keys on the user and workspace).
func TestLimitNeedsACaller(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request, *guard.Access) error { return nil }
	for _, tc := range []struct {
		route guard.Route
		ok    bool
	}{
		{guard.Route{Method: "POST", Pattern: "/v1/x", Policy: guard.Public(), Handler: h, Limit: allowAll{}}, false},
		{guard.Route{Method: "POST", Pattern: "/internal/x", Policy: guard.Internal("X-S", []byte("s")), Handler: h, Limit: allowAll{}}, false},
		{guard.Route{Method: "POST", Pattern: "/v1/x", Policy: guard.Authenticated(), Handler: h, Limit: allowAll{}}, true},
		{guard.Route{Method: "POST", Pattern: "/v1/workspaces/{ws}/x", Policy: guard.Member(guard.Editor), Handler: h, Limit: allowAll{}}, true},
	} {
		if err := tc.route.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s %s: Validate() = %v, want ok=%v", tc.route.Policy, tc.route.Pattern, err, tc.ok)
		}
	}
}
