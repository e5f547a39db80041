package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
)

// newWorkspace inserts a user and a workspace as the owner.
func newWorkspace(t testing.TB, d *dbtest.DB) id.WorkspaceID {
	t.Helper()
	ctx := context.Background()
	u, ws := id.New[id.UserID](), id.New[id.WorkspaceID]()
	if _, err := d.Owner.Exec(ctx, `INSERT INTO users (id, email, email_canonical) VALUES ($1, $2, $2)`, u, u.String()+"@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.Exec(ctx, `INSERT INTO workspaces (id, name, created_by) VALUES ($1, 'W', $2)`, ws, u); err != nil {
		t.Fatal(err)
	}
	return ws
}

func appendN(t testing.TB, pool *pgxpool.Pool, ws id.WorkspaceID, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		err := db.InWorkspace(context.Background(), pool, ws.UUID().String(), func(tx pgx.Tx) error {
			_, err := ledger.Append(context.Background(), tx, ws, "usr_test", "test.event", "subj", map[string]any{"i": i, "note": "é\u2028<&>"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func checkpoint(t testing.TB, pool *pgxpool.Pool, ws id.WorkspaceID, keys keyring.Provider) ledger.Checkpoint {
	t.Helper()
	var c ledger.Checkpoint
	err := db.InWorkspace(context.Background(), pool, ws.UUID().String(), func(tx pgx.Tx) (err error) {
		c, _, err = ledger.Sign(context.Background(), tx, ws, keys)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// export renders the stored chain as JSONL, as the export route does.
func export(t testing.TB, pool *pgxpool.Pool, ws id.WorkspaceID) []byte {
	t.Helper()
	var out []byte
	err := ledger.Walk(context.Background(), pool, ws, 0, func(e ledger.Event) (err error) {
		out, err = ledger.AppendEventLine(out, e)
		return err
	}, func(c ledger.Checkpoint) (err error) {
		out, err = ledger.AppendCheckpointLine(out, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func publicKeys(t testing.TB, k keyring.Provider) *keyring.Set {
	t.Helper()
	s, err := k.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestHashLayout pins the byte layout the README documents: an independent
// re-implementation (here: a literal body and crypto/sha256) agrees.
func TestHashLayout(t *testing.T) {
	var ws id.WorkspaceID
	if err := ws.UnmarshalText([]byte("ws_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f")); err != nil {
		t.Fatal(err)
	}
	e := ledger.Event{Workspace: ws, Seq: 1, Time: time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC),
		Actor: "usr_1", Type: "member.added", Subject: "usr_2", Payload: []byte(`{"role":"editor", "b":1.50,"a":"\u00e9"}`)}
	body, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"actor":"usr_1","payload":{"a":"é","b":1.5,"role":"editor"},"seq":1,"subject":"usr_2","time":"2025-01-02T03:04:05.600000Z","type":"member.added","workspace":"ws_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"}`
	if string(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
	h := sha256.Sum256(append(make([]byte, 32), want...))
	got, _ := e.ComputeHash()
	if hex.EncodeToString(h[:]) != got.String() {
		t.Fatalf("hash %s, independent %x", got, h)
	}
}

// TestAppendOnly: the app role cannot UPDATE, DELETE or TRUNCATE the ledger
// (no grant), and the owner is stopped by the triggers.
func TestAppendOnly(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	appendN(t, d.App, ws, 3)
	checkpoint(t, d.App, ws, keyring.NewDir(t.TempDir()))
	ctx := context.Background()
	if _, err := d.Owner.Exec(ctx, `INSERT INTO ledger_trims (workspace_id, through_seq) VALUES ($1, 0)`, ws); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE ledger_events SET actor = 'x' WHERE seq = 2`,
		`DELETE FROM ledger_events WHERE seq = 2`,
		`TRUNCATE ledger_events`,
		`UPDATE ledger_checkpoints SET key_id = 'x'`,
		`DELETE FROM ledger_trims`,
		`TRUNCATE ledger_checkpoints`,
	} {
		for _, who := range []struct {
			name string
			pool *pgxpool.Pool
		}{{"app", d.App}, {"owner", d.Owner}} {
			t.Run(who.name+": "+stmt, func(t *testing.T) {
				err := db.InWorkspace(ctx, who.pool, ws.UUID().String(), func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, stmt)
					return err
				})
				if err == nil || !strings.Contains(err.Error(), "42501") && !strings.Contains(err.Error(), "permission denied") && !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("want a refusal, got %v", err)
				}
			})
		}
	}
	// The app role cannot write a row of its own making: no INSERT grant
	// (seq, prev_hash and hash are computed by ledger_append) …
	err := db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ledger_events (workspace_id, seq, at, actor, type, subject, payload, prev_hash, hash)
			VALUES ($1, 4, now(), 'a', 'x.y', 's', '{}', $2, $2)`, ws, make([]byte, 32))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("forged row: %v", err)
	}
	// … and ledger_append appends only to the workspace the transaction
	// is scoped to.
	other := newWorkspace(t, d)
	err = db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT ledger_append($1, now(), 'a', 'x.y', 's', '{}', '\x7b', '\x7d')`, other)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not scoped to workspace") {
		t.Fatalf("append to another workspace: %v", err)
	}
}

// TestLockKeyMatchesSQL: ledger_append (SQL) holds the advisory lock that
// Head/Sign (Go) take, so a checkpoint and an append serialise.
func TestLockKeyMatchesSQL(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		ws := newWorkspace(t, d)
		var held []int64
		err := db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
			if _, err := ledger.Append(ctx, tx, ws, "usr_test", "test.event", "s", nil); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
				WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid()`)
			if err != nil {
				return err
			}
			held, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := ledger.LockKeyForTest(ws); len(held) != 1 || held[0] != want {
			t.Fatalf("%s: ledger_append holds %v, Go's key is %d", ws, held, want)
		}
	}
}

// tamper rewrites one column of event seq as the owner with the triggers
// disabled, as an attacker with the owner's credentials would.
func tamper(t *testing.T, d *dbtest.DB, ws id.WorkspaceID, seq int64, set string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := db.Tx(ctx, d.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE ledger_events DISABLE TRIGGER USER`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE ledger_events SET `+set+` WHERE workspace_id = $1 AND seq = $2`, append([]any{ws, seq}, args...)...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE ledger_events ENABLE TRIGGER USER`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTamperedRowNamesSeq: any column of any row rewritten (hashes left
// alone) makes verification name that exact seq. The hashed bytes are
// stored (body): rewriting them, or a hash, breaks every verification —
// the export offline, the default online walk; rewriting only a column
// the API lists (the hashed bytes untouched, so the export still shows
// what was hashed) is found by the full online verification, which
// compares each row's columns with its hashed bytes.
func TestTamperedRowNamesSeq(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seq       int64
		set       string
		arg       any
		fullsOnly bool // only a full verification can see it
	}{
		{"payload", 7, `payload = $3`, `{"i": 999}`, true},
		{"actor", 1, `actor = $3`, "usr_mallory", true},
		{"type", 12, `type = $3`, "test.other", true},
		{"time", 4, `at = at + $3::interval`, "1 second", true},
		{"subject", 10, `subject = $3`, "other", true},
		{"body", 3, `body = convert_to(replace(convert_from(body, 'UTF8'), '"i":2', $3), 'UTF8')`, `"i":9`, false},
		{"hash", 5, `hash = $3`, bytes.Repeat([]byte{1}, 32), false},
		{"prev_hash", 9, `prev_hash = $3`, bytes.Repeat([]byte{2}, 32), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dbtest.New(t)
			ws := newWorkspace(t, d)
			keys := keyring.NewDir(t.TempDir())
			appendN(t, d.App, ws, 12)
			checkpoint(t, d.App, ws, keys)
			if rep, _ := ledger.VerifyJSONL(bytes.NewReader(export(t, d.App, ws)), publicKeys(t, keys), true); !rep.Valid {
				t.Fatalf("untampered chain invalid: %+v", rep.BrokenAt)
			}
			tamper(t, d, ws, tc.seq, tc.set, tc.arg)
			rep, err := ledger.VerifyJSONL(bytes.NewReader(export(t, d.App, ws)), publicKeys(t, keys), true)
			if err != nil {
				t.Fatal(err)
			}
			walk := func(full bool) ledger.Report {
				v := ledger.NewVerifier(publicKeys(t, keys), false)
				v.CompareColumns = full
				_ = ledger.Walk(context.Background(), d.App, ws, 0, func(e ledger.Event) error { v.Event(0, e); return nil },
					func(c ledger.Checkpoint) error { v.Checkpoint(0, c); return nil })
				return v.Finish()
			}
			if tc.fullsOnly {
				if !rep.Valid {
					t.Fatalf("export carries the hashed bytes, not the column: want valid, got %+v", rep.BrokenAt)
				}
			} else {
				if rep.Valid || rep.BrokenAt.Seq != tc.seq || rep.BrokenAt.Line != int(tc.seq) {
					t.Fatalf("want broken at seq/line %d, got %+v", tc.seq, rep.BrokenAt)
				}
				if r := walk(false); r.Valid || r.BrokenAt.Seq != tc.seq {
					t.Fatalf("walk: want broken at %d, got %+v", tc.seq, r.BrokenAt)
				}
			}
			if r := walk(true); r.Valid || r.BrokenAt.Seq != tc.seq {
				t.Fatalf("full walk: want broken at %d, got %+v", tc.seq, r.BrokenAt)
			}
		})
	}
}

// TestRecomputedChainFailsSignature: an attacker who rewrites an event and
// recomputes every later hash (and the stored checkpoint's hash) gets a
// self-consistent chain, but not the checkpoint signature.
func TestRecomputedChainFailsSignature(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	keys := keyring.NewDir(t.TempDir())
	appendN(t, d.App, ws, 10)
	cp := checkpoint(t, d.App, ws, keys)
	ctx := context.Background()
	// Rewrite seq 4 and recompute 4..10 with the public algorithm.
	var events []ledger.Event
	_ = ledger.Walk(ctx, d.App, ws, 0, func(e ledger.Event) error { events = append(events, e); return nil },
		func(ledger.Checkpoint) error { return nil })
	events[3].Payload = []byte(`{"i":4000}`)
	err := db.Tx(ctx, d.Owner, func(tx pgx.Tx) error {
		for _, tb := range []string{"ledger_events", "ledger_checkpoints"} {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+tb+` DISABLE TRIGGER USER`); err != nil {
				return err
			}
		}
		for i := 3; i < len(events); i++ {
			if i > 3 {
				events[i].PrevHash = events[i-1].Hash
			}
			h, err := events[i].ComputeHash()
			if err != nil {
				return err
			}
			events[i].Hash = h
			body, err := events[i].Body()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE ledger_events SET payload = $3, prev_hash = $4, hash = $5, body = $6 WHERE workspace_id = $1 AND seq = $2`,
				ws, events[i].Seq, string(events[i].Payload), events[i].PrevHash[:], h[:], body); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE ledger_checkpoints SET hash = $2 WHERE workspace_id = $1 AND seq = $3`, ws, events[9].Hash[:], cp.Seq)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	file := export(t, d.App, ws)
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(file), nil, false); !rep.Valid {
		t.Fatalf("without a key the recomputed chain is self-consistent; got %+v", rep.BrokenAt)
	}
	rep, _ := ledger.VerifyJSONL(bytes.NewReader(file), publicKeys(t, keys), true)
	if rep.Valid || rep.BrokenAt.Seq != 10 || !strings.Contains(rep.BrokenAt.Reason, "signature") {
		t.Fatalf("with the key: want the checkpoint signature to fail at 10, got %+v", rep.BrokenAt)
	}
	// Dropping the checkpoint line instead: no signed head.
	lines := bytes.Split(bytes.TrimSpace(file), []byte("\n"))
	noCP := append(bytes.Join(lines[:len(lines)-1], []byte("\n")), '\n')
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(noCP), publicKeys(t, keys), true); rep.Valid || !strings.Contains(rep.BrokenAt.Reason, "no signed checkpoint") {
		t.Fatalf("without its checkpoint: %+v", rep.BrokenAt)
	}
	// A key that is not the service's.
	other := keyring.NewDir(t.TempDir())
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(file), publicKeys(t, other), true); rep.Valid || !strings.Contains(rep.BrokenAt.Reason, "unknown") {
		t.Fatalf("other key: %+v", rep.BrokenAt)
	}
}

// TestConcurrentAppendsOneChain: 50 concurrent appends to one workspace
// make one unbroken chain of 50 events.
func TestConcurrentAppendsOneChain(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
				_, err := ledger.Append(ctx, tx, ws, "usr_x", "test.concurrent", "s", map[string]int{"i": i})
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, _ := ledger.VerifyJSONL(bytes.NewReader(export(t, d.App, ws)), nil, false)
	if !rep.Valid || rep.Count != 50 || rep.Head.Seq != 50 {
		t.Fatalf("report %+v", rep)
	}
}

// TestWorkspacesDoNotBlock: while one workspace's chain is locked by an
// open transaction, appends to 10 other workspaces complete.
func TestWorkspacesDoNotBlock(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	held := newWorkspace(t, d)
	tx, err := d.App.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, held.UUID().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Append(ctx, tx, held, "usr_x", "test.held", "s", nil); err != nil {
		t.Fatal(err)
	}
	others := make([]id.WorkspaceID, 10)
	for i := range others {
		others[i] = newWorkspace(t, d)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 10*5)
	for _, ws := range others {
		for j := 0; j < 5; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.InWorkspace(tctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
					_, err := ledger.Append(tctx, tx, ws, "usr_x", "test.parallel", "s", nil)
					return err
				})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("an append to another workspace waited on the held one: %v", err)
		}
	}
	// The held workspace really is locked: an append there times out.
	sctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	err = db.InWorkspace(sctx, d.App, held.UUID().String(), func(tx pgx.Tx) error {
		_, err := ledger.Append(sctx, tx, held, "usr_x", "test.held", "s", nil)
		return err
	})
	if err == nil {
		t.Fatal("an append to the held workspace did not wait")
	}
}

// TestTrimVerifiesFromCheckpoint: retention trims through a checkpoint
// (only there), and the remainder verifies from it; a workspace purge takes
// its ledger along.
func TestTrimVerifiesFromCheckpoint(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	keys := keyring.NewDir(t.TempDir())
	ctx := context.Background()
	appendN(t, d.App, ws, 5)
	cp := checkpoint(t, d.App, ws, keys)
	appendN(t, d.App, ws, 3)
	checkpoint(t, d.App, ws, keys)
	trim := func(through int64) (int64, error) {
		var n int64
		err := db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT ledger_trim($1, $2)`, ws, through).Scan(&n)
		})
		return n, err
	}
	if _, err := trim(3); err == nil {
		t.Fatal("trim at a seq without a checkpoint succeeded")
	}
	if n, err := trim(cp.Seq); err != nil || n != 5 {
		t.Fatalf("trim: %d, %v", n, err)
	}
	file := export(t, d.App, ws)
	if !bytes.HasPrefix(file, []byte(`{"checkpoint":`)) {
		t.Fatalf("export of a trimmed ledger does not start with its anchor: %.80s", file)
	}
	rep, _ := ledger.VerifyJSONL(bytes.NewReader(file), publicKeys(t, keys), true)
	if !rep.Valid || rep.Count != 3 || rep.Head.Seq != 8 {
		t.Fatalf("trimmed chain: %+v %+v", rep, rep.BrokenAt)
	}
	// Without the anchor the first event has nothing to hang on.
	_, rest, _ := bytes.Cut(file, []byte("\n"))
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(rest), publicKeys(t, keys), true); rep.Valid || rep.BrokenAt.Seq != 6 {
		t.Fatalf("unanchored: %+v", rep.BrokenAt)
	}
	// Appends continue after a full trim (head from the checkpoint).
	if _, err := trim(8); err != nil {
		t.Fatal(err)
	}
	appendN(t, d.App, ws, 1)
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(export(t, d.App, ws)), publicKeys(t, keys), false); !rep.Valid || rep.Head.Seq != 9 {
		t.Fatalf("after full trim: %+v %+v", rep, rep.BrokenAt)
	}
	// Purging the workspace removes its ledger (the trigger lets the cascade through).
	if _, err := d.Owner.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, ws); err != nil {
		t.Fatal(err)
	}
	var left int
	_ = d.Owner.QueryRow(ctx, `SELECT count(*) FROM ledger_events WHERE workspace_id = $1`, ws).Scan(&left)
	if left != 0 {
		t.Fatalf("%d events left after purge", left)
	}
}

// TestAppendRejects: bad types and payloads never reach the table.
func TestAppendRejects(t *testing.T) {
	d := dbtest.New(t)
	ws := newWorkspace(t, d)
	ctx := context.Background()
	for _, tc := range []struct {
		name, typ string
		payload   any
	}{
		{"type without dot", "created", nil},
		{"upper-case type", "Member.Added", nil},
		{"array payload", "x.y", []int{1}},
		{"huge payload", "x.y", map[string]string{"a": strings.Repeat("x", ledger.MaxPayload)}},
		{"unmarshalable", "x.y", map[string]any{"f": func() {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.InWorkspace(ctx, d.App, ws.UUID().String(), func(tx pgx.Tx) error {
				_, err := ledger.Append(ctx, tx, ws, "a", tc.typ, "s", tc.payload)
				return err
			})
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// Another workspace's transaction cannot append to ws (row security).
	other := newWorkspace(t, d)
	err := db.InWorkspace(ctx, d.App, other.UUID().String(), func(tx pgx.Tx) error {
		_, err := ledger.Append(ctx, tx, ws, "a", "x.y", "s", nil)
		return err
	})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("cross-workspace append: %v", err)
	}
}

// TestTrimRefusesOtherWorkspace: the app role cannot trim a ledger from a
// transaction scoped to another workspace (or to none).
func TestTrimRefusesOtherWorkspace(t *testing.T) {
	d := dbtest.New(t)
	a, b := newWorkspace(t, d), newWorkspace(t, d)
	keys := keyring.NewDir(t.TempDir())
	ctx := context.Background()
	appendN(t, d.App, a, 3)
	cp := checkpoint(t, d.App, a, keys)
	for name, scope := range map[string]func(func(pgx.Tx) error) error{
		"scoped to B": func(fn func(pgx.Tx) error) error { return db.InWorkspace(ctx, d.App, b.UUID().String(), fn) },
		"unscoped":    func(fn func(pgx.Tx) error) error { return db.Tx(ctx, d.App, fn) },
	} {
		err := scope(func(tx pgx.Tx) error {
			var n int64
			return tx.QueryRow(ctx, `SELECT ledger_trim($1, $2)`, a, cp.Seq).Scan(&n)
		})
		if err == nil {
			t.Fatalf("%s: trimmed workspace A's ledger", name)
		}
	}
	var n int
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM ledger_events WHERE workspace_id = $1`, a).Scan(&n); err != nil || n != 3 {
		t.Fatalf("A's ledger has %d events (%v), want 3", n, err)
	}
}
