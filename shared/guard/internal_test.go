package guard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/framebroker/framebroker/shared/guard"
)

// TestInternalPolicy proves a secret-authenticated route runs its handler
// only for the exact secret: missing, empty, wrong, prefix and extended
// secrets get 401 and the handler does not run; an unconfigured (empty)
// secret refuses everything.
func TestInternalPolicy(t *testing.T) {
	const hdr = "X-Cron-Secret"
	for _, tc := range []struct {
		name       string
		configured string
		sent       *string
		want       int
	}{
		{"correct", "s3cret-value", ptr("s3cret-value"), 200},
		{"missing", "s3cret-value", nil, 401},
		{"empty", "s3cret-value", ptr(""), 401},
		{"wrong", "s3cret-value", ptr("s3cret-valuX"), 401},
		{"prefix", "s3cret-value", ptr("s3cret"), 401},
		{"extended", "s3cret-value", ptr("s3cret-value2"), 401},
		{"unconfigured, empty sent", "", ptr(""), 401},
		{"unconfigured, missing", "", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := 0
			h := func(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
				ran++
				w.WriteHeader(200)
				return nil
			}
			mux, err := guard.NewMux([]guard.Route{{Method: "POST", Pattern: "/internal/x/{name}", Function: "cron",
				Policy: guard.Internal(hdr, []byte(tc.configured)), Handler: h}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/internal/x/job", nil)
			if tc.sent != nil {
				req.Header.Set(hdr, *tc.sent)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if (ran == 1) != (tc.want == 200) {
				t.Fatalf("handler ran %d times", ran)
			}
		})
	}
}

// TestInternalPolicyRefusesBadRoutes: an internal route needs a header name
// and may not name a workspace.
func TestInternalPolicyRefusesBadRoutes(t *testing.T) {
	h := func(http.ResponseWriter, *http.Request, *guard.Access) error { return nil }
	for _, r := range []guard.Route{
		{Method: "POST", Pattern: "/internal/x", Policy: guard.Internal("", []byte("s")), Handler: h},
		{Method: "POST", Pattern: "/internal/{ws}/x", Policy: guard.Internal("X-S", []byte("s")), Handler: h},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%s accepted", r.Pattern)
		}
	}
}

func ptr(s string) *string { return &s }
