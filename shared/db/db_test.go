package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// TestPanicRollsBack: a panic inside InWorkspace (and Tx) rolls the
// transaction back, returns its connection to the pool and drops its locks,
// then propagates.
func TestPanicRollsBack(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	ws := uuid.NewString()
	for name, helper := range map[string]func(func(pgx.Tx) error) error{
		"InWorkspace": func(fn func(pgx.Tx) error) error { return db.InWorkspace(ctx, d.App, ws, fn) },
		"Tx":          func(fn func(pgx.Tx) error) error { return db.Tx(ctx, d.App, fn) },
	} {
		t.Run(name, func(t *testing.T) {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("the panic was swallowed")
					}
				}()
				_ = helper(func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4242)`); err != nil {
						t.Fatal(err)
					}
					panic("boom")
				})
			}()
			if n := d.App.Stat().AcquiredConns(); n != 0 {
				t.Fatalf("%d connections still acquired after the panic", n)
			}
			var got bool
			if err := d.Owner.QueryRow(ctx, `SELECT pg_try_advisory_lock(4242)`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !got {
				t.Fatal("the panicking transaction still holds its lock")
			}
			if _, err := d.Owner.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAfterCommit: hooks run once the transaction is visible to others,
// in order; never after an error, a panic or an explicit rollback; a hook's
// error is reported as an AfterCommitError after the commit.
func TestAfterCommit(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	if _, err := d.Owner.Exec(ctx, `CREATE TABLE hook_probe (n int); GRANT SELECT, INSERT ON hook_probe TO framebroker_app`); err != nil {
		t.Fatal(err)
	}
	visible := func() int {
		var n int
		if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM hook_probe`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, `INSERT INTO hook_probe VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	}
	errFn := errors.New("refused")

	t.Run("commit", func(t *testing.T) {
		before := visible()
		var order []int
		err := db.Tx(ctx, d.App, func(tx pgx.Tx) error {
			insert(tx)
			for i := range 2 {
				if err := db.AfterCommit(tx, func(context.Context) error {
					if visible() != before+1 {
						t.Error("hook ran before the commit was visible")
					}
					order = append(order, i)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		if err != nil || len(order) != 2 || order[0] != 0 || order[1] != 1 {
			t.Fatalf("err %v, hooks ran %v, want [0 1]", err, order)
		}
	})
	t.Run("error", func(t *testing.T) {
		ran := false
		err := db.Tx(ctx, d.App, func(tx pgx.Tx) error {
			insert(tx)
			_ = db.AfterCommit(tx, func(context.Context) error { ran = true; return nil })
			return errFn
		})
		if !errors.Is(err, errFn) || ran {
			t.Fatalf("err %v, hook ran %v", err, ran)
		}
	})
	t.Run("panic", func(t *testing.T) {
		ran := false
		func() {
			defer func() { _ = recover() }()
			_ = db.Tx(ctx, d.App, func(tx pgx.Tx) error {
				_ = db.AfterCommit(tx, func(context.Context) error { ran = true; return nil })
				panic("boom")
			})
		}()
		if ran {
			t.Fatal("hook ran after a panic")
		}
	})
	t.Run("rollback", func(t *testing.T) {
		tx, err := db.Begin(ctx, d.App, pgx.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		_ = db.AfterCommit(tx, func(context.Context) error { ran = true; return nil })
		_ = tx.Rollback(ctx)
		_ = tx.Commit(ctx) // closed: must not run the hooks either
		if ran {
			t.Fatal("hook ran after a rollback")
		}
	})
	t.Run("hook error", func(t *testing.T) {
		before := visible()
		err := db.Tx(ctx, d.App, func(tx pgx.Tx) error {
			insert(tx)
			return db.AfterCommit(tx, func(context.Context) error { return errFn })
		})
		var ac *db.AfterCommitError
		if !errors.As(err, &ac) || !errors.Is(err, errFn) {
			t.Fatalf("err %v, want an AfterCommitError wrapping the hook's", err)
		}
		if visible() != before+1 {
			t.Fatal("the transaction did not commit")
		}
	})
	t.Run("after rollback", func(t *testing.T) {
		var committed, rolledBack int
		reg := func(tx pgx.Tx) {
			_ = db.AfterCommit(tx, func(context.Context) error { committed++; return nil })
			_ = db.AfterRollback(tx, func(context.Context) error {
				// The connection is released: a new transaction works.
				if n := d.App.Stat().AcquiredConns(); n != 0 {
					t.Errorf("rollback hook runs with %d connections held", n)
				}
				rolledBack++
				return nil
			})
		}
		_ = db.Tx(ctx, d.App, func(tx pgx.Tx) error { reg(tx); return errFn })
		if committed != 0 || rolledBack != 1 {
			t.Fatalf("after an error: commit hooks %d, rollback hooks %d", committed, rolledBack)
		}
		_ = db.Tx(ctx, d.App, func(tx pgx.Tx) error { reg(tx); return nil })
		if committed != 1 || rolledBack != 1 {
			t.Fatalf("after a commit: commit hooks %d, rollback hooks %d", committed, rolledBack)
		}
	})
	t.Run("foreign tx", func(t *testing.T) {
		tx, err := d.App.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := db.AfterCommit(tx, func(context.Context) error { return nil }); !errors.Is(err, db.ErrNoHooks) {
			t.Fatalf("AfterCommit on a pgx transaction: %v, want ErrNoHooks", err)
		}
	})
}
