package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
)

// fixtures are workspace A's identifiers, one per path parameter the guard
// knows, and fresh identifiers of the same kinds that name nothing.
type fixtures struct {
	a       map[string]string
	missing map[string]func() string
}

func newFixtures(t *testing.T, e *apptest.Env, tokA, wsA string) fixtures {
	t.Helper()
	tokA2, a2 := e.User("a2@example.com")
	e.Join(tokA, wsA, tokA2, "a2@example.com", "editor")
	inv := e.Invite(tokA, wsA, "pending@example.com", "viewer")
	prj := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/projects", tokA, map[string]string{"name": "A project"}).Str("id")
	shot := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/projects/"+prj+"/shots", tokA, map[string]string{"name": "SH010"}).Str("id")
	rel := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/releases", tokA, map[string]any{"name": "R1", "shots": []string{shot}}).Str("id")
	ast := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/assets", tokA, apptest.AssetBody("a.mp4", "video/mp4", make([]byte, 10))).Str("id")
	hook := e.Must(201, "POST", "/v1/workspaces/"+wsA+"/webhooks", tokA, map[string]any{"url": "https://hooks.example.com/a", "events": []string{}}).Str("id")
	f := fixtures{
		a: map[string]string{"ws": wsA, "project": prj, "shot": shot, "release": rel, "asset": ast, "user": a2, "hook": hook, "invitation": inv, "job": jobFixture(t, e, wsA, ast)},
		missing: map[string]func() string{
			"ws":         func() string { return id.New[id.WorkspaceID]().String() },
			"project":    func() string { return id.New[id.ProjectID]().String() },
			"shot":       func() string { return id.New[id.ShotID]().String() },
			"release":    func() string { return id.New[id.ReleaseID]().String() },
			"asset":      func() string { return id.New[id.AssetID]().String() },
			"user":       func() string { return id.New[id.UserID]().String() },
			"job":        func() string { return id.New[id.JobID]().String() },
			"hook":       func() string { return id.New[id.WebhookID]().String() },
			"invitation": func() string { return id.New[id.InviteID]().String() },
		},
	}
	for _, p := range guard.Params() {
		if f.a[p] == "" || f.missing[p] == nil {
			t.Fatalf("the IDOR suite has no fixture for path parameter {%s}: add one in newFixtures", p)
		}
	}
	return f
}

// jobFixture records a queued job of workspace A directly (no execution
// runs: the suite only needs its id to exist).
func jobFixture(t *testing.T, e *apptest.Env, ws, asset string) string {
	t.Helper()
	var w id.WorkspaceID
	var a id.AssetID
	if w.UnmarshalText([]byte(ws)) != nil || a.UnmarshalText([]byte(asset)) != nil {
		t.Fatal("bad fixture ids")
	}
	j := id.New[id.JobID]()
	if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO jobs (id, workspace_id, preset, inputs) VALUES ($1, $2, 'mp4-h264-720p', $3)`,
		j, w, []id.AssetID{a}); err != nil {
		t.Fatal(err)
	}
	return j.String()
}

func fill(pattern string, vals map[string]string) string {
	for k, v := range vals {
		pattern = strings.ReplaceAll(pattern, "{"+k+"}", v)
	}
	return pattern
}

func body(r guard.Route) any {
	if r.Method == "GET" || r.Method == "DELETE" {
		return nil
	}
	if r.Example != "" {
		return r.Example
	}
	return "{}"
}

// problemShape is a problem body without its per-request fields.
func problemShape(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	delete(m, "request_id")
	delete(m, "instance")
	return m
}

// digest fingerprints every table of the schema, as the owner (which row
// security does not filter), to prove a request changed nothing.
func digest(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	out := map[string]string{}
	for _, tb := range tables {
		var d string
		q := fmt.Sprintf(`SELECT count(*)::text || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM %q t`, tb)
		if err := pool.QueryRow(ctx, q).Scan(&d); err != nil {
			t.Fatal(err)
		}
		out[tb] = d
	}
	return out
}

// TestIDOR calls every workspace route of the router table as a member of
// workspace B with workspace A's identifiers, both under A's workspace id
// and under B's own (T-01): each answers 404 with
// the same problem as for identifiers that exist nowhere, and the database
// is unchanged. Viewers of A get 403 on every write; callers without a
// session get 401. Routes added to the table are covered automatically.
func TestIDOR(t *testing.T) {
	e := apptest.New(t)
	tokA, _ := e.User("a@example.com")
	wsA := e.Workspace(tokA, "A")
	f := newFixtures(t, e, tokA, wsA)
	tokV, _ := e.User("viewer@example.com")
	e.Join(tokA, wsA, tokV, "viewer@example.com", "viewer")
	tokB, _ := e.User("b@example.com")
	wsB := e.Workspace(tokB, "B")

	before := digest(t, e.DB.Owner)
	routes := e.App.Routes()
	var member, writes int
	for _, r := range routes {
		if r.Policy.Level != guard.LevelMember {
			continue
		}
		member++
		name := r.Method + " " + r.Pattern
		t.Run(name, func(t *testing.T) {
			pathA := fill(r.Pattern, f.a)
			got := e.Do(r.Method, pathA, tokB, body(r))
			if got.Status != http.StatusNotFound {
				t.Fatalf("B with A's ids: status %d, want 404; body %s", got.Status, got.Body)
			}
			miss := map[string]string{}
			for _, p := range r.Params() {
				miss[p] = f.missing[p]()
			}
			if len(r.Params()) > 1 {
				miss["ws"] = wsB // B's own workspace, resources that exist nowhere
			}
			want := e.Do(r.Method, fill(r.Pattern, miss), tokB, body(r))
			if want.Status != http.StatusNotFound {
				t.Fatalf("missing ids: status %d, want 404; body %s", want.Status, want.Body)
			}
			if g, w := problemShape(t, got.Body), problemShape(t, want.Body); !reflect.DeepEqual(g, w) {
				t.Fatalf("foreign and missing differ:\n foreign %v\n missing %v", g, w)
			}
			if len(r.Params()) > 1 {
				// The classic IDOR: B's own workspace, A's resource ids.
				mixed := map[string]string{}
				for k, v := range f.a {
					mixed[k] = v
				}
				mixed["ws"] = wsB
				g := e.Do(r.Method, fill(r.Pattern, mixed), tokB, body(r))
				if g.Status != http.StatusNotFound {
					t.Fatalf("B's workspace with A's ids: status %d, want 404; body %s", g.Status, g.Body)
				}
				if g, w := problemShape(t, g.Body), problemShape(t, want.Body); !reflect.DeepEqual(g, w) {
					t.Fatalf("B's ws + A's ids and missing differ:\n %v\n %v", g, w)
				}
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if un := e.Do(r.Method, pathA, "", body(r)); un.Status != http.StatusUnauthorized {
				t.Fatalf("no session: status %d, want 401", un.Status)
			}
			if r.Method != http.MethodGet {
				writes++
				if v := e.Do(r.Method, pathA, tokV, body(r)); v.Status != http.StatusForbidden {
					t.Fatalf("viewer of A writing: status %d, want 403; body %s", v.Status, v.Body)
				}
			}
		})
	}
	if member < 20 || writes < 10 {
		t.Fatalf("suite covered %d member routes, %d writes: table not walked?", member, writes)
	}
	if after := digest(t, e.DB.Owner); !reflect.DeepEqual(before, after) {
		for k := range before {
			if before[k] != after[k] {
				t.Errorf("table %s changed", k)
			}
		}
	}
}
