package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// oneUser authenticates the token "t" as u.
type oneUser id.UserID

func (u oneUser) Authenticate(_ context.Context, tok string) (guard.Principal, error) {
	if tok != "t" {
		return guard.Principal{}, problem.E("test", problem.Unauthenticated, "bad token")
	}
	return guard.Principal{User: id.UserID(u)}, nil
}

// verifyAPI serves the ledger routes for ws (whose creator is made a
// member) and returns a function calling GET …/ledger/verify with query q.
func verifyAPI(t testing.TB, d *dbtest.DB, ws id.WorkspaceID, keys keyring.Provider) func(q string) (int, ledger.VerifyReply) {
	t.Helper()
	return verifyAPIWaking(t, d, ws, keys, nil)
}

// verifyAPIWaking is verifyAPI whose requests carry w as their Waker (as
// the app's handler puts it in every request's context).
func verifyAPIWaking(t testing.TB, d *dbtest.DB, ws id.WorkspaceID, keys keyring.Provider, w wake.Waker) func(q string) (int, ledger.VerifyReply) {
	t.Helper()
	ctx := context.Background()
	var u id.UserID
	if err := d.Owner.QueryRow(ctx, `SELECT created_by FROM workspaces WHERE id = $1`, ws).Scan(&u); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.Exec(ctx, `INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, 'viewer')`, ws, u); err != nil {
		t.Fatal(err)
	}
	mux, err := guard.NewMux(ledger.NewService(d.App, keys).Routes(), oneUser(u), d.App)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(rw, r.WithContext(wake.With(r.Context(), w)))
	}))
	t.Cleanup(srv.Close)
	return func(q string) (int, ledger.VerifyReply) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/workspaces/"+ws.String()+"/ledger/verify"+q, nil)
		req.Header.Set("Authorization", "Bearer t")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out ledger.VerifyReply
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, out
	}
}

// TestVerifyIncremental: online verification continues from the signed
// checkpoint the previous one reached, checking only the events since;
// a break after that point is found; a rewrite before it is found by
// ?full=true (and reported as last_full afterwards), as designed.
func TestVerifyIncremental(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	keys := keyring.NewDir(t.TempDir())
	verify := verifyAPI(t, d, ws, keys)

	appendN(t, d.App, ws, 20)
	st, r := verify("")
	if st != 200 || !r.Valid || r.From != 0 || r.Count != 20 || r.Head == nil || r.Head.Seq != 20 {
		t.Fatalf("first: %d %+v", st, r)
	}
	appendN(t, d.App, ws, 5)
	st, r = verify("")
	if st != 200 || !r.Valid || r.From != 20 || r.Count != 5 || r.Head.Seq != 25 {
		t.Fatalf("second: want from 20, 5 events, head 25; got %d %+v", st, r)
	}
	// Nothing new: still valid, nothing re-hashed.
	if st, r = verify(""); st != 200 || !r.Valid || r.From != 25 || r.Count != 0 || r.Head.Seq != 25 {
		t.Fatalf("idle: %d %+v", st, r)
	}

	// A column rewritten before the verified point: the incremental
	// verification does not look there; the full one does.
	tamper(t, d, ws, 3, `payload = $3`, `{"i": 999}`)
	if st, r = verify(""); st != 200 || !r.Valid {
		t.Fatalf("incremental after an old rewrite: %d %+v", st, r)
	}
	st, r = verify("?full=true")
	if st != 200 || r.Valid || !r.Full || r.BrokenAt == nil || r.BrokenAt.Seq != 3 {
		t.Fatalf("full: want broken at 3, got %d %+v", st, r)
	}
	if st, r = verify(""); r.LastFull == nil || r.LastFull.Valid || r.LastFull.Report == nil || r.LastFull.Report.BrokenAt.Seq != 3 {
		t.Fatalf("last_full after a failed full run: %d %+v", st, r.LastFull)
	}

	// New events, one of them altered in its hashed bytes: found.
	appendN(t, d.App, ws, 3)
	tamper(t, d, ws, 27, `body = convert_to(replace(convert_from(body, 'UTF8'), '"i":1', $3), 'UTF8')`, `"i":7`)
	if st, r = verify(""); st != 200 || r.Valid || r.BrokenAt.Seq != 27 || r.From != 25 {
		t.Fatalf("break after the mark: want 27 from 25, got %d %+v", st, r)
	}
}

// TestVerifyFullInBackground: a full verification that does not finish
// within its budget answers 202 without leaving work running behind the
// reply (a Lambda is frozen after it answers): the request is recorded,
// the ledger-full job is woken after that commit, and the job's run
// records the outcome that later replies show as last_full.
func TestVerifyFullInBackground(t *testing.T) {
	ctx := context.Background()
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	keys := keyring.NewDir(t.TempDir())
	rec := &wakes{}
	verify := verifyAPIWaking(t, d, ws, keys, rec)
	appendN(t, d.App, ws, 30)
	old := ledger.FullBudget
	ledger.FullBudget = 0
	t.Cleanup(func() { ledger.FullBudget = old })
	svc := ledger.NewService(d.App, keys)

	if p, err := svc.FullPending(ctx); err != nil || p {
		t.Fatalf("pending before any request: %v %v", p, err)
	}
	st, r := verify("?full=true")
	if st != 202 || r.Status != "running" || r.LastFull != nil {
		t.Fatalf("over budget: want 202 running, got %d %+v", st, r)
	}
	if got := rec.list(); len(got) != 1 || got[0] != wake.LedgerFull {
		t.Fatalf("wakes after the request: %v, want [%s]", got, wake.LedgerFull)
	}
	// Asked twice before the job runs: still one pending verification.
	if st, _ = verify("?full=true"); st != 202 {
		t.Fatalf("second request: %d", st)
	}
	if p, err := svc.FullPending(ctx); err != nil || !p {
		t.Fatalf("pending after the request: %v %v", p, err)
	}
	if _, r = verify(""); r.LastFull != nil {
		t.Fatalf("last_full before the job ran: %+v", r.LastFull)
	}

	run, err := svc.RunRequestedFull(ctx)
	if err != nil || run.Verified != 1 || run.Failed != 0 {
		t.Fatalf("job run: %+v %v", run, err)
	}
	if p, err := svc.FullPending(ctx); err != nil || p {
		t.Fatalf("pending after the job ran: %v %v", p, err)
	}
	_, r = verify("")
	if r.LastFull == nil || !r.LastFull.Valid || r.LastFull.Report.Count != 30 {
		t.Fatalf("last_full after the job: %+v", r.LastFull)
	}
	// A second run finds nothing to do.
	if run, err = svc.RunRequestedFull(ctx); err != nil || run.Verified != 0 {
		t.Fatalf("idle run: %+v %v", run, err)
	}

	// A break the job finds is recorded like one a request finds.
	tamper(t, d, ws, 12, `body = convert_to(replace(convert_from(body, 'UTF8'), '"note"', $3), 'UTF8')`, `"nope"`)
	if st, _ = verify("?full=true"); st != 202 {
		t.Fatalf("request after tampering: %d", st)
	}
	if run, err = svc.RunRequestedFull(ctx); err != nil || run.Verified != 1 {
		t.Fatalf("job run after tampering: %+v %v", run, err)
	}
	_, r = verify("")
	if r.LastFull == nil || r.LastFull.Valid || r.LastFull.Report.BrokenAt == nil || r.LastFull.Report.BrokenAt.Seq != 12 {
		t.Fatalf("last_full after a broken chain: %+v", r.LastFull)
	}
}

// wakes records the jobs a request woke.
type wakes struct {
	mu   sync.Mutex
	jobs []string
}

func (w *wakes) Wake(_ context.Context, job string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.jobs = append(w.jobs, job)
	return nil
}

func (w *wakes) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.jobs...)
}

// TestVerifyOnlineMatchesOffline: on a chain long enough to be read in
// several chunks by two readers, the online verification (stored bytes,
// hashed as they are read) names the same first break, with the same
// reason, as the offline CLI on the export — wherever the break is: first
// chunk, a chunk boundary, the last chunk, a missing row — and accepts an
// event appended before the bytes were stored (columns canonicalised) and
// a trimmed chain anchored by its checkpoint.
func TestVerifyOnlineMatchesOffline(t *testing.T) {
	const n = 20_000
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, keys keyring.Provider)
		valid bool
		seq   int64 // first break
	}{
		{"untouched", nil, true, 0},
		{"body in the first chunk", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, _ keyring.Provider) {
			tamper(t, d, ws, 5, `body = convert_to(replace(convert_from(body, 'UTF8'), '"i":5', $3), 'UTF8')`, `"i":6`)
		}, false, 5},
		{"prev_hash at a chunk boundary", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, _ keyring.Provider) {
			tamper(t, d, ws, 8193, `prev_hash = $3`, bytes.Repeat([]byte{2}, 32))
		}, false, 8193},
		{"hash in the last chunk", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, _ keyring.Provider) {
			tamper(t, d, ws, 19_000, `hash = $3`, bytes.Repeat([]byte{1}, 32))
		}, false, 19_000},
		{"missing row", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, _ keyring.Provider) {
			err := db.Tx(ctx, d.Owner, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `ALTER TABLE ledger_events DISABLE TRIGGER USER;
					DELETE FROM ledger_events WHERE workspace_id = '`+ws.UUID().String()+`' AND seq = 12000;
					ALTER TABLE ledger_events ENABLE TRIGGER USER`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}, false, 12_001},
		{"event without stored bytes", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, _ keyring.Provider) {
			tamper(t, d, ws, 15_000, `body = NULL`)
		}, true, 0},
		{"trimmed", func(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, keys keyring.Provider) {
			// A checkpoint at 9000 (signed as Sign would, from the stored
			// hash) and a trim through it.
			var h []byte
			if err := d.Owner.QueryRow(ctx, `SELECT hash FROM ledger_events WHERE workspace_id = $1 AND seq = 9000`, ws).Scan(&h); err != nil {
				t.Fatal(err)
			}
			err := db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
				if _, err := ledger.SignAtForTest(ctx, tx, ws, 9000, h, keys); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `SELECT ledger_trim($1, 9000)`, ws)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dbtest.New(t)
			ws := newWorkspace(t, d)
			keys := keyring.NewDir(t.TempDir())
			seedChain(t, d, ws, n)
			if tc.setup != nil {
				tc.setup(t, d, ws, keys)
			}
			checkpoint(t, d.App, ws, keys)
			off, err := ledger.VerifyJSONL(bytes.NewReader(export(t, d.App, ws)), publicKeys(t, keys), false)
			if err != nil {
				t.Fatal(err)
			}
			st, on := verifyAPI(t, d, ws, keys)("")
			if st != 200 || on.Valid != tc.valid || off.Valid != tc.valid {
				t.Fatalf("want valid=%v; online %d %+v %+v; offline %+v", tc.valid, st, on.Report, on.BrokenAt, off.BrokenAt)
			}
			if tc.valid {
				if on.Count != off.Count || *on.Head != *off.Head {
					t.Fatalf("online count %d head %+v, offline %d %+v", on.Count, on.Head, off.Count, off.Head)
				}
				return
			}
			if on.BrokenAt.Seq != tc.seq || off.BrokenAt.Seq != tc.seq || on.BrokenAt.Reason != off.BrokenAt.Reason {
				t.Fatalf("want break at %d; online %+v, offline %+v", tc.seq, on.BrokenAt, off.BrokenAt)
			}
		})
	}
}
