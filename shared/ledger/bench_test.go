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
