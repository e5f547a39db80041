package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/db/dbtest"
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
	other, _ := e.User("rt-other@example.com")

	cases := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		want         int
	}{
		{"member GET of a project", "GET", "/v1/workspaces/" + ws + "/projects/" + prj, tok, nil, http.StatusOK, 5},
		{"member GET of a shot", "GET", "/v1/workspaces/" + ws + "/shots/" + shot, tok, nil, http.StatusOK, 5},
		{"member GET of the workspace", "GET", "/v1/workspaces/" + ws, tok, nil, http.StatusOK, 5},
		{"member GET of a project list", "GET", "/v1/workspaces/" + ws + "/projects", tok, nil, http.StatusOK, 5},
		{"member PATCH of a project (write)", "PATCH", "/v1/workspaces/" + ws + "/projects/" + prj, tok, map[string]string{"description": "d"}, http.StatusOK, 6},
		{"non-member GET (refused, 404)", "GET", "/v1/workspaces/" + ws + "/projects/" + prj, other, nil, http.StatusNotFound, 4},
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
