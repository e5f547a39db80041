package privacy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/id"
)

// ledgerTypes lists ws's ledger event types in order.
func ledgerTypes(t *testing.T, e *apptest.Env, ws id.WorkspaceID) []string {
	t.Helper()
	var out []string
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT type || ' ' || payload::text FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestSettings: defaults are opt-out and standard retention; viewers read,
// only admins change; invalid and unknown fields are refused; each real
// change (opt in, then revoke) is one ledger event with before and after,
// and a no-op PUT records nothing.
func TestSettings(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	editor, _ := e.User("editor@example.com")
	ws := e.Workspace(owner, "Settings")
	e.Join(owner, ws, editor, "editor@example.com", "editor")
	path := "/v1/workspaces/" + ws + "/settings"

	got := e.Must(200, "GET", path, editor, nil).JSON()
	if got["training_opt_in"] != false || got["retention"] != "standard" || got["deletion"] != nil || got["updated_at"] != nil {
		t.Fatalf("defaults: %v", got)
	}
	for _, tc := range []struct {
		token string
		body  any
		want  int
	}{
		{editor, map[string]any{"training_opt_in": true}, 403},
		{owner, map[string]any{"retention": "forever"}, 400},
		{owner, map[string]any{"retention": ""}, 400},
		{owner, `{"training_opt_in":"yes"}`, 400},
		{owner, `{"spend_ceiling":100}`, 400},
		{owner, `{"training_opt_in":true}{}`, 400},
	} {
		if r := e.Do("PUT", path, tc.token, tc.body); r.Status != tc.want {
			t.Errorf("PUT %v: %d, want %d: %s", tc.body, r.Status, tc.want, r.Body)
		}
	}
	wsID := wsID(t, ws)
	before := len(ledgerTypes(t, e, wsID))
	got = e.Must(200, "PUT", path, owner, map[string]any{"training_opt_in": true, "retention": "broadcast"}).JSON()
	if got["training_opt_in"] != true || got["retention"] != "broadcast" || got["updated_at"] == nil {
		t.Fatalf("after opt-in: %v", got)
	}
	e.Must(200, "PUT", path, owner, map[string]any{"training_opt_in": true}) // no change
	got = e.Must(200, "PUT", path, owner, map[string]any{"training_opt_in": false}).JSON()
	if got["training_opt_in"] != false || got["retention"] != "broadcast" {
		t.Fatalf("after revoke (retention kept): %v", got)
	}
	evs := ledgerTypes(t, e, wsID)[before:]
	if len(evs) != 2 || countPrefix(evs, "workspace.settings_changed") != 2 ||
		!strings.Contains(evs[0], `"retention": {"to": "broadcast", "from": "standard"}`) ||
		!strings.Contains(evs[1], `"training_opt_in": {"to": false, "from": true}`) {
		t.Fatalf("ledger: %q", evs)
	}
}

// TestDeletionGrace: only the owner may delete; during the grace period
// the workspace is read-only (reads work, every write — projects, uploads,
// jobs, settings — is 409), asking again keeps the first schedule, the
// purge does not touch it before purge_after, and the owner can cancel,
// after which writes work again. Both steps are in the ledger.
func TestDeletionGrace(t *testing.T) {
	e := apptest.New(t)
	e.App.Privacy.Grace = time.Hour
	owner, _ := e.User("owner@example.com")
	admin, _ := e.User("admin@example.com")
	ws := e.Workspace(owner, "Grace")
	base := "/v1/workspaces/" + ws
	e.Join(owner, ws, admin, "admin@example.com", "admin")

	e.Must(403, "DELETE", base, admin, nil)
	e.Must(409, "POST", base+"/deletion/cancel", owner, nil)
	d := e.Must(202, "DELETE", base, owner, nil).JSON()
	req, _ := time.Parse(time.RFC3339Nano, d["requested_at"].(string))
	after, _ := time.Parse(time.RFC3339Nano, d["purge_after"].(string))
	if after.Sub(req) != time.Hour {
		t.Fatalf("schedule: %v", d)
	}
	if again := e.Must(202, "DELETE", base, owner, nil).JSON(); again["requested_at"] != d["requested_at"] {
		t.Fatalf("second request moved the schedule: %v vs %v", again, d)
	}
	e.Must(200, "GET", base, admin, nil)
	if s := e.Must(200, "GET", base+"/settings", admin, nil).JSON(); s["deletion"] == nil {
		t.Fatalf("settings do not show the deletion: %v", s)
	}
	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"POST", base + "/projects", map[string]string{"name": "P"}},
		{"POST", base + "/assets", apptest.AssetBody("a.mp4", "video/mp4", []byte("12345"))},
		{"POST", base + "/jobs", map[string]any{"inputs": []string{id.New[id.AssetID]().String()}, "preset": "mp4-h264-720p"}},
		{"PUT", base + "/settings", map[string]any{"training_opt_in": true}},
		{"PATCH", base, map[string]string{"name": "Renamed"}},
		{"POST", base + "/invitations", map[string]string{"email": "x@example.com", "role": "viewer"}},
	} {
		r := e.Do(w.method, w.path, owner, w.body)
		if r.Status != 409 || !strings.Contains(string(r.Body), "scheduled for deletion") {
			t.Errorf("%s %s during grace: %d %s", w.method, w.path, r.Status, r.Body)
		}
	}
	if s, err := e.App.Privacy.Purge(context.Background()); err != nil || len(s.Purged) != 0 {
		t.Fatalf("purge before the grace period ended: %+v %v", s, err)
	}
	// The app role cannot bring the purge forward by calling it directly.
	if _, err := e.DB.App.Exec(context.Background(), `SELECT workspace_purge($1, 0)`, wsID(t, ws)); err == nil ||
		!strings.Contains(err.Error(), "not due") {
		t.Fatalf("direct purge during grace: %v", err)
	}
	e.Must(403, "POST", base+"/deletion/cancel", admin, nil)
	if s := e.Must(200, "POST", base+"/deletion/cancel", owner, nil).JSON(); s["deletion"] != nil {
		t.Fatalf("after cancel: %v", s)
	}
	e.Must(201, "POST", base+"/projects", owner, map[string]string{"name": "P"})
	evs := ledgerTypes(t, e, wsID(t, ws))
	if countPrefix(evs, "workspace.deletion_requested") != 1 || countPrefix(evs, "workspace.deletion_canceled") != 1 {
		t.Fatalf("ledger: %q", evs)
	}

	// With no grace the purge may start at once: no cancelling then.
	e.App.Privacy.Grace = 0
	e.Must(202, "DELETE", base, owner, nil)
	e.Must(409, "POST", base+"/deletion/cancel", owner, nil)
}
