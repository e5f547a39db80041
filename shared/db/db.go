// Package db opens Postgres pools, applies the embedded migrations and runs
// transactions scoped to one workspace, which is what row-level security
// (T-02) keys on.
package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AppRole is the role requests are served as. It has no BYPASSRLS, owns no
// table, and so is subject to every row-level security policy.
const AppRole = "framebroker_app"

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: ping: %w", err)
	}
	return pool, nil
}

// Beginner is what the transaction helpers need: a pool or a connection.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Tx runs fn in a transaction that is not scoped to a workspace. Tenant tables
// are invisible inside it: row-level security matches no workspace.
func Tx(ctx context.Context, b Beginner, fn func(pgx.Tx) error) error {
	return run(ctx, b, "", fn)
}

// InWorkspace runs fn in a transaction with app.workspace_id set (SET LOCAL,
// via set_config) to ws, so every row-level security policy admits only that
// workspace's rows, whatever the queries inside forget to filter.
func InWorkspace(ctx context.Context, b Beginner, ws string, fn func(pgx.Tx) error) error {
	if ws == "" {
		return errors.New("db: InWorkspace needs a workspace id")
	}
	return run(ctx, b, ws, fn)
}

func run(ctx context.Context, b Beginner, ws string, fn func(pgx.Tx) error) (err error) {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if ws != "" {
		if _, err = tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws); err != nil {
			return fmt.Errorf("db: set workspace: %w", err)
		}
	}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a Postgres unique_violation on
// the named constraint (any constraint when name is empty).
func IsUniqueViolation(err error, name string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return false
	}
	return name == "" || pe.ConstraintName == name
}

// Querier is what stores need to run SQL: a pool, a connection or a
// transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ListPage runs a keyset-paginated query and collects up to limit+1 rows
// (one more than the page, so the caller learns whether a next page
// exists). sql must end with its own WHERE conditions over args and take
// the cursor and the row count as its last two parameters, as in
// "… AND id > $2 ORDER BY id LIMIT $3" for one argument.
func ListPage[T any](ctx context.Context, q Querier, sql string, args []any, after any, limit int, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, sql, append(args, after, limit+1)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}
