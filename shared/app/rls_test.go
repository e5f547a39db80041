package app_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// tenantTables lists every table with a workspace_id column (and workspaces).
func tenantTables(t *testing.T, e *apptest.Env) []string {
	t.Helper()
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT DISTINCT table_name FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'workspace_id' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return append(tables, "workspaces")
}

// TestRowLevelSecurity proves T-02 on the app role: a query that forgets its
// WHERE sees only the scoped workspace; with no workspace set it sees
// nothing; writing a row of another workspace is refused; every tenant table
// has row security enabled and a policy; the role cannot bypass it.
func TestRowLevelSecurity(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	tokA, _ := e.User("a@example.com")
	wsA := e.Workspace(tokA, "A")
	tokB, _ := e.User("b@example.com")
	wsB := e.Workspace(tokB, "B")
	for i := 0; i < 3; i++ {
		e.Must(201, "POST", "/v1/workspaces/"+wsA+"/projects", tokA, map[string]string{"name": "a"})
	}
	e.Must(201, "POST", "/v1/workspaces/"+wsB+"/projects", tokB, map[string]string{"name": "b"})
	var a id.WorkspaceID
	if err := a.UnmarshalText([]byte(wsA)); err != nil {
		t.Fatal(err)
	}

	var super, bypass bool
	if err := e.DB.App.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("app role: superuser=%v bypassrls=%v", super, bypass)
	}

	err := db.InWorkspace(ctx, e.DB.App, a.UUID().String(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT workspace_id FROM projects`) // no WHERE, on purpose
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[id.WorkspaceID])
		if err != nil {
			return err
		}
		if len(got) != 3 {
			t.Errorf("scoped to A, WHERE-less query saw %d projects, want 3", len(got))
		}
		for _, w := range got {
			if w != a {
				t.Errorf("scoped to A, saw a project of %s", w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tb := range tenantTables(t, e) {
		var n int
		err := db.Tx(ctx, e.DB.App, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{tb}.Sanitize()).Scan(&n)
		})
		if err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		if n != 0 {
			t.Errorf("no workspace set: %s shows %d rows, want 0", tb, n)
		}
		var enabled bool
		var policies int
		if err := e.DB.Owner.QueryRow(ctx, `SELECT c.relrowsecurity, (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname)
			FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace`, tb).Scan(&enabled, &policies); err != nil {
			t.Fatal(err)
		}
		if !enabled || policies == 0 {
			t.Errorf("tenant table %s: row security enabled=%v, %d policies", tb, enabled, policies)
		}
	}

	var b id.WorkspaceID
	_ = b.UnmarshalText([]byte(wsB))
	err = db.InWorkspace(ctx, e.DB.App, a.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, workspace_id, name) VALUES ($1, $2, 'smuggled')`, id.New[id.ProjectID](), b)
		return err
	})
	if err == nil {
		t.Fatal("scoped to A, inserting a project of B succeeded")
	}
}
