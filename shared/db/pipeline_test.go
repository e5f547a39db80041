package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// TestReadPipelineIsOneReadOnlyScopedTransaction: ReadPipeline's batch
// (sent without BEGIN/COMMIT statements, as one implicit transaction)
// refuses writes (25006 read_only_sql_transaction) and rolls back whatever
// came before the failing statement, is scoped to its workspace for every
// statement, and leaves the connection idle and unscoped for the next
// user.
func TestReadPipelineIsOneReadOnlyScopedTransaction(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	ws := uuid.NewString()

	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(4243)`)
	b.Queue(`INSERT INTO users (id, email, email_canonical) VALUES ($1, 'ro@x.test', 'ro@x.test')`, uuid.New())
	err := db.ReadPipeline(ctx, d.App, ws, b)
	var pe *pgconn.PgError
	if !asPg(err, &pe) || pe.Code != "25006" {
		t.Fatalf("a write in the read pipeline: %v, want SQLSTATE 25006", err)
	}
	var n int
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM users WHERE email = 'ro@x.test'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused write left %d rows (%v)", n, err)
	}
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4243`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the failed pipeline kept its lock: %d (%v)", n, err)
	}

	var first, second, ro string
	b = &pgx.Batch{}
	b.Queue(`SELECT current_setting('app.workspace_id', true)`).QueryRow(func(r pgx.Row) error { return r.Scan(&first) })
	b.Queue(`SELECT current_setting('app.workspace_id', true), current_setting('transaction_read_only')`).QueryRow(func(r pgx.Row) error { return r.Scan(&second, &ro) })
	if err := db.ReadPipeline(ctx, d.App, ws, b); err != nil {
		t.Fatal(err)
	}
	if first != ws || second != ws || ro != "on" {
		t.Fatalf("inside the pipeline: scope %q then %q, read-only %q", first, second, ro)
	}
	// The scope ended with the pipeline: every connection of the pool
	// (one is idle after the batches above) reads unscoped.
	var after string
	if err := d.App.QueryRow(ctx, `SELECT coalesce(current_setting('app.workspace_id', true), '')`).Scan(&after); err != nil || after != "" {
		t.Fatalf("after the pipeline: scope %q (%v)", after, err)
	}
	if n := d.App.Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired", n)
	}
}

func asPg(err error, pe **pgconn.PgError) bool {
	if err == nil {
		return false
	}
	return errors.As(err, pe)
}

// TestConnLost: the errors a dead connection surfaces are recognised —
// including pgx's "conn closed" for a connection that an earlier use found
// dead and closed while the pool could still hand it out (seen as a 500 in
// TestConnectionLossIsInvisible) — and no others.
func TestConnLost(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	c, err := d.App.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := c.Hijack()
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, closedErr := conn.Exec(ctx, `SELECT 1`)
	if closedErr == nil {
		t.Fatal("a closed connection ran a query")
	}
	for _, tc := range []struct {
		name string
		err  error
		lost bool
	}{
		{"query on a closed connection", closedErr, true},
		{"terminated by the administrator", &pgconn.PgError{Code: "57P01"}, true},
		{"server shutting down", &pgconn.PgError{Code: "57P02"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := db.ConnLost(tc.err); got != tc.lost {
			t.Errorf("%s (%v): ConnLost = %v, want %v", tc.name, tc.err, got, tc.lost)
		}
	}
}
