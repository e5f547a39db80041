package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every embedded migration not yet applied, in file-name
// order, each in its own transaction, as the schema owner. A session-level
// advisory lock makes concurrent callers (two Lambdas cold-starting, the
// local stack and a test) apply each file exactly once.
//
// Why a 40-line runner instead of tern or goose: the files are plain SQL run
// in name order and recorded by name, so capabilities developed in parallel
// take their own number ranges (0001 foundation, 0100 ledger, 0200 pipeline,
// …) without renumbering, which tern's gap-free sequence forbids; and it adds
// no dependency to every Lambda.
func Migrate(ctx context.Context, ownerDSN string) error {
	conn, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		return fmt.Errorf("db: migrate: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return MigrateConn(ctx, conn)
}

// MigrateConn is Migrate on an open connection.
func MigrateConn(ctx context.Context, conn *pgx.Conn) error {
	const lockKey = 0x66726d62 // "frmb"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("db: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("db: migrate: bookkeeping table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
			return fmt.Errorf("db: migrate: %s: %w", name, err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = Tx(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("db: migrate: %s: %w", name, err)
		}
	}
	return nil
}
