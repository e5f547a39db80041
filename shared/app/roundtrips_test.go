package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/id"
)

// TestRoundTripsPerRoute (issue 16, observed #1) counts the database round
// trips (queries, pipelined batches, prepares — dbtest.Counter) one
// request of each kind makes through the real server, once its statements
// are prepared on the connection (each request is sent twice first). A
// change that adds a round trip to a guarded request fails here.
func TestRoundTripsPerRoute(t *testing.T) {
	c := &dbtest.Counter{}
	e := apptest.New(t, apptest.WithTracer(c))
	tok, _ := e.User("rt@example.com")
	ws := e.Workspace(tok, "RT")
	prj := e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "p"}).Str("id")
	shot := e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": "s"}).Str("id")
	rel := e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "r", "shots": []string{}}).Str("id")
	other, _ := e.User("rt-other@example.com")
	var w id.WorkspaceID
	if err := w.UnmarshalText([]byte(ws)); err != nil {
		t.Fatal(err)
	}
	hook := id.New[id.WebhookID]()
	if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO webhook_endpoints (id, workspace_id, url, secret_enc) VALUES ($1, $2, 'https://hooks.example.com/fb', '\x00')`, hook, w); err != nil {
		t.Fatal(err)
	}
	wsp := "/v1/workspaces/" + ws
	asset := e.UploadAsset(tok, ws, "blob.bin", "application/octet-stream", []byte("round trips"))

	cases := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		want         int
	}{
		{"member GET of a project", "GET", "/v1/workspaces/" + ws + "/projects/" + prj, tok, nil, http.StatusOK, 1},
		{"member GET of a shot", "GET", "/v1/workspaces/" + ws + "/shots/" + shot, tok, nil, http.StatusOK, 1},
		{"member GET of the workspace", "GET", "/v1/workspaces/" + ws, tok, nil, http.StatusOK, 1},
		{"member GET of a project list", "GET", "/v1/workspaces/" + ws + "/projects", tok, nil, http.StatusOK, 1},
		{"member GET of a project's shots", "GET", wsp + "/projects/" + prj + "/shots", tok, nil, http.StatusOK, 1},
		{"member GET of a release", "GET", wsp + "/releases/" + rel, tok, nil, http.StatusOK, 1},
		{"member GET of the release list", "GET", wsp + "/releases", tok, nil, http.StatusOK, 1},
		{"member GET of the member list", "GET", wsp + "/members", tok, nil, http.StatusOK, 1},
		{"member GET of a webhook endpoint", "GET", wsp + "/webhooks/" + hook.String(), tok, nil, http.StatusOK, 1},
		{"member GET of the webhook endpoints", "GET", wsp + "/webhooks", tok, nil, http.StatusOK, 1},
		{"member GET of the job list", "GET", wsp + "/jobs", tok, nil, http.StatusOK, 1},
		{"member GET of the asset list", "GET", wsp + "/assets", tok, nil, http.StatusOK, 1},
		{"member GET of an asset (complete: presigned download)", "GET", wsp + "/assets/" + asset, tok, nil, http.StatusOK, 1},
		{"admin GET of the open invitations", "GET", wsp + "/invitations", tok, nil, http.StatusOK, 1},
		// A GET whose handler is not split into a Read yet: the checks'
		// batch, the handler's two queries, COMMIT.
		{"member GET of the settings (handler not pipelined)", "GET", wsp + "/settings", tok, nil, http.StatusOK, 4},
		{"member POST of a project (write)", "POST", wsp + "/projects", tok, map[string]string{"name": "n"}, http.StatusCreated, 4},
		{"member PATCH of a project (write)", "PATCH", "/v1/workspaces/" + ws + "/projects/" + prj, tok, map[string]string{"description": "d"}, http.StatusOK, 4},
		{"non-member GET (refused, 404)", "GET", "/v1/workspaces/" + ws + "/projects/" + prj, other, nil, http.StatusNotFound, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				e.Must(tc.status, tc.method, tc.path, tc.token, tc.body)
			}
			c.Reset()
			e.Must(tc.status, tc.method, tc.path, tc.token, tc.body)
			got := c.Counts()
			if got.RoundTrips != tc.want {
				t.Errorf("%s %s: %d round trips, want %d:\n  %s", tc.method, tc.path, got.RoundTrips, tc.want, strings.Join(got.Statements, "\n  "))
			}
		})
	}
}

// TestSessionCheckedOnEveryRequest: with the session look-up travelling in
// the guard's one batch, there is still no cache between a revocation and
// the next request: a logged-out session, a session revoked from another
// one and an idle session are refused (401, invalid_token) on their very
// next read and write. A used session whose last-seen time is over a
// minute old is refreshed after the reply (so it does not idle out).
func TestSessionCheckedOnEveryRequest(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("rev@example.com")
	ws := e.Workspace(tok, "Rev")
	prj := e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "p"}).Str("id")
	get := "/v1/workspaces/" + ws + "/projects/" + prj
	login := func() string {
		return e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "rev@example.com", "password": "correct horse battery"}).Str("token")
	}
	refused := func(how, token string) {
		t.Helper()
		for _, m := range []string{"GET", "PATCH"} {
			var body any
			if m == "PATCH" {
				body = map[string]string{"description": "x"}
			}
			r := e.Must(http.StatusUnauthorized, m, get, token, body)
			if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, "invalid_token") {
				t.Errorf("%s: %s answered 401 with WWW-Authenticate %q", how, m, h)
			}
		}
	}

	e.Must(http.StatusOK, "GET", get, tok, nil)
	e.Must(http.StatusNoContent, "POST", "/v1/auth/logout", tok, nil)
	refused("logged out", tok)

	a, b := login(), login()
	e.Must(http.StatusOK, "GET", get, a, nil)
	e.Must(http.StatusOK, "GET", get, b, nil)
	e.Must(http.StatusOK, "DELETE", "/v1/auth/sessions", b, nil) // revokes every other session: a
	refused("revoked by another session", a)
	e.Must(http.StatusOK, "GET", get, b, nil)

	ctx := context.Background()
	setSeen := func(token, ago string) {
		t.Helper()
		if _, err := e.DB.Owner.Exec(ctx, `UPDATE sessions SET last_seen_at = now() - $2::interval WHERE token_hash = sha256($1::bytea)`, []byte(token), ago); err != nil {
			t.Fatal(err)
		}
	}
	seenAgo := func(token string) time.Duration {
		t.Helper()
		var us int64
		if err := e.DB.Owner.QueryRow(ctx, `SELECT (extract(epoch FROM now() - last_seen_at) * 1e6)::bigint FROM sessions WHERE token_hash = sha256($1::bytea)`, []byte(token)).Scan(&us); err != nil {
			t.Fatal(err)
		}
		return time.Duration(us) * time.Microsecond
	}
	setSeen(b, "2 minutes")
	e.Must(http.StatusOK, "GET", get, b, nil)
	// The touch follows the reply: wait for it (progress, with a deadline
	// only so a broken touch cannot hang the test).
	for deadline := time.Now().Add(10 * time.Second); seenAgo(b) > time.Minute; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a session used after 2 idle minutes was not refreshed: last seen %v ago", seenAgo(b))
		}
	}
	setSeen(b, "30 seconds")
	e.Must(http.StatusOK, "GET", get, b, nil)
	if ago := seenAgo(b); ago < 30*time.Second {
		t.Errorf("a session seen 30 s ago was written again (the touch is at most once a minute): last seen %v ago", ago)
	}
	setSeen(b, "8 days")
	refused("idle", b)
}
