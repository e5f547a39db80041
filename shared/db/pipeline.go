package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ConnLost reports whether err means the connection itself is gone, not
// that a statement failed: the server terminated the session (SQLSTATE
// 57P01 admin_shutdown — what pg_terminate_backend, an Aurora failover or a
// proxy restart sends —, 57P02 crash_shutdown, 57P03 cannot_connect_now)
// or the socket closed or reset under a pooled connection.
func ConnLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
		return false
	}
	// pgconn.ErrConnClosed: the connection was found closed before
	// anything was sent on it (pgx closed it when an earlier use saw it
	// die, while the pool still handed it out).
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, pgconn.ErrConnClosed)
}

// retryable is the one rule for a transparent retry: the connection was
// lost and either nothing of the work had reached the server (the failure
// came with the first message on the connection) or the work was
// read-only. Anything else surfaces: a write whose COMMIT may have landed
// is never repeated behind the caller's back.
func retryable(err error, nothingSent, readOnly bool) bool {
	return ConnLost(err) && (nothingSent || readOnly)
}

// onConnLost handles a lost connection found in pool p: it logs the cause
// at WARN and closes every idle connection of the pool (a failover or a
// mass termination kills them all, and the next caller must not draw
// another dead one); connections in use are dropped when released.
func onConnLost(ctx context.Context, p *pgxpool.Pool, op string, err error) {
	slog.WarnContext(ctx, "db: connection lost; retrying once on a fresh connection", "op", op, "cause", err)
	p.Reset()
}

// ReadPipeline runs the statements queued on b as one read-only
// transaction scoped to workspace ws in ONE round trip: a statement that
// makes the transaction read-only and sets app.workspace_id to ws (both
// transaction-local), then b's statements, go to the server as a single
// pipelined batch — one implicit transaction, committed by the batch's
// Sync, so no BEGIN or COMMIT statement is spent —, and the callbacks registered on
// b's queued queries (QueryRow, Query, Exec) run as the results arrive. An
// error returned by a callback is returned; being read-only, nothing needs
// undoing. ws may be empty (no workspace: tenant tables read empty).
//
// A connection found dead is replaced and the batch sent once more (it is
// read-only, so a repeat cannot double anything).
func ReadPipeline(ctx context.Context, p *pgxpool.Pool, ws string, b *pgx.Batch) error {
	err := readPipeline(ctx, p, ws, b)
	if retryable(err, false, true) && ctx.Err() == nil {
		onConnLost(ctx, p, "read pipeline", err)
		err = readPipeline(ctx, p, ws, b)
	}
	return err
}

func readPipeline(ctx context.Context, p *pgxpool.Pool, ws string, b *pgx.Batch) error {
	c, err := p.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("db: acquire: %w", err)
	}
	defer c.Release()
	full := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	// No BEGIN and COMMIT statements: a pipelined batch up to its one Sync
	// is already one (implicit) transaction, which the Sync commits and an
	// error rolls back. The first statement makes it read-only (switching
	// to read-only is allowed at any point of a transaction) and scopes it.
	full.Queue(`SELECT set_config('transaction_read_only', 'on', true), set_config('app.workspace_id', $1, true)`, ws)
	full.QueuedQueries = appendFresh(full.QueuedQueries, b.QueuedQueries)
	err = c.SendBatch(ctx, full).Close()
	if err != nil && !c.Conn().IsClosed() && c.Conn().PgConn().TxStatus() != 'I' {
		// A callback refused a row, or a statement failed and the server
		// skipped the rest up to the batch's end: close the transaction so
		// the connection goes back to the pool clean.
		_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	return err
}

// BeginBatch opens a transaction with opts and runs the statements queued
// on b in it, in ONE round trip: BEGIN and b's statements go to the server
// as a single pipelined batch (pgx.Batch.BeginTx) and the callbacks
// registered on b's queries run as the results arrive. The transaction is
// returned open, for the caller's further work, Commit and Rollback; it
// holds its pool connection until then. If a statement or a callback
// fails, the transaction is rolled back and the error returned (a
// callback's error as is). opts.BeginQuery must be empty (a batch sends one
// statement per query).
//
// A connection found dead is replaced and the batch sent once more: the
// transaction had not committed, so the server dropped all of it.
func BeginBatch(ctx context.Context, p *pgxpool.Pool, opts pgx.TxOptions, b *pgx.Batch) (*HookTx, error) {
	if opts.BeginQuery != "" {
		return nil, errors.New("db: BeginBatch cannot send a custom BeginQuery")
	}
	tx, err := beginBatch(ctx, p, opts, b)
	if retryable(err, true, false) && ctx.Err() == nil {
		onConnLost(ctx, p, "begin batch", err)
		tx, err = beginBatch(ctx, p, opts, b)
	}
	return tx, err
}

func beginBatch(ctx context.Context, p *pgxpool.Pool, opts pgx.TxOptions, b *pgx.Batch) (*HookTx, error) {
	full := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	full.BeginTx(opts)
	full.QueuedQueries = appendFresh(full.QueuedQueries, b.QueuedQueries)
	br := p.SendBatch(ctx, full)
	err := br.Close()
	tx := br.Tx()
	if err != nil {
		// Rollback on a transaction the failed batch already closed is a
		// no-op that releases the connection.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, err
	}
	return &HookTx{Tx: tx}, nil
}

// appendFresh appends copies of qs to dst. Sending a batch binds each
// queued query to a statement prepared on that connection; a retry on a
// fresh connection must start from the query as the caller queued it.
func appendFresh(dst, qs []*pgx.QueuedQuery) []*pgx.QueuedQuery {
	for _, q := range qs {
		dst = append(dst, &pgx.QueuedQuery{SQL: q.SQL, Arguments: q.Arguments, Fn: q.Fn})
	}
	return dst
}
