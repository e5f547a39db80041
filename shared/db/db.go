// Package db opens Postgres pools, applies the embedded migrations and runs
// transactions scoped to one workspace, which is what row-level security
// (T-02) keys on.
package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
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
//
// The transaction fn receives accepts after-commit hooks (AfterCommit); they
// run once it has committed, never after a rollback. A panic in fn rolls the
// transaction back (releasing its connection and locks) and is re-raised.
func InWorkspace(ctx context.Context, b Beginner, ws string, fn func(pgx.Tx) error) error {
	if ws == "" {
		return errors.New("db: InWorkspace needs a workspace id")
	}
	return run(ctx, b, ws, fn)
}

func run(ctx context.Context, b Beginner, ws string, fn func(pgx.Tx) error) error {
	opts := pgx.TxOptions{}
	scoped := false
	if ws != "" {
		opts.BeginQuery, scoped = BeginInWorkspace(ws, false)
	}
	tx, err := Begin(ctx, b, opts)
	if err != nil {
		return err
	}
	// Unconditional: Rollback after Commit is a no-op, and a deferred call
	// also runs while a panic unwinds, so neither an error nor a panic in
	// fn leaks the transaction, its connection or its locks.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if ws != "" && !scoped {
		if _, err = tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws); err != nil {
			return fmt.Errorf("db: set workspace: %w", err)
		}
	}
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// BeginInWorkspace returns the statement that opens a transaction already
// scoped to workspace ws — "BEGIN; SELECT set_config('app.workspace_id',
// 'ws', true)", READ ONLY if readOnly — sent as one simple-protocol message,
// so scoping costs no round trip of its own (pass it as
// pgx.TxOptions.BeginQuery). ok is false when ws is not a UUID: only a
// UUID's canonical text is ever written into the statement; the caller
// then scopes with a bound parameter instead.
func BeginInWorkspace(ws string, readOnly bool) (q string, ok bool) {
	u, err := uuid.Parse(ws)
	if err != nil {
		return "", false
	}
	begin := "BEGIN"
	if readOnly {
		begin = "BEGIN READ ONLY"
	}
	return begin + "; SELECT set_config('app.workspace_id', '" + u.String() + "', true)", true
}

// Hook is work that must happen only once a transaction has committed:
// starting an execution, delivering mail already written to the outbox. It
// runs with a context that is not canceled with the request's.
type Hook func(ctx context.Context) error

// HookTx is a transaction that runs hooks after it commits (or, for
// hooks registered with AfterRollback, after it rolls back). Every
// transaction this package opens is one; guard opens one per buffered
// member request.
type HookTx struct {
	pgx.Tx
	hooks     []Hook
	rollbacks []Hook
	once      map[string]bool
	done      bool
}

// Begin opens a transaction that accepts after-commit hooks. When b is a
// pool and the connection it handed out turns out to be dead (the BEGIN is
// the first thing sent, so none of the caller's work has reached the
// server), the pool's idle connections are dropped and BEGIN is sent once
// more on a fresh one.
func Begin(ctx context.Context, b Beginner, opts pgx.TxOptions) (*HookTx, error) {
	tx, err := b.BeginTx(ctx, opts)
	if p, ok := b.(*pgxpool.Pool); ok && retryable(err, true, false) && ctx.Err() == nil {
		onConnLost(ctx, p, "begin", err)
		tx, err = b.BeginTx(ctx, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("db: begin: %w", err)
	}
	return &HookTx{Tx: tx}, nil
}

// ErrNoHooks is returned by AfterCommit for a transaction that was not
// opened by this package (or guard), which could not run the hook.
var ErrNoHooks = errors.New("db: this transaction does not run after-commit hooks")

// AfterCommit registers h to run after tx commits, in registration order.
// It is discarded if tx rolls back. tx must come from Begin, Tx,
// InWorkspace or a guarded request; otherwise ErrNoHooks.
func AfterCommit(tx pgx.Tx, h Hook) error {
	return register(tx, h, false)
}

// AfterCommitOnce is AfterCommit for hooks that are the same whatever
// registers them (waking a scheduled job): only the first registration
// under key in tx is kept.
func AfterCommitOnce(tx pgx.Tx, key string, h Hook) error {
	ht, ok := tx.(*HookTx)
	if !ok {
		return ErrNoHooks
	}
	if ht.once[key] {
		return nil
	}
	if ht.once == nil {
		ht.once = map[string]bool{}
	}
	ht.once[key] = true
	ht.hooks = append(ht.hooks, h)
	return nil
}

func register(tx pgx.Tx, h Hook, onRollback bool) error {
	ht, ok := tx.(*HookTx)
	if !ok {
		return ErrNoHooks
	}
	if onRollback {
		ht.rollbacks = append(ht.rollbacks, h)
	} else {
		ht.hooks = append(ht.hooks, h)
	}
	return nil
}

// AfterRollback registers h to run after tx rolls back (a refusal that
// must still be recorded, on a connection of its own once tx's is
// released); it is discarded if tx commits. Errors of h are the hook's to
// log: a rollback has no caller to report them to.
func AfterRollback(tx pgx.Tx, h Hook) error {
	return register(tx, h, true)
}

// AfterCommitError wraps the errors of after-commit hooks: the transaction
// itself committed.
type AfterCommitError struct{ Err error }

func (e *AfterCommitError) Error() string { return "db: after commit: " + e.Err.Error() }
func (e *AfterCommitError) Unwrap() error { return e.Err }

// Commit commits the transaction, then runs its hooks in order. A hook's
// error does not stop the later hooks; the errors are returned together as
// an *AfterCommitError (the commit itself succeeded). A failed commit is a
// rollback: the AfterRollback hooks run.
func (t *HookTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	hctx := context.WithoutCancel(ctx)
	if err := t.Tx.Commit(ctx); err != nil {
		runHooks(hctx, t.rollbacks)
		return fmt.Errorf("db: commit: %w", err)
	}
	if errs := runHooks(hctx, t.hooks); len(errs) > 0 {
		return &AfterCommitError{Err: errors.Join(errs...)}
	}
	return nil
}

// Rollback rolls the transaction back, discards its after-commit hooks and
// runs its AfterRollback hooks. After Commit it does nothing.
func (t *HookTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	err := t.Tx.Rollback(ctx)
	runHooks(context.WithoutCancel(ctx), t.rollbacks)
	return err
}

func runHooks(ctx context.Context, hooks []Hook) []error {
	var errs []error
	for _, h := range hooks {
		if err := h(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
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
