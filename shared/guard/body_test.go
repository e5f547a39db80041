package guard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// trackedBody records whether its reader reached the end.
type trackedBody struct {
	r    io.Reader
	done bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

func (b *trackedBody) Close() error { return nil }

// bodyCheckingAuthn is the guard's first database work (the session
// lookup); it records whether the body had been read in full by then.
type bodyCheckingAuthn struct {
	body       *trackedBody
	calls      int
	readBefore bool
}

func (a *bodyCheckingAuthn) Authenticate(context.Context, string) (Principal, error) {
	a.calls++
	a.readBefore = a.body.done
	return Principal{}, problem.E("test", problem.Unauthenticated, "stop here")
}

// TestBodyReadBeforeDatabase: an authenticated route's body is read in full
// before the guard does any database work (Observed 6: a trickling body held
// a pool connection), and a body over httpx.MaxBody is refused 413 without
// any database work at all.
func TestBodyReadBeforeDatabase(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request, _ *Access) error { return nil }
	for _, tc := range []struct {
		name      string
		size      int
		wantCalls int
		want      int
	}{
		{"small body", 100, 1, http.StatusUnauthorized},
		{"body at the limit", httpx.MaxBody, 1, http.StatusUnauthorized},
		{"body over the limit", httpx.MaxBody + 1, 0, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &trackedBody{r: strings.NewReader(strings.Repeat("x", tc.size))}
			authn := &bodyCheckingAuthn{body: body}
			h, err := NewMux([]Route{{Method: "POST", Pattern: "/v1/things", Policy: Authenticated(), Handler: handler}}, authn, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/v1/things", body)
			req.Header.Set("Authorization", "Bearer tok")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if authn.calls != tc.wantCalls {
				t.Fatalf("authenticator called %d times, want %d", authn.calls, tc.wantCalls)
			}
			if tc.wantCalls > 0 && !authn.readBefore {
				t.Fatal("the session lookup ran before the body was read")
			}
		})
	}
}
