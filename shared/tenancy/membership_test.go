package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// TestNoForcedSignOut (Observed 1): knowing a victim's email gives an
// attacker — here an unverified throwaway account — no way to touch the
// victim: there is no direct add, an invitation does nothing until the
// victim accepts, the victim cannot be moved or removed in a workspace
// they never joined, and a role change or removal where they did join ends
// none of their sessions (membership is checked on every request, so the
// change still takes effect at once).
func TestNoForcedSignOut(t *testing.T) {
	e := apptest.New(t)
	victim, victimID := e.User("victim@example.com")
	victim2 := e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "victim@example.com", "password": "correct horse battery"}).Str("token")
	victimWS := e.Workspace(victim, "Victim's own")
	attacker, _ := e.UnverifiedUser("attacker@example.com")
	evil := e.UnbilledWorkspace(attacker, "Evil")
	alive := func(tok string) bool { return e.Do("GET", "/v1/auth/me", tok, nil).Status == http.StatusOK }

	// No direct add: the old route is gone.
	if r := e.Do("POST", "/v1/workspaces/"+evil+"/members", attacker, map[string]string{"email": "victim@example.com", "role": "viewer"}); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("direct add: %d %s", r.Status, r.Body)
	}
	// An invitation is only an offer.
	e.Invite(attacker, evil, "victim@example.com", "viewer")
	for _, req := range []struct{ method, body string }{{"PATCH", `{"role":"editor"}`}, {"DELETE", ""}} {
		var body any
		if req.body != "" {
			body = req.body
		}
		if r := e.Do(req.method, "/v1/workspaces/"+evil+"/members/"+victimID, attacker, body); r.Status != http.StatusNotFound {
			t.Fatalf("%s on a non-member: %d %s", req.method, r.Status, r.Body)
		}
	}
	if !alive(victim) || !alive(victim2) {
		t.Fatal("the victim was signed out by someone else's workspace")
	}

	// Where the victim did join, a role change and a removal sign nobody out.
	admin, _ := e.User("admin@example.com")
	team := e.Workspace(admin, "Team")
	e.Join(admin, team, victim, "victim@example.com", "editor")
	e.Must(http.StatusOK, "PATCH", "/v1/workspaces/"+team+"/members/"+victimID, admin, map[string]string{"role": "viewer"})
	if !alive(victim) || !alive(victim2) {
		t.Fatal("a role change revoked sessions")
	}
	e.Must(http.StatusForbidden, "POST", "/v1/workspaces/"+team+"/projects", victim, map[string]string{"name": "x"}) // the new role applies at once
	e.Must(http.StatusNoContent, "DELETE", "/v1/workspaces/"+team+"/members/"+victimID, admin, nil)
	if !alive(victim) || !alive(victim2) {
		t.Fatal("a removal revoked sessions")
	}
	e.Must(http.StatusNotFound, "GET", "/v1/workspaces/"+team, victim, nil) // removed: at once
	e.Must(http.StatusOK, "GET", "/v1/workspaces/"+victimWS, victim2, nil)  // elsewhere: untouched
	e.Must(http.StatusCreated, "POST", "/v1/workspaces/"+victimWS+"/projects", victim, map[string]string{"name": "still mine"})
}

// TestMembershipRace (Observed 4): 50 concurrent promote/demote/remove
// requests among the members of one workspace keep at least one owner, and
// no member acts after their removal committed: in the ledger (appended in
// commit order) no event of a removed member follows their member.removed.
func TestMembershipRace(t *testing.T) {
	e := apptest.New(t)
	owner, ownerID := e.User("o0@example.com")
	ws := e.Workspace(owner, "Race")
	type member struct{ tok, id string }
	ms := []member{{owner, ownerID}}
	for i := 1; i < 6; i++ {
		email := fmt.Sprintf("o%d@example.com", i)
		tok, uid := e.User(email)
		role := "owner"
		if i >= 3 {
			role = "admin"
		}
		e.Join(owner, ws, tok, email, role)
		ms = append(ms, member{tok, uid})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type op struct {
		actor, target member
		method        string
		role          string
	}
	var ops []op
	for i := 0; i < 50; i++ {
		o := op{actor: ms[rng.IntN(len(ms))], target: ms[rng.IntN(len(ms))]}
		switch rng.IntN(3) {
		case 0:
			o.method, o.role = "PATCH", "owner"
		case 1:
			o.method, o.role = "PATCH", []string{"admin", "editor"}[rng.IntN(2)]
		default:
			o.method = "DELETE"
		}
		ops = append(ops, o)
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(ops))
	start := make(chan struct{})
	for i, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var body any
			if o.method == "PATCH" {
				body = map[string]string{"role": o.role}
			}
			statuses[i] = e.Do(o.method, "/v1/workspaces/"+ws+"/members/"+o.target.id, o.actor.tok, body).Status
		}()
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st >= 500 {
			t.Fatalf("op %d (%s by %s on %s): status %d", i, ops[i].method, ops[i].actor.id, ops[i].target.id, st)
		}
	}

	ctx := context.Background()
	var owners int
	if err := e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM members WHERE workspace_id = (SELECT id FROM workspaces WHERE name = 'Race') AND role = 'owner'`).Scan(&owners); err != nil {
		t.Fatal(err)
	}
	if owners < 1 {
		t.Fatal("the workspace lost its last owner")
	}
	rows, err := e.DB.Owner.Query(ctx, `SELECT seq, actor, type, subject FROM ledger_events
		WHERE workspace_id = (SELECT id FROM workspaces WHERE name = 'Race') ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	removed := map[string]int64{}
	var changes int
	for rows.Next() {
		var seq int64
		var actor, typ, subject string
		if err := rows.Scan(&seq, &actor, &typ, &subject); err != nil {
			t.Fatal(err)
		}
		if at, ok := removed[actor]; ok {
			t.Fatalf("ledger seq %d: %s by %s, who was removed at seq %d", seq, typ, actor, at)
		}
		switch typ {
		case "member.removed":
			removed[subject] = seq
			changes++
		case "member.role_changed":
			changes++
		}
	}
	if changes == 0 {
		t.Fatal("no change succeeded: the race tested nothing")
	}
	// A removed member can do nothing now.
	for _, m := range ms {
		if _, gone := removed[m.id]; gone {
			if r := e.Do("PATCH", "/v1/workspaces/"+ws+"/members/"+m.id, m.tok, map[string]string{"role": "owner"}); r.Status != http.StatusNotFound {
				t.Fatalf("removed member %s: %d", m.id, r.Status)
			}
		}
	}
	t.Logf("%d changes committed; statuses %v", changes, strings.Fields(fmt.Sprint(statuses)))
}
