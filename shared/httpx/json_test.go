package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/framebroker/framebroker/shared/problem"
)

type sample struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		kind           problem.Kind
		ok             bool
	}{
		{"valid", "application/json", `{"name":"a","n":1}`, 0, true},
		{"valid with charset", "application/json; charset=utf-8", `{"name":"a"}`, 0, true},
		{"wrong content type", "text/plain", `{"name":"a"}`, problem.UnsupportedMedia, false},
		{"no content type", "", `{"name":"a"}`, problem.UnsupportedMedia, false},
		{"empty", "application/json", ``, problem.Invalid, false},
		{"malformed", "application/json", `{"name":`, problem.Invalid, false},
		{"syntax", "application/json", `{"name" "a"}`, problem.Invalid, false},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, problem.Invalid, false},
		{"wrong type", "application/json", `{"n":"x"}`, problem.Invalid, false},
		{"array", "application/json", `[1,2]`, problem.Invalid, false},
		{"trailing data", "application/json", `{"name":"a"} {"name":"b"}`, problem.Invalid, false},
		{"oversize", "application/json", `{"name":"` + strings.Repeat("a", MaxBody) + `"}`, problem.TooLarge, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			var v sample
			err := Decode(httptest.NewRecorder(), r, &v)
			if tc.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Decode accepted it")
			}
			if k := problem.KindOf(err); k != tc.kind {
				t.Fatalf("kind %v, want %v (%v)", k, tc.kind, err)
			}
			// The reply is a problem+json 4xx, never a 500.
			w := httptest.NewRecorder()
			problem.Write(w, r, err)
			if w.Code < 400 || w.Code >= 500 || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("reply %d %q", w.Code, w.Header().Get("Content-Type"))
			}
			var b problem.Body
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Type == "" || b.Detail == "" {
				t.Fatalf("problem body %s", w.Body)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","n":1}`, `{`, `[]`, `{"n":1e400}`, `{"name":"\ud800"}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v sample
		err := Decode(httptest.NewRecorder(), r, &v)
		if err != nil {
			if k := problem.KindOf(err); k.Status() < 400 || k.Status() >= 500 {
				t.Fatalf("client error classified %v: %v", k, err)
			}
		}
	})
}

func TestPageCursorRoundTrip(t *testing.T) {
	type item struct{ id uuid.UUID }
	var items []item
	for i := 0; i < 5; i++ {
		items = append(items, item{uuid.UUID{byte(i + 1)}})
	}
	p := Page{Limit: 2}
	l := NewList(p, items[:3], func(it item) uuid.UUID { return it.id })
	if !l.HasMore || len(l.Data) != 2 || l.NextCursor == "" {
		t.Fatalf("first page %+v", l)
	}
	r := httptest.NewRequest("GET", "/?limit=2&cursor="+l.NextCursor, nil)
	p2, err := ParsePage(r)
	if err != nil || p2.After != items[1].id {
		t.Fatalf("cursor round trip: %v %v", p2.After, err)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=!!!", "cursor=AAAA"} {
		if _, err := ParsePage(httptest.NewRequest("GET", "/?"+q, nil)); !problem.Is(err, problem.Invalid) {
			t.Errorf("ParsePage(%s) = %v, want Invalid", q, err)
		}
	}
}

func TestMiddlewareRequestIDAndPanic(t *testing.T) {
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("secret detail that must not leak")
		}
		w.Write([]byte(RequestID(r.Context())))
	}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "abc-123")
	h.ServeHTTP(w, r)
	if w.Body.String() != "abc-123" || w.Header().Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id not kept: %q", w.Body)
	}
	w = httptest.NewRecorder()
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-Id", "bad id\nwith newline")
	h.ServeHTTP(w, r)
	if strings.Contains(w.Body.String(), "bad") || !strings.HasPrefix(w.Body.String(), "req_") {
		t.Fatalf("unsafe request id accepted: %q", w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/panic", nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("panic reply %d %s", w.Code, w.Body)
	}
}
