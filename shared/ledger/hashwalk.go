package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/id"
)

// Online verification of stored bytes (the default GET …/ledger/verify) is
// bound by moving the events out of Postgres, not by hashing: it reads the
// range in chunks of hashChunk events on up to hashWorkers connections (one
// more per hashParallelMin events, each only if the pool has it to spare) that
// share one snapshot, each worker hashing its chunk as it reads (no per-row
// allocation: the bytes are hashed where the driver received them), and the
// caller feeds the checked chunks to the Verifier in seq order.
const (
	hashChunk   = 8192
	hashWorkers = 3
	// hashParallelMin is the size of a range worth one more connection.
	hashParallelMin = 2 * hashChunk
	// secondConnWait bounds the wait for each further pooled connection (a
	// new one is a new Postgres backend); without one, the first worker
	// reads the chunks the others do not.
	secondConnWait = 2 * time.Second
)

// checked is one event whose hash a worker has checked over its stored bytes.
type checked struct {
	seq        int64
	prev, hash Hash
	// ok: SHA-256(prev ‖ stored bytes) is hash.
	ok bool
	// bad is set when the event's bytes could not be hashed at all (a row
	// without stored bytes whose columns do not canonicalise).
	bad error
}

// hashWalk feeds v the events of ws after checkpoint seq from (0: from the
// first stored event, after the checkpoint anchoring a trimmed chain),
// each with its checkpoints, exactly as walkFrom with columns false does,
// but with the SHA-256 of each event computed by the readers. It reports
// the newest checkpoint passed. pgx.ErrNoRows: from > 0 and there is no
// checkpoint at from.
func hashWalk(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, from int64, v *Verifier) (newest *Checkpoint, err error) {
	tx0, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx0.Rollback(context.WithoutCancel(ctx))
	// One round trip: scope, snapshot name (for a second reader), the
	// range of stored events and every checkpoint that may be fed.
	var snap string
	var lo, hi *int64
	var cps []Checkpoint
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('app.workspace_id', $1, true), pg_export_snapshot()`, ws.UUID().String()).
		QueryRow(func(row pgx.Row) error { var s string; return row.Scan(&s, &snap) })
	b.Queue(`SELECT min(seq), max(seq) FROM ledger_events WHERE workspace_id = $1 AND seq > $2`, ws, from).
		QueryRow(func(row pgx.Row) error { return row.Scan(&lo, &hi) })
	b.Queue(`SELECT `+checkpointCols+` FROM ledger_checkpoints WHERE workspace_id = $1 AND seq >= $2 ORDER BY seq`, ws, from).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				c, err := scanCheckpoint(rows)
				if err != nil {
					return err
				}
				cps = append(cps, c)
			}
			return rows.Err()
		})
	if err := tx0.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	// The anchor: the checkpoint at from, or (from 0) the one just before
	// the first stored event of a trimmed chain.
	anchorSeq := from
	if from == 0 && lo != nil {
		anchorSeq = *lo - 1
	}
	i := 0
	for i < len(cps) && cps[i].Seq < anchorSeq {
		i++
	}
	switch {
	case i < len(cps) && cps[i].Seq == anchorSeq && (from > 0 || anchorSeq > 0):
		c := cps[i]
		if v.Checkpoint(0, c); !v.Broken() {
			newest = &c
		}
		i++
	case from > 0:
		return nil, pgx.ErrNoRows
	}
	cps = cps[i:]
	if lo == nil || v.Broken() {
		return newest, nil
	}
	first, last := *lo, *hi
	nchunks := int((last-first)/hashChunk) + 1
	chunk := func(k int) (int64, int64) {
		a := first + int64(k)*hashChunk
		return a, min(a+hashChunk-1, last)
	}

	// Workers take chunks in order; at most 2*hashWorkers chunks are
	// read ahead of the caller (memory stays bounded for any ledger).
	results := make([]chan []checked, nchunks)
	for k := range results {
		results[k] = make(chan []checked, 1)
	}
	var next atomic.Int64
	window := make(chan struct{}, 2*hashWorkers)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var werr error
	var werrOnce sync.Once
	fail := func(err error) {
		werrOnce.Do(func() { werr = err })
		cancel()
	}
	work := func(tx querier) {
		for {
			select {
			case window <- struct{}{}:
			case <-wctx.Done():
				return
			}
			k := int(next.Add(1) - 1)
			if k >= nchunks {
				<-window
				return
			}
			a, z := chunk(k)
			out, err := hashChunkRows(wctx, tx, ws, a, z)
			if err != nil {
				fail(err)
				return
			}
			results[k] <- out
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); work(tx0) }()
	for i := 1; i < hashWorkers && last-first+1 >= int64(i)*hashParallelMin; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q, end, err := secondReader(wctx, pool, ws, snap)
			if err != nil {
				return // the first worker reads every chunk
			}
			defer end()
			work(q)
		}()
	}
	defer wg.Wait()

	for k := 0; k < nchunks; k++ {
		var rows []checked
		select {
		case rows = <-results[k]:
		case <-wctx.Done():
			if werr != nil {
				return nil, werr
			}
			return nil, wctx.Err()
		}
		<-window
		for _, e := range rows {
			if e.bad != nil {
				v.fail(e.seq, 0, "event cannot be canonicalised: %v", e.bad)
			} else {
				v.eventChecked(0, ws, e.seq, e.prev, e.hash, e.ok)
			}
			for len(cps) > 0 && cps[0].Seq <= e.seq {
				if c := cps[0]; c.Seq == e.seq {
					if v.Checkpoint(0, c); !v.Broken() {
						newest = &c
					}
				}
				cps = cps[1:]
			}
			if v.Broken() {
				return newest, nil
			}
		}
	}
	return newest, nil
}

// secondReader opens a further reader: a read-only transaction on the
// snapshot of the first
// reader, if a pooled connection is free within secondConnWait. end
// rolls it back and returns the connection.
func secondReader(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, snap string) (q querier, end func(), err error) {
	// Only when the pool has a connection to spare (idle, or room for a
	// new one), and not for long: concurrent verifications each holding
	// one connection must not wait on each other for a second.
	if st := pool.Stat(); st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
		return nil, nil, errors.New("ledger: no spare connection")
	}
	actx, cancel := context.WithTimeout(ctx, secondConnWait)
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	// SET TRANSACTION SNAPSHOT must come before any other statement of
	// the transaction and takes no parameters: one simple-protocol
	// string (the snapshot name comes from pg_export_snapshot, the
	// workspace is a formatted UUID; both are quoted anyway).
	_, err = conn.Exec(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT `+quoteLiteral(snap)+
		`; SELECT set_config('app.workspace_id', `+quoteLiteral(ws.UUID().String())+`, true)`)
	end = func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}
	if err != nil {
		end()
		return nil, nil, err
	}
	return conn, end, nil
}

// querier runs a query (a transaction or a connection in one).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// hashChunkRows reads the events a..z of ws and checks each one's hash
// over its stored bytes as it arrives. Events appended before the bytes
// were stored are canonicalised from their columns.
func hashChunkRows(ctx context.Context, tx querier, ws id.WorkspaceID, a, z int64) ([]checked, error) {
	rows, err := tx.Query(ctx, `SELECT seq, prev_hash, hash, body FROM ledger_events
		WHERE workspace_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq`, ws, a, z)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]checked, 0, z-a+1)
	var legacy []int
	var seq int64
	var prev, h, body pgtype.DriverBytes
	d := sha256.New()
	var sum Hash
	for rows.Next() {
		if err := rows.Scan(&seq, &prev, &h, &body); err != nil {
			return nil, err
		}
		if len(prev) != len(Hash{}) || len(h) != len(Hash{}) {
			return nil, fmt.Errorf("ledger: event %d: hash columns are not 32 bytes", seq)
		}
		c := checked{seq: seq}
		copy(c.prev[:], prev)
		copy(c.hash[:], h)
		if body == nil {
			legacy = append(legacy, len(out))
		} else {
			// ChainHash, with one digest for the whole chunk.
			d.Reset()
			d.Write(c.prev[:])
			d.Write(body)
			d.Sum(sum[:0])
			c.ok = sum == c.hash
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(legacy) > 0 {
		if err := checkLegacy(ctx, tx, ws, out, legacy); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkLegacy hashes the canonicalised columns of the events out[i] (i in
// idx) that have no stored bytes.
func checkLegacy(ctx context.Context, tx querier, ws id.WorkspaceID, out []checked, idx []int) error {
	seqs := make([]int64, len(idx))
	at := make(map[int64]int, len(idx))
	for j, i := range idx {
		seqs[j] = out[i].seq
		at[out[i].seq] = i
	}
	rows, err := tx.Query(ctx, `SELECT `+eventCols+` FROM ledger_events WHERE workspace_id = $1 AND seq = ANY($2)`, ws, seqs)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return err
		}
		i := at[e.Seq]
		b, err := e.Body()
		if err != nil {
			out[i].bad = err
			continue
		}
		out[i].ok = ChainHash(out[i].prev, b) == out[i].hash
		seen++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seen+countBad(out, idx) != len(idx) {
		return errors.New("ledger: events changed under a repeatable-read snapshot")
	}
	return nil
}

func countBad(out []checked, idx []int) int {
	n := 0
	for _, i := range idx {
		if out[i].bad != nil {
			n++
		}
	}
	return n
}
