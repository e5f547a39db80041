package guard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRoutingProblems: unknown paths and methods are problem+json, and a
// literal segment may sit beside a wildcard at the same position.
func TestRoutingProblems(t *testing.T) {
	ok := func(name string) HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, _ *Access) error {
			w.Write([]byte(name))
			return nil
		}
	}
	h, err := NewMux([]Route{
		{Method: "GET", Pattern: "/v1/things/keys", Policy: Public(), Handler: ok("keys")},
		{Method: "GET", Pattern: "/v1/things/{thing}", Policy: Public(), Handler: ok("thing")},
		{Method: "POST", Pattern: "/v1/things/verify", Policy: Public(), Handler: ok("verify")},
	}, nil, nil)
	if err != nil {
		t.Fatalf("overlapping literal and wildcard refused: %v", err)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body, allow  string
	}{
		{"GET", "/v1/things/keys", 200, "keys", ""},
		{"GET", "/v1/things/x1", 200, "thing", ""},
		{"POST", "/v1/things/verify", 200, "verify", ""},
		{"DELETE", "/v1/things/keys", 405, "", "GET, HEAD"},
		{"GET", "/v1/nothing", 404, "", ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.status)
			continue
		}
		if tc.body != "" && w.Body.String() != tc.body {
			t.Errorf("%s %s: body %q", tc.method, tc.path, w.Body)
		}
		if tc.status >= 400 {
			var b map[string]any
			if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &b) != nil || b["type"] == nil {
				t.Errorf("%s %s: not problem+json: %q %s", tc.method, tc.path, w.Header().Get("Content-Type"), w.Body)
			}
		}
		if tc.allow != "" && w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, w.Header().Get("Allow"), tc.allow)
		}
	}
}
