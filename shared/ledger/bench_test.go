package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
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

const writers = 16

// run spreads n operations (each its own transaction) over 16 writers,
// writer w on workspace w mod len(wss), and returns the elapsed time.
func run(b *testing.B, n int, wss []id.WorkspaceID, op func(ctx context.Context, ws id.WorkspaceID) error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := wss[w%len(wss)]
			for next.Add(1) <= int64(n) {
				if err := op(context.Background(), ws); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

var benchPool *pgxpool.Pool

// BenchmarkAppend: appends/s with 16 concurrent writers (one workspace, and
// 16 workspaces) next to plain INSERTs of the same rows into an equivalent
// table without chain, lock or triggers, in the same run; "ratio" is
// appends/s ÷ inserts/s (goal ≥ 0.5 across 16 workspaces).
func BenchmarkAppend(b *testing.B) {
	d := dbtest.New(b)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(d.AppDSN)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = writers + 2
	if benchPool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(benchPool.Close)
	if _, err := d.Owner.Exec(ctx, `CREATE TABLE bench_plain (
		workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
		seq bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, actor text NOT NULL, type text NOT NULL,
		subject text NOT NULL, payload jsonb NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL,
		PRIMARY KEY (workspace_id, seq));
		ALTER TABLE bench_plain ENABLE ROW LEVEL SECURITY;
		CREATE POLICY tenant ON bench_plain USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id());
		GRANT SELECT, INSERT ON bench_plain TO framebroker_app`); err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{"asset": "ast_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1048576}
	for _, nws := range []int{1, 16} {
		wss := make([]id.WorkspaceID, nws)
		for i := range wss {
			wss[i] = newWorkspace(b, d)
		}
		b.Run(fmt.Sprintf("workspaces=%d", nws), func(b *testing.B) {
			appendT := run(b, b.N, wss, func(ctx context.Context, ws id.WorkspaceID) error {
				return db.InWorkspace(ctx, benchPool, ws.UUID().String(), func(tx pgx.Tx) error {
					_, err := ledger.Append(ctx, tx, ws, "usr_bench", "asset.completed", "ast_bench", payload)
					return err
				})
			})
			b.StopTimer()
			plainT := run(b, b.N, wss, func(ctx context.Context, ws id.WorkspaceID) error {
				return db.InWorkspace(ctx, benchPool, ws.UUID().String(), func(tx pgx.Tx) error {
					var h [32]byte
					_, _ = rand.Read(h[:])
					_, err := tx.Exec(ctx, `INSERT INTO bench_plain (workspace_id, at, actor, type, subject, payload, prev_hash, hash)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ws, time.Now(), "usr_bench", "asset.completed", "ast_bench", payload, h[:], h[:])
					return err
				})
			})
			appendRate := float64(b.N) / appendT.Seconds()
			plainRate := float64(b.N) / plainT.Seconds()
			b.ReportMetric(appendRate, "appends/s")
			b.ReportMetric(plainRate, "inserts/s")
			b.ReportMetric(appendRate/plainRate, "ratio")
		})
	}
}

// BenchmarkVerify: offline verification of a 10 000-event export next to
// raw SHA-256 over the same bytes; "ratio" is verify ÷ SHA-256 throughput
// (goal ≥ 0.5).
func BenchmarkVerify(b *testing.B) {
	const n = 10000
	file, keys := syntheticExport(b, n)
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := ledger.VerifyJSONL(bytes.NewReader(file), keys, true)
		if err != nil || !rep.Valid {
			b.Fatalf("%+v %v", rep.BrokenAt, err)
		}
	}
	verifyT := time.Since(start)
	b.StopTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		sum := sha256.Sum256(file)
		_ = sum
	}
	rawT := time.Since(start)
	b.ReportMetric(float64(n*b.N)/verifyT.Seconds(), "events/s")
	b.ReportMetric(float64(len(file)*b.N)/rawT.Seconds()/1e6, "sha256-MB/s")
	b.ReportMetric(rawT.Seconds()/verifyT.Seconds(), "ratio")
}

// seedChain writes an n-event chain for ws straight into the table (COPY,
// as the owner), hashes and canonical bytes computed as Append does.
func seedChain(b testing.TB, d *dbtest.DB, ws id.WorkspaceID, n int) {
	b.Helper()
	rows := make([][]any, 0, n)
	var prev ledger.Hash
	at := time.Now().UTC().Truncate(time.Microsecond)
	for i := 1; i <= n; i++ {
		e := ledger.Event{Workspace: ws, Seq: int64(i), Time: at.Add(time.Duration(i) * time.Microsecond),
			Actor: "usr_bench", Type: "asset.completed", Subject: "ast_bench",
			Payload: []byte(`{"asset":"ast_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f","i":` + fmt.Sprint(i) + `,"size":1048576}`), PrevHash: prev}
		body, err := e.Body()
		if err != nil {
			b.Fatal(err)
		}
		h, p := ledger.ChainHash(prev, body), prev
		rows = append(rows, []any{ws, e.Seq, e.Time, e.Actor, e.Type, e.Subject, string(e.Payload), p[:], h[:], body})
		prev = h
	}
	_, err := d.Owner.CopyFrom(context.Background(), pgx.Identifier{"ledger_events"},
		[]string{"workspace_id", "seq", "at", "actor", "type", "subject", "payload", "prev_hash", "hash", "body"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerifyOnline: GET …/ledger/verify over a 100 000-event ledger
// from scratch (no verified checkpoint: the worst case, hashing the
// stored canonical bytes), next to the offline CLI's verification of the
// same ledger's export, in the same run; "ratio" is online ÷ offline time
// (goal ≤ 2). "incremental-ms" is the same route once 1 000 events were
// appended after a verified checkpoint.
func BenchmarkVerifyOnline(b *testing.B) {
	const n = 100_000
	d := dbtest.New(b)
	ws := newWorkspace(b, d)
	keys := keyring.NewDir(b.TempDir())
	seedChain(b, d, ws, n)
	checkpoint(b, d.App, ws, keys)
	file := export(b, d.App, ws)
	verify := verifyAPI(b, d, ws, keys)
	ctx := context.Background()
	var online, offline, incr time.Duration
	for b.Loop() {
		if _, err := d.Owner.Exec(ctx, `DELETE FROM ledger_verified`); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if st, r := verify(""); st != 200 || !r.Valid || r.Count != n {
			b.Fatalf("online: %d %+v", st, r.BrokenAt)
		}
		online += time.Since(t0)
		t0 = time.Now()
		if rep, err := ledger.VerifyJSONL(bytes.NewReader(file), publicKeys(b, keys), true); err != nil || !rep.Valid {
			b.Fatalf("offline: %v %+v", err, rep.BrokenAt)
		}
		offline += time.Since(t0)
	}
	appendN(b, d.App, ws, 1000)
	t0 := time.Now()
	if st, r := verify(""); st != 200 || !r.Valid || r.Count != 1000 {
		b.Fatalf("incremental: %d %+v", st, r)
	}
	incr = time.Since(t0)
	b.ReportMetric(float64(online.Milliseconds())/float64(b.N), "online-ms")
	b.ReportMetric(float64(offline.Milliseconds())/float64(b.N), "offline-ms")
	b.ReportMetric(online.Seconds()/offline.Seconds(), "ratio")
	b.ReportMetric(float64(incr.Microseconds())/1000, "incremental-ms")
}
