package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/media"
)

// TestSlowBodiesDoNotStarveOtherTenants (Observed 6): with a pool of two
// connections, four clients of tenant A that send their headers and then
// trickle (here: stall) their bodies must not keep tenant B from being
// served. Before the fix the guard opened its transaction before the body
// was read, so the stalled requests held every connection and B's requests
// waited until the stalled clients gave up. The test asserts success, not
// speed: B's requests only have to finish while A's bodies are still open.
func TestSlowBodiesDoNotStarveOtherTenants(t *testing.T) {
	e := apptest.New(t)
	tokA, _ := e.User("slow-a@example.com")
	wsA := e.Workspace(tokA, "A")
	tokB, _ := e.User("slow-b@example.com")
	wsB := e.Workspace(tokB, "B")

	const poolSize, stalled = 2, 4
	pool, err := db.Open(context.Background(), e.DB.AppDSN+fmt.Sprintf("&pool_max_conns=%d", poolSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	small, err := app.NewWith(e.Config, pool, e.App.Blob, media.FFprobe{})
	if err != nil {
		t.Fatal(err)
	}
	// Each stalled request reports when the server starts reading its body:
	// before the fix that was inside the handler, after the transaction began.
	reading := make(chan struct{}, stalled)
	h := small.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Stalled") != "" {
			r.Body = &signalBody{ReadCloser: r.Body, once: &sync.Once{}, ch: reading}
		}
		h.ServeHTTP(w, r)
	}))
	srv.Config = httpx.NewServer(srv.Config.Handler)
	srv.Start()
	t.Cleanup(srv.Close)

	var conns []net.Conn
	for i := 0; i < stalled; i++ {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/workspaces/%s/projects HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nX-Test-Stalled: 1\r\nContent-Length: 100\r\n\r\n{\"name\":", wsA, tokA)
	}
	for i := 0; i < stalled; i++ {
		<-reading
	}

	// Tenant B is served while A's bodies are still open. The deadline only
	// turns a hang (the failure) into a readable message before the server's
	// read timeout would end the stalled requests.
	ctx, cancel := context.WithTimeout(context.Background(), httpx.ReadTimeout/2)
	defer cancel()
	for i, req := range []struct{ method, path, body string }{
		{"GET", "/v1/workspaces/" + wsB, ""},
		{"POST", "/v1/workspaces/" + wsB + "/projects", `{"name":"served"}`},
		{"GET", "/v1/workspaces/" + wsB + "/projects", ""},
	} {
		status, err := doCtx(ctx, srv.URL, req.method, req.path, tokB, req.body)
		if err != nil {
			t.Fatalf("request %d of tenant B (%s %s) not served while A's bodies stall: %v", i, req.method, req.path, err)
		}
		if status >= 300 {
			t.Fatalf("request %d of tenant B (%s %s): status %d", i, req.method, req.path, status)
		}
	}

	// The stalled requests still complete normally once their bodies arrive.
	for _, c := range conns {
		fmt.Fprintf(c, "%-92s", `"stalled"}`)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("stalled request: status %d after its body arrived", res.StatusCode)
		}
		c.Close()
	}
}

// signalBody reports on ch when it is first read.
type signalBody struct {
	io.ReadCloser
	once *sync.Once
	ch   chan struct{}
}

func (b *signalBody) Read(p []byte) (int, error) {
	b.once.Do(func() { b.ch <- struct{}{} })
	return b.ReadCloser.Read(p)
}

func doCtx(ctx context.Context, base, method, path, token, body string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
