package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/guard"
)

// publicRoutes is the complete list of routes that may be called without a
// session. Adding a public route means adding it here, in review.
var publicRoutes = map[string]bool{
	"GET /healthz":         true,
	"POST /v1/auth/signup": true,
	"POST /v1/auth/login":  true,
	// Identity (issue 7): each is rate limited per IP (and per email where
	// it takes one) and answers alike whether or not the account exists.
	"POST /v1/auth/password-reset":           true,
	"POST /v1/auth/password-reset/confirm":   true,
	"POST /v1/auth/magic-link":               true,
	"POST /v1/auth/magic-link/confirm":       true,
	"POST /v1/auth/verify-email":             true,
	"GET /v1/auth/oauth/{provider}/start":    true,
	"GET /v1/auth/oauth/{provider}/callback": true,
	// Provenance (issue 4): {ref} is "keys" (GET: public keys), "verify"
	// (POST: envelope in, checks out) or a release id (GET: its envelope).
	"GET /v1/provenance/keys":      true,
	"POST /v1/provenance/verify":   true,
	"GET /v1/provenance/{release}": true,
	// Content Credentials: anyone holding an output checks it (bounded
	// body, no tenant data); the root certificate is public by design.
	"POST /v1/provenance/credentials/verify":  true,
	"GET /v1/provenance/credentials/root.pem": true,
	// Billing (issue 8): Stripe's events, authenticated by Stripe-Signature
	// (HMAC-SHA256, 5-minute tolerance) and applied once per event id.
	"POST /v1/stripe/webhook": true,
	// The API document (issue 15), generated from this table.
	"GET /v1/openapi.json": true,
	// Pages people land on (issue 15): static HTML and their script and
	// style; they call the routes above, nothing else.
	"GET /verify-email":           true,
	"GET /reset-password":         true,
	"GET /magic-link":             true,
	"GET /accept-invitation":      true,
	"GET /oauth-complete":         true,
	"GET /sessions":               true,
	"GET /login":                  true,
	"GET /signup":                 true,
	"GET /verify":                 true,
	"GET /assets/pages/app.css":   true,
	"GET /assets/pages/app.js":    true,
	"GET /assets/pages/sha256.js": true,
	"GET /assets/pages/verify.js": true,
}

func tableForTest(t *testing.T) []guard.Route {
	t.Helper()
	a, err := NewWith(config.Config{UploadTTL: 1}, nil, nil, nil)
	if err != nil {
		t.Fatalf("router table does not build: %v", err)
	}
	return a.Routes()
}

// TestEveryRouteDeclaresAGuard walks the router table (T-01).
func TestEveryRouteDeclaresAGuard(t *testing.T) {
	routes := tableForTest(t)
	if len(routes) < 20 {
		t.Fatalf("only %d routes: table not assembled?", len(routes))
	}
	seenPublic := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Pattern
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if r.Function == "" {
			t.Errorf("%s: no Lambda function serves it", key)
		}
		switch r.Policy.Level {
		case guard.LevelPublic:
			if !publicRoutes[key] {
				t.Errorf("%s is public but not in the reviewed public list", key)
			}
			seenPublic[key] = true
		case guard.LevelMember:
			if r.Method != http.MethodGet && r.Policy.MinRole < guard.Editor {
				t.Errorf("%s writes but admits viewers", key)
			}
		case guard.LevelInternal:
			// Secret-authenticated, not public: but only under /internal/.
			if !strings.HasPrefix(r.Pattern, "/internal/") {
				t.Errorf("%s has an internal (shared-secret) policy outside /internal/", key)
			}
		}
		if strings.Contains(r.Pattern, "{ws}") && r.Policy.Level != guard.LevelMember {
			t.Errorf("%s names a workspace but is not member-guarded", key)
		}
	}
	for k := range publicRoutes {
		if !seenPublic[k] {
			t.Errorf("public list names %s, which is not in the table", k)
		}
	}
}

// TestTableRefusesUnguardedRoute proves the table check can fail.
func TestTableRefusesUnguardedRoute(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request, *guard.Access) error { return nil }
	for _, tc := range []struct {
		name string
		r    guard.Route
	}{
		{"no policy", guard.Route{Method: "GET", Pattern: "/v1/x", Handler: h}},
		{"ws without member policy", guard.Route{Method: "GET", Pattern: "/v1/workspaces/{ws}/x", Policy: guard.Authenticated(), Handler: h}},
		{"unknown resource", guard.Route{Method: "GET", Pattern: "/v1/workspaces/{ws}/jobz/{jobz}", Policy: guard.Member(guard.Viewer), Handler: h}},
		{"member without ws", guard.Route{Method: "GET", Pattern: "/v1/x", Policy: guard.Member(guard.Viewer), Handler: h}},
		{"member without role", guard.Route{Method: "GET", Pattern: "/v1/workspaces/{ws}", Policy: guard.Policy{Level: guard.LevelMember}, Handler: h}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := guard.NewMux([]guard.Route{tc.r}, nil, nil); err == nil {
				t.Fatal("NewMux accepted the route")
			}
		})
	}
}
