package ledger

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the ledger routes.
const Function = "ledger"

// Service serves the ledger routes.
type Service struct {
	pool *pgxpool.Pool
	keys keyring.Provider
}

// NewService returns a Service signing checkpoints with keys.
func NewService(pool *pgxpool.Pool, keys keyring.Provider) *Service {
	return &Service{pool: pool, keys: keys}
}

// Routes are the ledger routes. Reading the events and the export needs
// the admin role (payloads name members); verification any member.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger", Policy: guard.Member(guard.Admin), Handler: s.list},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger/export", Policy: guard.Member(guard.Admin), Handler: s.export, Stream: true},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger/verify", Policy: guard.Member(guard.Viewer), Handler: s.verify, Stream: true},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}

const eventCols = `workspace_id, seq, at, actor, type, subject, payload::text, prev_hash, hash`

func scanEvent(row pgx.Row) (Event, error) {
	var e Event
	var p string
	var prev, h []byte
	if err := row.Scan(&e.Workspace, &e.Seq, &e.Time, &e.Actor, &e.Type, &e.Subject, &p, &prev, &h); err != nil {
		return e, err
	}
	e.Payload = []byte(p)
	e.Time = e.Time.UTC()
	copy(e.PrevHash[:], prev)
	copy(e.Hash[:], h)
	return e, nil
}

// EventList is a page of events.
type EventList struct {
	Data      []Event `json:"data"`
	HasMore   bool    `json:"has_more"`
	NextAfter int64   `json:"next_after,omitempty"`
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "ledger.List"
	q := r.URL.Query()
	limit, after := int64(httpx.DefaultLimit), int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > httpx.MaxLimit {
			return problem.Field(op, "limit", "must be an integer from 1 to "+strconv.Itoa(httpx.MaxLimit))
		}
		limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return problem.Field(op, "after", "must be a sequence number")
		}
		after = n
	}
	rows, err := a.Tx.Query(r.Context(), `SELECT `+eventCols+` FROM ledger_events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		a.Workspace, after, limit+1)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) { return scanEvent(row) })
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	out := EventList{Data: items}
	if out.Data == nil {
		out.Data = []Event{}
	}
	if int64(len(items)) > limit {
		out.Data, out.HasMore = items[:limit], true
		out.NextAfter = out.Data[limit-1].Seq
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}

// Walk reads ws's stored chain in order, up to and including seq upTo (all
// when 0): the checkpoint anchoring a trimmed chain first, then each event
// followed by the checkpoints of its seq. It runs in one snapshot.
func Walk(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, upTo int64, event func(Event) error, checkpoint func(Checkpoint) error) error {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws.UUID().String()); err != nil {
		return err
	}
	return walk(ctx, tx, ws, upTo, event, checkpoint)
}

func walk(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, upTo int64, event func(Event) error, checkpoint func(Checkpoint) error) error {
	{
		if upTo == 0 {
			upTo = 1<<63 - 1
		}
		// The anchor: a checkpoint just before the first stored event.
		c, err := scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointCols+` FROM ledger_checkpoints c
			WHERE workspace_id = $1 AND seq = (SELECT min(seq) - 1 FROM ledger_events WHERE workspace_id = $1)`, ws))
		switch {
		case err == nil:
			if err := checkpoint(c); err != nil {
				return err
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		rows, err := tx.Query(ctx, `SELECT workspace_id, seq, e.at, e.actor, e.type, e.subject, e.payload::text, e.prev_hash, e.hash, c.key_id IS NOT NULL, c.hash, c.at, c.key_id, c.signature
			FROM ledger_events e LEFT JOIN ledger_checkpoints c USING (workspace_id, seq)
			WHERE workspace_id = $1 AND seq <= $2 ORDER BY seq`, ws, upTo)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e Event
			var p string
			var prev, h, ch, sig []byte
			var has bool
			var c Checkpoint
			var at *time.Time
			var keyID *string
			if err := rows.Scan(&e.Workspace, &e.Seq, &e.Time, &e.Actor, &e.Type, &e.Subject, &p, &prev, &h, &has, &ch, &at, &keyID, &sig); err != nil {
				return err
			}
			e.Payload, e.Time = []byte(p), e.Time.UTC()
			copy(e.PrevHash[:], prev)
			copy(e.Hash[:], h)
			if err := event(e); err != nil {
				return err
			}
			if has {
				c.Workspace, c.Seq, c.Time, c.Signature, c.KeyID = ws, e.Seq, at.UTC(), sig, *keyID
				copy(c.Hash[:], ch)
				if err := checkpoint(c); err != nil {
					return err
				}
			}
		}
		return rows.Err()
	}
}

func (s *Service) export(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "ledger.Export"
	ctx := r.Context()
	var head Checkpoint
	var ok bool
	err := db.InWorkspace(ctx, s.pool, a.Workspace.UUID().String(), func(tx pgx.Tx) (err error) {
		head, ok, err = Sign(ctx, tx, a.Workspace, s.keys)
		return err
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="ledger-`+a.Workspace.String()+`.jsonl"`)
	if !ok {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	bw := newFlushWriter(w)
	err = Walk(ctx, s.pool, a.Workspace, head.Seq, func(e Event) error {
		b, err := AppendEventLine(bw.buf[:0], e)
		if err != nil {
			return err
		}
		return bw.write(b)
	}, func(c Checkpoint) error {
		b, err := AppendCheckpointLine(bw.buf[:0], c)
		if err != nil {
			return err
		}
		return bw.write(b)
	})
	if err != nil && !bw.started {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err == nil {
		err = bw.flush()
	}
	if err != nil {
		// Headers are gone: cut the stream so the file fails verification.
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "ledger.Verify"
	keys, err := s.keys.PublicKeys(r.Context())
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	v := NewVerifier(&keys, false)
	stop := errors.New("stop")
	err = Walk(r.Context(), s.pool, a.Workspace, 0, func(e Event) error {
		if v.Event(0, e); v.Broken() {
			return stop
		}
		return nil
	}, func(c Checkpoint) error {
		if v.Checkpoint(0, c); v.Broken() {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return problem.Wrap(op, problem.Internal, err)
	}
	rep := v.Finish()
	rep.Workspace = a.Workspace
	httpx.JSON(w, http.StatusOK, rep)
	return nil
}

// flushWriter batches export lines into 64 KiB writes.
type flushWriter struct {
	w       http.ResponseWriter
	out     []byte
	buf     []byte
	started bool
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, out: make([]byte, 0, 64<<10), buf: make([]byte, 0, 4096)}
}

func (f *flushWriter) write(b []byte) error {
	f.out = append(f.out, b...)
	f.buf = b[:0]
	if len(f.out) >= 60<<10 {
		return f.flush()
	}
	return nil
}

func (f *flushWriter) flush() error {
	f.started = true
	if _, err := f.w.Write(f.out); err != nil {
		return err
	}
	f.out = f.out[:0]
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return nil
}
