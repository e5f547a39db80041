package tenancy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/tenancy"
)

// TestInvitationLifecycle: an invitation is listed while pending, mailed as
// a link to the accept page, accepted only by the signed-in owner of the
// verified invited address, works once, and is ledgered; revoked and
// expired invitations cannot be accepted.
func TestInvitationLifecycle(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws := e.Workspace(owner, "Studio")
	inv := "/v1/workspaces/" + ws + "/invitations"
	accept := func(tok, token string) apptest.Response {
		return e.Do("POST", "/v1/invitations/accept", tok, map[string]string{"token": token})
	}

	var created tenancy.Invitation
	if err := json.Unmarshal(e.Must(http.StatusCreated, "POST", inv, owner, map[string]string{"email": "Grace@Example.com", "role": "editor"}).Body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Status != tenancy.InvitationPending || created.Role.String() != "editor" || !created.ExpiresAt.After(created.CreatedAt) {
		t.Fatalf("created %+v", created)
	}
	var list httpx.List[tenancy.Invitation]
	if err := json.Unmarshal(e.Must(http.StatusOK, "GET", inv, owner, nil).Body, &list); err != nil || len(list.Data) != 1 || list.Data[0].ID != created.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	token := e.InvitationToken("Grace@Example.com")
	var mailed string
	for _, m := range e.Mail.Messages() {
		if strings.Contains(string(m.Data), "accept-invitation") {
			mailed = strings.ReplaceAll(strings.ReplaceAll(string(m.Data), "=\r\n", ""), "=3D", "=")
		}
	}
	if !strings.Contains(mailed, e.Config.PublicURL+"/accept-invitation#token="+token) {
		t.Fatalf("mail does not link to the accept page: %s", mailed)
	}

	// Someone else, even verified, cannot use the link.
	other, _ := e.User("other@example.com")
	assertType(t, expect(t, accept(other, token), http.StatusForbidden), "invitation-email-mismatch")
	// The invitee must have verified the address.
	grace, _ := e.UnverifiedUser("grace@example.com")
	assertType(t, expect(t, accept(grace, token), http.StatusForbidden), "email-unverified")
	e.Must(http.StatusNotFound, "GET", "/v1/workspaces/"+ws, grace, nil)
	grace, _ = verify(t, e, "grace@example.com")
	var joined tenancy.Accepted
	if err := json.Unmarshal(expect(t, accept(grace, token), http.StatusOK).Body, &joined); err != nil || joined.Workspace.Role.String() != "editor" || joined.Workspace.Name != "Studio" {
		t.Fatalf("accepted %+v %v", joined, err)
	}
	e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+ws+"/projects", grace, map[string]string{"name": "mine"})
	// Once only.
	assertType(t, expect(t, accept(grace, token), http.StatusNotFound), "invitation-invalid")
	if err := json.Unmarshal(e.Must(http.StatusOK, "GET", inv, owner, nil).Body, &list); err != nil || len(list.Data) != 0 {
		t.Fatalf("accepted invitation still listed: %+v", list)
	}
	assertType(t, e.Must(http.StatusNotFound, "POST", "/v1/invitations/accept", grace, map[string]string{"token": "fbi_nonsense"}), "invitation-invalid")

	// Revoked.
	bob, _ := e.User("bob@example.com")
	bobInv := e.Invite(owner, ws, "bob@example.com", "viewer")
	bobTok := e.InvitationToken("bob@example.com")
	e.Must(http.StatusNoContent, "DELETE", inv+"/"+bobInv, owner, nil)
	e.Must(http.StatusNotFound, "DELETE", inv+"/"+bobInv, owner, nil)
	assertType(t, expect(t, accept(bob, bobTok), http.StatusNotFound), "invitation-invalid")

	// Re-invited, then expired.
	e.Invite(owner, ws, "bob@example.com", "viewer")
	bobTok = e.InvitationToken("bob@example.com")
	if _, err := e.DB.Owner.Exec(context.Background(), `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL AND accepted_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.Must(http.StatusOK, "GET", inv, owner, nil).Body, &list); err != nil || len(list.Data) != 1 || list.Data[0].Status != tenancy.InvitationExpired {
		t.Fatalf("expired invitation listed as %+v", list)
	}
	assertType(t, expect(t, accept(bob, bobTok), http.StatusConflict), "invitation-expired")
	e.Must(http.StatusNotFound, "GET", "/v1/workspaces/"+ws, bob, nil)

	// The ledger tells the story.
	var types []string
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT type FROM ledger_events WHERE type LIKE 'member.%' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		types = append(types, s)
	}
	want := "member.invited member.joined member.invited member.invitation_revoked member.invited"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("ledger %q, want %q", got, want)
	}
}

// TestInvitationRateLimit: an inviter gets a bounded number of invitations
// (20 at once, then 20 an hour), refused with the rate-limited type and
// Retry-After, across workspaces.
func TestInvitationRateLimit(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws1 := e.Workspace(owner, "One")
	ws2 := e.Workspace(owner, "Two")
	for i := 0; i < tenancy.DefaultInviteLimits.InviterBurst; i++ {
		ws := ws1
		if i%2 == 1 {
			ws = ws2
		}
		e.Invite(owner, ws, "guest"+string(rune('a'+i))+"@example.com", "viewer")
	}
	r := e.Must(http.StatusTooManyRequests, "POST", "/v1/workspaces/"+ws1+"/invitations", owner, map[string]string{"email": "one-more@example.com", "role": "viewer"})
	assertType(t, r, "rate-limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func expect(t *testing.T, r apptest.Response, status int) apptest.Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// verify marks email's account verified and signs in again.
func verify(t *testing.T, e *apptest.Env, email string) (string, string) {
	t.Helper()
	if _, err := e.DB.Owner.Exec(context.Background(), `UPDATE users SET email_verified_at = now() WHERE email = $1`, email); err != nil {
		t.Fatal(err)
	}
	r := e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "correct horse battery"})
	return r.Str("token"), ""
}

// TestInvitationWorkspaceLimit: a workspace gets at most 50 invitations at
// once whoever sends them; its admins can still invite elsewhere.
func TestInvitationWorkspaceLimit(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws := e.Workspace(owner, "W")
	var admins []string
	for _, m := range []string{"ad1@example.com", "ad2@example.com"} {
		tok, _ := e.User(m)
		e.Join(owner, ws, tok, m, "admin")
		admins = append(admins, tok)
	}
	sent := 2
	for i, tok := range append([]string{owner}, admins...) {
		for sent < tenancy.DefaultInviteLimits.WSBurst && (i == 0 && sent < tenancy.DefaultInviteLimits.InviterBurst ||
			i == 1 && sent < 2*tenancy.DefaultInviteLimits.InviterBurst || i == 2) {
			e.Invite(tok, ws, fmt.Sprintf("guest%d@example.com", sent), "viewer")
			sent++
		}
	}
	r := e.Must(http.StatusTooManyRequests, "POST", "/v1/workspaces/"+ws+"/invitations", admins[1], map[string]string{"email": "late@example.com", "role": "viewer"})
	assertType(t, r, "rate-limited")
	own := e.Workspace(admins[1], "Elsewhere")
	e.Invite(admins[1], own, "late@example.com", "viewer")
}
