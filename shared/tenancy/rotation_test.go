package tenancy_test

import (
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/tenancy"
)

// TestPrivilegeChangeRevokesSessions: a role change or removal ends every
// session of the affected member (promotions too, so a token captured
// before the change never carries the new role); the acting admin keeps
// theirs; a refused change revokes nothing; an actor who changes their
// own role gets a fresh token and their old ones die.
func TestPrivilegeChangeRevokesSessions(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws := e.Workspace(owner, "W")
	base := "/v1/workspaces/" + ws + "/members"
	cred := map[string]string{"email": "m@example.com", "password": "correct horse battery"}
	m1, mID := e.User("m@example.com")
	m2 := e.Must(http.StatusOK, "POST", "/v1/auth/login", "", cred).Str("token")
	e.Must(http.StatusCreated, "POST", base, owner, map[string]string{"email": "m@example.com", "role": "editor"})
	alive := func(tok string) bool { return e.Do("GET", "/v1/auth/me", tok, nil).Status == http.StatusOK }

	// Setting the same role is no change.
	e.Must(http.StatusOK, "PATCH", base+"/"+mID, owner, map[string]string{"role": "editor"})
	if !alive(m1) || !alive(m2) {
		t.Fatal("unchanged role revoked sessions")
	}
	// A refused change (an editor may not change roles)
	// revokes nothing.
	e.Must(http.StatusForbidden, "PATCH", base+"/"+mID, m1, map[string]string{"role": "admin"})
	if !alive(m1) {
		t.Fatal("refused change revoked sessions")
	}

	for _, role := range []string{"admin", "viewer"} { // promotion, demotion
		r := e.Must(http.StatusOK, "PATCH", base+"/"+mID, owner, map[string]string{"role": role})
		if r.Header.Get(tenancy.SessionTokenHeader) != "" {
			t.Fatal("a token for someone else's change")
		}
		if alive(m1) || alive(m2) {
			t.Fatalf("after change to %s the member's old sessions still work", role)
		}
		if !alive(owner) {
			t.Fatal("the acting owner's session was revoked")
		}
		m1 = e.Must(http.StatusOK, "POST", "/v1/auth/login", "", cred).Str("token")
		m2 = e.Must(http.StatusOK, "POST", "/v1/auth/login", "", cred).Str("token")
	}

	e.Must(http.StatusNoContent, "DELETE", base+"/"+mID, owner, nil)
	if alive(m1) || alive(m2) || !alive(owner) {
		t.Fatal("removal: member sessions alive or owner's revoked")
	}

	// The owner demotes themselves (after promoting a second owner).
	second, secondID := e.User("second@example.com")
	e.Must(http.StatusCreated, "POST", base, owner, map[string]string{"email": "second@example.com", "role": "owner"})
	otherOwner := e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "owner@example.com", "password": "correct horse battery"}).Str("token")
	ownerID := e.Must(http.StatusOK, "GET", "/v1/auth/me", owner, nil).JSON()["user"].(map[string]any)["id"].(string)
	r := e.Must(http.StatusOK, "PATCH", base+"/"+ownerID, owner, map[string]string{"role": "admin"})
	fresh := r.Header.Get(tenancy.SessionTokenHeader)
	if fresh == "" || alive(owner) || alive(otherOwner) || !alive(fresh) {
		t.Fatalf("self-demotion: fresh=%v old alive=%v other alive=%v", fresh != "", alive(owner), alive(otherOwner))
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("fresh token reply cacheable")
	}
	// The fresh token carries the new role: an admin can no longer touch
	// the owner.
	e.Must(http.StatusForbidden, "DELETE", base+"/"+secondID, fresh, nil)
	if !alive(second) {
		t.Fatal("bystander owner's session revoked")
	}
}
