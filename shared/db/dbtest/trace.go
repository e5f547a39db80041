package dbtest

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Counter is a pgx tracer that counts round trips to the server: each
// query or Exec, each batch (sent as one pipeline), each prepare; and the
// transactions committed and rolled back. Install it with
// apptest.WithTracer or on a pool's ConnConfig.
type Counter struct {
	mu                      sync.Mutex
	roundTrips, commits, rb int
	statements              []string
}

// Counts are a Counter's totals.
type Counts struct {
	RoundTrips int      // queries + batches + prepares
	Commits    int      // COMMIT statements
	Rollbacks  int      // ROLLBACK statements
	Statements []string // first line of each query or "batch of N"
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roundTrips, c.commits, c.rb, c.statements = 0, 0, 0, nil
}

// Counts returns the totals so far.
func (c *Counter) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counts{RoundTrips: c.roundTrips, Commits: c.commits, Rollbacks: c.rb, Statements: append([]string(nil), c.statements...)}
}

func (c *Counter) add(stmt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roundTrips++
	first, _, _ := strings.Cut(strings.TrimSpace(stmt), "\n")
	c.statements = append(c.statements, first)
	switch strings.ToLower(strings.TrimSpace(first)) {
	case "commit":
		c.commits++
	case "rollback":
		c.rb++
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (c *Counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.add(d.SQL)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (c *Counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer: a batch is one round trip.
func (c *Counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.add("batch of " + strconv.Itoa(d.Batch.Len()))
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (c *Counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (c *Counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TracePrepareStart implements pgx.PrepareTracer.
func (c *Counter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	c.add("prepare: " + d.SQL)
	return ctx
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (c *Counter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}
