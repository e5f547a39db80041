package ledger

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/cron/wake"
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
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger", Policy: guard.Member(guard.Admin), Handler: s.list,
			Summary: "The workspace's ledger events", Reply: EventList{}, Query: []string{"after", "limit"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger/export", Policy: guard.Member(guard.Admin), Handler: s.export, Stream: true,
			Summary: "The whole ledger as JSON lines, with signed checkpoints", ReplyType: "application/x-ndjson"},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/ledger/verify", Policy: guard.Member(guard.Viewer), Handler: s.verify, Stream: true,
			Summary: "Verify the hash chain and checkpoints; names the first broken link (?full=true: the whole chain; 202 while it finishes in the background)",
			Reply:   VerifyReply{}, AlsoStatus: []int{http.StatusAccepted}, Query: []string{"full"}},
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
// followed by the checkpoints of its seq. It runs in one snapshot. Events
// carry their stored canonical bytes (Event.HashedBytes), so nothing is
// re-serialised.
func Walk(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, upTo int64, event func(Event) error, checkpoint func(Checkpoint) error) error {
	return walkFrom(ctx, pool, ws, 0, upTo, true, event, checkpoint)
}

// walkFrom is Walk starting after seq from: when from > 0 the checkpoint
// at from comes first (the anchor; pgx.ErrNoRows if there is none), then
// the events after it. Without columns, events that have stored hashed
// bytes carry only those (and seq and hashes).
func walkFrom(ctx context.Context, pool *pgxpool.Pool, ws id.WorkspaceID, from, upTo int64, columns bool, event func(Event) error, checkpoint func(Checkpoint) error) error {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws.UUID().String()); err != nil {
		return err
	}
	return walk(ctx, tx, ws, from, upTo, columns, event, checkpoint)
}

func walk(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, from, upTo int64, columns bool, event func(Event) error, checkpoint func(Checkpoint) error) error {
	if upTo == 0 {
		upTo = 1<<63 - 1
	}
	// The anchor: the checkpoint verification continues from, or one just
	// before the first stored event (a trimmed chain).
	anchor := `SELECT ` + checkpointCols + ` FROM ledger_checkpoints c
		WHERE workspace_id = $1 AND seq = (SELECT min(seq) - 1 FROM ledger_events WHERE workspace_id = $1)`
	args := []any{ws}
	if from > 0 {
		anchor = `SELECT ` + checkpointCols + ` FROM ledger_checkpoints c WHERE workspace_id = $1 AND seq = $2`
		args = append(args, from)
	}
	c, err := scanCheckpoint(tx.QueryRow(ctx, anchor, args...))
	switch {
	case err == nil:
		if err := checkpoint(c); err != nil {
			return err
		}
	case from > 0 || !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	// With columns false, an event that has its hashed bytes is read as
	// those bytes alone (what verification needs): the other columns come
	// only for events appended before the bytes were stored.
	rows, err := tx.Query(ctx, `SELECT seq, e.prev_hash, e.hash, e.body, e.body IS NULL OR $4,
			CASE WHEN e.body IS NULL OR $4 THEN e.at END, CASE WHEN e.body IS NULL OR $4 THEN e.actor END,
			CASE WHEN e.body IS NULL OR $4 THEN e.type END, CASE WHEN e.body IS NULL OR $4 THEN e.subject END,
			CASE WHEN e.body IS NULL OR $4 THEN e.payload::text END,
			c.key_id IS NOT NULL, c.hash, c.at, c.key_id, c.signature
		FROM ledger_events e LEFT JOIN ledger_checkpoints c USING (workspace_id, seq)
		WHERE workspace_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`, ws, from, upTo, columns)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e := Event{Workspace: ws}
		var p, actor, typ, subject *string
		var when *time.Time
		var prev, h, ch, sig []byte
		var has, cols bool
		var c Checkpoint
		var at *time.Time
		var keyID *string
		if err := rows.Scan(&e.Seq, &prev, &h, &e.stored, &cols, &when, &actor, &typ, &subject, &p, &has, &ch, &at, &keyID, &sig); err != nil {
			return err
		}
		if cols {
			e.Time, e.Actor, e.Type, e.Subject, e.Payload = when.UTC(), *actor, *typ, *subject, []byte(*p)
		}
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
	// Stored hashed bytes go out as they are: nothing is re-serialised.
	err = walkFrom(ctx, s.pool, a.Workspace, 0, head.Seq, false, func(e Event) error {
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

// FullBudget is how long GET …/ledger/verify?full=true verifies in the
// request before it answers 202 and hands the verification to the
// ledger-full cron job (API Gateway gives a request 29 s).
var FullBudget = 20 * time.Second

// VerifyReply is the answer of GET …/ledger/verify: the report of this
// verification, where it started, and the last full re-verification.
type VerifyReply struct {
	Report
	// From is the seq of the signed checkpoint this verification continued
	// from (0: it started at the first event).
	From int64 `json:"from"`
	// Full is true when this verification re-checked the whole chain,
	// including that the stored columns still say what the hashed bytes say.
	Full bool `json:"full"`
	// LastFull is the outcome of the last full verification, if any.
	LastFull *FullResult `json:"last_full,omitempty"`
	// Status is "running" when a full verification did not finish within
	// the request and goes on in the background (202).
	Status string `json:"status,omitempty"`
}

// FullResult is a recorded full verification.
type FullResult struct {
	At     time.Time `json:"at"`
	Valid  bool      `json:"valid"`
	Report *Report   `json:"report,omitempty"`
}

// verify checks the chain online. By default it continues from the newest
// signed checkpoint an earlier verification reached (recorded in
// ledger_verified), hashing the stored canonical bytes of the events after
// it: its cost is the events since the last verification, not the ledger's
// size. ?full=true re-verifies from the first event, also comparing each
// event's columns with its hashed bytes; if that takes longer than
// FullBudget the reply is 202 {"status":"running"}, the ledger-full cron
// job finishes it and records the result (shown as last_full by later
// calls).
func (s *Service) verify(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "ledger.Verify"
	ctx := r.Context()
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	full := r.URL.Query().Get("full") == "true"
	mark, last, err := s.verifiedMark(ctx, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if !full {
		out, err := s.runVerify(ctx, a.Workspace, keys, mark, false)
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		out.LastFull = last
		httpx.JSON(w, http.StatusOK, out)
		return nil
	}
	// A full run gets FullBudget inside the request. One that cannot
	// finish in it is not left running behind the reply (a Lambda is
	// frozen once it has answered): it is recorded as requested, and the
	// due-only ledger-full cron job, woken after that commit, runs it to
	// the end (RunRequestedFull). Later replies show its outcome as
	// last_full.
	fctx, cancel := context.WithTimeout(ctx, FullBudget)
	out, err := s.runVerify(fctx, a.Workspace, keys, 0, true)
	expired := fctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case err == nil:
		httpx.JSON(w, http.StatusOK, out)
	case expired:
		if err := s.requestFull(ctx, a.Workspace); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		httpx.JSON(w, http.StatusAccepted, VerifyReply{Status: "running", LastFull: last, Full: true})
	default:
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}

// requestFull records that a full verification of ws was asked for and
// did not finish within a request, and wakes the job that runs it.
func (s *Service) requestFull(ctx context.Context, ws id.WorkspaceID) error {
	return db.InWorkspace(ctx, s.pool, ws.UUID().String(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_verified (workspace_id, seq, hash, full_requested_at)
			VALUES ($1, 0, $2, now())
			ON CONFLICT (workspace_id) DO UPDATE SET full_requested_at = coalesce(ledger_verified.full_requested_at, now())`,
			ws, make([]byte, 32)); err != nil {
			return err
		}
		return wake.AfterCommit(ctx, tx, wake.LedgerFull)
	})
}

// FullRun is the summary of a ledger-full cron run.
type FullRun struct {
	// Verified counts the workspaces whose requested full verification
	// ran to its end (valid or not); Failed those that could not run
	// (left requested, retried by the next run).
	Verified int `json:"verified"`
	Failed   int `json:"failed"`
}

// RunRequestedFull runs every full verification that was requested and
// did not finish within its request (the ledger-full cron job), each to
// its end, and records its outcome (last_full) the way a request that
// finishes does.
func (s *Service) RunRequestedFull(ctx context.Context) (FullRun, error) {
	var out FullRun
	rows, err := s.pool.Query(ctx, `SELECT workspace_id FROM ledger_full_requested()`)
	if err != nil {
		return out, err
	}
	wss, err := pgx.CollectRows(rows, pgx.RowTo[id.WorkspaceID])
	if err != nil {
		return out, err
	}
	if len(wss) == 0 {
		return out, nil
	}
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return out, err
	}
	for _, ws := range wss {
		if _, err := s.runVerify(ctx, ws, keys, 0, true); err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			out.Failed++
			slog.ErrorContext(ctx, "ledger: requested full verification failed; the next run retries it", "workspace", ws.String(), "err", err)
			continue
		}
		out.Verified++
	}
	return out, nil
}

// FullPending reports whether a requested full verification awaits the
// ledger-full job (its cron.PendingFunc).
func (s *Service) FullPending(ctx context.Context) (bool, error) {
	var p bool
	err := s.pool.QueryRow(ctx, `SELECT ledger_full_pending()`).Scan(&p)
	return p, err
}

// verifiedMark reads where online verification stands for ws: the seq of
// the newest verified checkpoint (0: none) and the last full result.
func (s *Service) verifiedMark(ctx context.Context, ws id.WorkspaceID) (int64, *FullResult, error) {
	var seq int64
	var last *FullResult
	b := &pgx.Batch{}
	b.Queue(`SELECT seq, full_at, full_valid, full_report FROM ledger_verified WHERE workspace_id = $1`, ws).
		QueryRow(func(row pgx.Row) error {
			var at *time.Time
			var valid *bool
			var rep *Report
			err := row.Scan(&seq, &at, &valid, &rep)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err == nil && at != nil && valid != nil {
				last = &FullResult{At: at.UTC(), Valid: *valid, Report: rep}
			}
			return err
		})
	if err := db.ReadPipeline(ctx, s.pool, ws.UUID().String(), b); err != nil {
		return 0, nil, err
	}
	return seq, last, nil
}

// runVerify verifies ws's chain after checkpoint seq from (0: from the
// first event), with full also comparing columns and hashed bytes, and
// records how far it got: the newest signed checkpoint it passed, and for
// a full run its outcome.
func (s *Service) runVerify(ctx context.Context, ws id.WorkspaceID, keys keyring.Set, from int64, full bool) (VerifyReply, error) {
	v := NewVerifier(&keys, false)
	v.CompareColumns = full
	var newest *Checkpoint
	stop := errors.New("stop")
	var err error
	if full {
		err = walkFrom(ctx, s.pool, ws, from, 0, true, func(e Event) error {
			if v.Event(0, e); v.Broken() {
				return stop
			}
			return nil
		}, func(c Checkpoint) error {
			if v.Checkpoint(0, c); v.Broken() {
				return stop
			}
			cc := c
			newest = &cc
			return nil
		})
	} else {
		newest, err = hashWalk(ctx, s.pool, ws, from, v)
	}
	if errors.Is(err, pgx.ErrNoRows) && from > 0 {
		// The checkpoint verification stood on is gone (cannot happen
		// through the app role): start over from the first event.
		return s.runVerify(ctx, ws, keys, 0, full)
	}
	if err != nil && !errors.Is(err, stop) {
		return VerifyReply{}, err
	}
	rep := v.Finish()
	rep.Workspace = ws
	if from > 0 && rep.Head == nil && newest != nil && !rep.Broken() {
		// Nothing after the checkpoint: the head is the checkpoint.
		rep.Head = &HeadRef{Seq: newest.Seq, Hash: newest.Hash}
	}
	out := VerifyReply{Report: rep, From: from, Full: full}
	// Record progress: the newest checkpoint passed, only if the chain
	// held up to it (a break after it still moves the mark to it).
	mark := from
	var markHash Hash
	if newest != nil && (rep.Valid || (rep.BrokenAt != nil && rep.BrokenAt.Seq > newest.Seq)) {
		mark, markHash = newest.Seq, newest.Hash
	}
	err = db.InWorkspace(ctx, s.pool, ws.UUID().String(), func(tx pgx.Tx) error {
		if rep.Valid && rep.Head != nil && rep.Head.Seq > mark {
			// The chain verified to its head: sign that head, so the
			// next verification starts there.
			c, ok, err := signAt(ctx, tx, ws, rep.Head.Seq, rep.Head.Hash, s.keys)
			if err != nil {
				return err
			}
			if ok && c.Hash == rep.Head.Hash {
				mark, markHash = c.Seq, c.Hash
			}
		}
		if mark > from {
			if _, err := tx.Exec(ctx, `INSERT INTO ledger_verified (workspace_id, seq, hash) VALUES ($1, $2, $3)
				ON CONFLICT (workspace_id) DO UPDATE SET seq = greatest(ledger_verified.seq, EXCLUDED.seq),
					hash = CASE WHEN EXCLUDED.seq >= ledger_verified.seq THEN EXCLUDED.hash ELSE ledger_verified.hash END,
					verified_at = now()`, ws, mark, markHash[:]); err != nil {
				return err
			}
		}
		if full {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_verified (workspace_id, seq, hash, full_at, full_valid, full_report)
				VALUES ($1, 0, $2, now(), $3, $4)
				ON CONFLICT (workspace_id) DO UPDATE SET full_at = now(), full_valid = EXCLUDED.full_valid, full_report = EXCLUDED.full_report,
					full_requested_at = NULL`,
				ws, make([]byte, 32), rep.Valid, rep)
			return err
		}
		return nil
	})
	return out, err
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
