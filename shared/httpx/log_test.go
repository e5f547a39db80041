package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/problem"
)

// TestEvery5xxLogsItsCauseOnce: a dependency refusal (503) and a bug (500)
// each leave exactly one error line carrying the cause and the request id;
// a client error (404) leaves none at error level. The reply carries only
// the request id, never the cause.
func TestEvery5xxLogsItsCauseOnce(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(LogHandler{Handler: slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}))
	t.Cleanup(func() { slog.SetDefault(old) })

	for _, tc := range []struct {
		name   string
		err    error
		status int
		logged bool
	}{
		{"dependency down", problem.Wrap("billing.Checkout", problem.Unavailable, errors.New("stripe: 401 invalid api key sk_test_x")), 503, true},
		{"bug", problem.Errorf("tenancy.Get", "scan: column mismatch"), 500, true},
		{"client error", problem.E("guard", problem.NotFound, "no such resource"), 404, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { problem.Write(w, r, tc.err) }))
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/x", nil)
			r.Header.Set("X-Request-Id", "rid-"+strings.ReplaceAll(tc.name, " ", "-"))
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			var errLines []map[string]any
			for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if m["level"] == "ERROR" {
					errLines = append(errLines, m)
				}
			}
			if !tc.logged {
				if len(errLines) != 0 {
					t.Fatalf("client error logged at error level: %v", errLines)
				}
				return
			}
			if len(errLines) != 1 {
				t.Fatalf("%d error lines, want exactly 1: %s", len(errLines), buf.String())
			}
			l := errLines[0]
			if l["request_id"] != r.Header.Get("X-Request-Id") || !strings.Contains(l["err"].(string), tc.err.(*problem.Error).Err.Error()) {
				t.Fatalf("error line lacks request id or cause: %v", l)
			}
			if strings.Contains(w.Body.String(), "stripe:") || strings.Contains(w.Body.String(), "scan:") {
				t.Fatalf("cause leaked to the client: %s", w.Body)
			}
		})
	}
}
