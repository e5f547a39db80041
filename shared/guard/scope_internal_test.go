package guard

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// TestCheckClearsScopeWhenRefused: the check statement a Read route's
// queries are pipelined behind leaves the transaction scoped to the
// workspace only when every check passes. A non-member, a resource of
// another workspace and a role below the route's minimum all leave it
// unscoped, so a query queued after the check (which runs on the server
// whatever the check found) reads no tenant row.
func TestCheckClearsScopeWhenRefused(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	owner, viewer, stranger := uuid.New(), uuid.New(), uuid.New()
	ws, otherWS := uuid.New(), uuid.New()
	prj, otherPrj := uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, email_canonical) VALUES ($1::uuid, $1::uuid::text || '@x.test', $1::uuid::text || '@x.test')`, []any{owner}},
		{`INSERT INTO users (id, email, email_canonical) VALUES ($1::uuid, $1::uuid::text || '@x.test', $1::uuid::text || '@x.test')`, []any{viewer}},
		{`INSERT INTO users (id, email, email_canonical) VALUES ($1::uuid, $1::uuid::text || '@x.test', $1::uuid::text || '@x.test')`, []any{stranger}},
		{`INSERT INTO workspaces (id, name, created_by) VALUES ($1, 'w', $2), ($3, 'o', $2)`, []any{ws, owner, otherWS}},
		{`INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, 'owner'), ($1, $3, 'viewer'), ($4, $2, 'owner')`, []any{ws, owner, viewer, otherWS}},
		{`INSERT INTO projects (id, workspace_id, name) VALUES ($1, $2, 'p'), ($3, $4, 'q')`, []any{prj, ws, otherPrj, otherWS}},
	} {
		if _, err := d.Owner.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	g := &guarded{route: Route{Method: "PATCH", Pattern: "/v1/workspaces/{ws}/projects/{project}", Policy: Member(Editor)}}
	g.prepare()
	for _, tc := range []struct {
		name       string
		user, proj uuid.UUID
		scoped     bool
	}{
		{"owner, own project", owner, prj, true},
		{"stranger", stranger, prj, false},
		{"owner, another workspace's project", owner, otherPrj, false},
		{"viewer below the editor minimum", viewer, prj, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := d.App.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws.String()); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, g.query, ws, g.roles, tc.proj, uuid.New(), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			var scope string
			var n int
			if err := tx.QueryRow(ctx, `SELECT current_setting('app.workspace_id', true), (SELECT count(*) FROM projects)`).Scan(&scope, &n); err != nil {
				t.Fatal(err)
			}
			if tc.scoped != (scope == ws.String()) || tc.scoped != (n == 1) {
				t.Fatalf("after the check: scope %q, %d projects visible; want scoped=%v", scope, n, tc.scoped)
			}
			if !tc.scoped && (scope != "" || n != 0) {
				t.Fatalf("refused, but scope %q and %d projects visible", scope, n)
			}
		})
	}
}
