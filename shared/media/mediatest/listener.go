// Package mediatest holds the loopback listener the hostile-media tests aim
// their references at: it must receive nothing.
package mediatest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Listener is a loopback HTTP server that records every request it gets.
type Listener struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string
}

// NewListener starts a Listener, closed when t ends.
func NewListener(t testing.TB) *Listener {
	t.Helper()
	l := &Listener{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.hits = append(l.hits, r.Method+" "+r.URL.String()+" UA="+r.UserAgent())
		l.mu.Unlock()
		w.Write([]byte("not a segment"))
	}))
	t.Cleanup(l.Close)
	return l
}

// Hits are the requests received so far.
func (l *Listener) Hits() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.hits...)
}

// RequireSilent fails t if the listener received anything.
func (l *Listener) RequireSilent(t testing.TB) {
	t.Helper()
	if h := l.Hits(); len(h) != 0 {
		t.Fatalf("the listener received %d requests: %v", len(h), h)
	}
}
