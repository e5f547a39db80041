package tenancy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/problem"
)

func TestProjectsPagination(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("o@example.com")
	ws := e.Workspace(tok, "W")
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		want[e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": fmt.Sprint("p", i)}).Str("id")] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		page := e.Must(200, "GET", "/v1/workspaces/"+ws+"/projects"+q, tok, nil).JSON()
		pages++
		for _, it := range page["data"].([]any) {
			seen[it.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			if page["has_more"] != false {
				t.Fatal("last page says has_more")
			}
			break
		}
		cursor = next
	}
	if pages != 3 || len(seen) != 5 {
		t.Fatalf("%d pages, %d projects; want 3 pages, 5 projects", pages, len(seen))
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("project %s never listed", id)
		}
	}
}

func TestCRUDShapes(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("o@example.com")
	ws := e.Workspace(tok, "W")
	base := "/v1/workspaces/" + ws
	prj := e.Must(201, "POST", base+"/projects", tok, map[string]string{"name": "  Film  "}).JSON()
	if prj["name"] != "Film" || prj["workspace"] != ws {
		t.Fatalf("project %v", prj)
	}
	p := prj["id"].(string)
	upd := e.Must(200, "PATCH", base+"/projects/"+p, tok, map[string]string{"description": "d"}).JSON()
	if upd["name"] != "Film" || upd["description"] != "d" {
		t.Fatalf("patch kept name? %v", upd)
	}
	shot := e.Must(201, "POST", base+"/projects/"+p+"/shots", tok, map[string]string{"name": "SH010"}).Str("id")
	e.Must(200, "GET", base+"/shots/"+shot, tok, nil)
	rel := e.Must(201, "POST", base+"/releases", tok, map[string]any{"name": "R", "shots": []string{shot}}).JSON()
	if s := rel["shots"].([]any); len(s) != 1 || s[0] != shot {
		t.Fatalf("release shots %v", rel["shots"])
	}
	// A shot in a release cannot be deleted, nor its project.
	e.Must(409, "DELETE", base+"/shots/"+shot, tok, nil)
	e.Must(409, "DELETE", base+"/projects/"+p, tok, nil)
	e.Must(200, "PATCH", base+"/releases/"+rel["id"].(string), tok, map[string]any{"shots": []string{}})
	e.Must(204, "DELETE", base+"/shots/"+shot, tok, nil)
	e.Must(404, "GET", base+"/shots/"+shot, tok, nil)
	e.Must(204, "DELETE", base+"/projects/"+p, tok, nil)
	e.Must(400, "POST", base+"/projects", tok, map[string]string{"name": strings.Repeat("x", 201)})
	e.Must(400, "POST", base+"/projects", tok, map[string]string{"name": "   "})
}

// TestReleaseRefusesForeignShot: a release cannot list another workspace's
// shot, and the answer is the same as for a shot that does not exist.
func TestReleaseRefusesForeignShot(t *testing.T) {
	e := apptest.New(t)
	tokA, _ := e.User("a@example.com")
	wsA := e.Workspace(tokA, "A")
	pA := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/projects", tokA, map[string]string{"name": "p"}).Str("id")
	shotA := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/projects/"+pA+"/shots", tokA, map[string]string{"name": "s"}).Str("id")
	tokB, _ := e.User("b@example.com")
	wsB := e.Workspace(tokB, "B")
	foreign := e.Must(422, "POST", "/v1/workspaces/"+wsB+"/releases", tokB, map[string]any{"name": "R", "shots": []string{shotA}})
	missing := e.Must(422, "POST", "/v1/workspaces/"+wsB+"/releases", tokB, map[string]any{"name": "R", "shots": []string{"shot_" + strings.Repeat("0", 32)}})
	if foreign.JSON()["detail"] != missing.JSON()["detail"] {
		t.Fatalf("foreign %s vs missing %s", foreign.Body, missing.Body)
	}
	e.Must(400, "POST", "/v1/workspaces/"+wsB+"/releases", tokB, map[string]any{"name": "R", "shots": []string{"prj_" + strings.Repeat("0", 32)}})
}

func TestMemberRoles(t *testing.T) {
	e := apptest.New(t)
	owner, ownerID := e.User("owner@example.com")
	ws := e.Workspace(owner, "W")
	admin, adminID := e.User("admin@example.com")
	ed, edID := e.User("ed@example.com")
	base := "/v1/workspaces/" + ws + "/members"
	inv := "/v1/workspaces/" + ws + "/invitations"
	e.Join(owner, ws, admin, "admin@example.com", "admin")
	e.Join(admin, ws, ed, "ED@example.com", "editor")
	r := e.Must(409, "POST", inv, admin, map[string]string{"email": "ed@example.com", "role": "viewer"})
	assertType(t, r, "already-member")
	e.Must(400, "POST", inv, admin, map[string]string{"email": "x@example.com", "role": "superuser"})
	// Only owners touch ownership.
	assertType(t, e.Must(403, "POST", inv, admin, map[string]string{"email": "x@example.com", "role": "owner"}), "owner-role-required")
	assertType(t, e.Must(403, "PATCH", base+"/"+edID, admin, map[string]string{"role": "owner"}), "owner-role-required")
	e.Must(403, "DELETE", base+"/"+ownerID, admin, nil)
	// The last owner stays.
	assertType(t, e.Must(409, "PATCH", base+"/"+ownerID, owner, map[string]string{"role": "admin"}), "last-owner")
	e.Must(409, "DELETE", base+"/"+ownerID, owner, nil)
	e.Must(200, "PATCH", base+"/"+edID, owner, map[string]string{"role": "owner"})
	// Changing one's own role takes effect at the next request, same token.
	e.Must(200, "PATCH", base+"/"+ownerID, owner, map[string]string{"role": "viewer"})
	// Now a viewer, the former owner can read but not write.
	e.Must(200, "GET", base, owner, nil)
	assertType(t, e.Must(403, "POST", "/v1/workspaces/"+ws+"/projects", owner, map[string]string{"name": "x"}), "role-insufficient")
	e.Must(204, "DELETE", base+"/"+adminID, admin, nil) // leaving is allowed
	e.Must(404, "GET", "/v1/workspaces/"+ws, admin, nil)
	e.Must(200, "GET", "/v1/auth/me", admin, nil) // and signs nobody out
}

// assertType fails unless r is a problem of type slug.
func assertType(t *testing.T, r apptest.Response, slug string) {
	t.Helper()
	var b problem.Body
	if err := json.Unmarshal(r.Body, &b); err != nil || b.Type != problem.TypeBase+slug {
		t.Fatalf("problem type %q, want %s: %s", b.Type, slug, r.Body)
	}
}

func TestRoutingProblems(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("o@example.com")
	ws := e.Workspace(tok, "W")
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/v1/nope", nil, 404},
		{"PUT", "/v1/workspaces/" + ws, "{}", 405},
		{"GET", "/v1/workspaces/not-an-id", nil, 404},
		{"GET", "/v1/workspaces/" + ws + "/projects/prj_xyz", nil, 404},
		{"GET", "/v1/workspaces/" + ws + "/projects/" + strings.Replace(ws, "ws_", "prj_", 1), nil, 404},
		{"GET", "/v1/workspaces/" + ws + "/projects?limit=9999", nil, 400},
	} {
		r := e.Do(tc.method, tc.path, tok, tc.body)
		if r.Status != tc.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q, want %d problem+json", tc.method, tc.path, r.Status, r.Header.Get("Content-Type"), tc.status)
		}
	}
	if r := e.Do("GET", "/v1/auth/me", "fbs_forged", nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("forged token: %d", r.Status)
	}
}
