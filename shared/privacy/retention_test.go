package privacy_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
)

// trailFixture gives ws a job with trail events 200 days, 3 years, 8 years
// and 10 days old.
func trailFixture(t *testing.T, e *apptest.Env, ws id.WorkspaceID) {
	t.Helper()
	ctx := context.Background()
	j := id.New[id.JobID]()
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs, status) VALUES ($1, $2, 'mp4-h264-720p', $3, 'completed')`,
		j, ws, []id.AssetID{id.New[id.AssetID]()}); err != nil {
		t.Fatal(err)
	}
	for _, age := range []string{"200 days", "3 years", "8 years", "10 days"} {
		if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO job_events (workspace_id, job_id, stage, at) VALUES ($1, $2, 'queued', now() - $3::interval)`, ws, j, age); err != nil {
			t.Fatal(err)
		}
	}
}

func trailCount(t *testing.T, e *apptest.Env, ws id.WorkspaceID) int {
	t.Helper()
	var n int
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM job_events WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// exportLedger is ws's JSONL export.
func exportLedger(t *testing.T, e *apptest.Env, ws id.WorkspaceID) []byte {
	t.Helper()
	var out []byte
	err := ledger.Walk(context.Background(), e.DB.App, ws, 0, func(ev ledger.Event) (err error) {
		out, err = ledger.AppendEventLine(out, ev)
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

// TestRetention: a standard workspace loses trail events older than 90
// days (a broadcast one only those older than 7 years) and, 100 days on (injected clock), its whole ledger up to a signed
// checkpoint, which then anchors the export: it still verifies, and ends
// with the ledger.trimmed event; the broadcast workspace's ledger is intact. A second run (real clock) changes nothing. The app role cannot
// delete trail events itself, even with the trim flag set, nor trim another
// workspace's trail.
func TestRetention(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	tokA, _ := e.User("a@example.com")
	tokB, _ := e.User("b@example.com")
	a, b := wsID(t, e.Workspace(tokA, "Standard")), wsID(t, e.Workspace(tokB, "Broadcast"))
	e.Must(200, "PUT", "/v1/workspaces/"+b.String()+"/settings", tokB, map[string]string{"retention": "broadcast"})
	trailFixture(t, e, a)
	trailFixture(t, e, b)
	ledgerB := exportLedger(t, e, b)

	e.App.Privacy.Now = func() time.Time { return time.Now().Add(100 * 24 * time.Hour) }
	sum, err := e.App.Privacy.Retain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Workspaces != 2 || sum.TrailEvents != 4 || sum.LedgersTrimmed != 1 || sum.LedgerEvents < 1 {
		t.Fatalf("summary: %+v", sum)
	}
	if n := trailCount(t, e, a); n != 1 {
		t.Errorf("standard trail: %d events left, want the 10-day-old one", n)
	}
	if n := trailCount(t, e, b); n != 3 {
		t.Errorf("broadcast trail: %d events left, want 3 (all but the 8-year-old one)", n)
	}
	file := exportLedger(t, e, a)
	if !bytes.HasPrefix(file, []byte(`{"checkpoint":`)) || !bytes.Contains(file, []byte(`"type":"ledger.trimmed"`)) {
		t.Fatalf("trimmed export: %s", file)
	}
	keys, err := e.App.Keys.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := ledger.VerifyJSONL(bytes.NewReader(file), &keys, false); !rep.Valid || rep.Count != 1 {
		t.Fatalf("trimmed ledger does not verify from its checkpoint: %+v %+v", rep, rep.BrokenAt)
	}
	if got := exportLedger(t, e, b); !bytes.HasPrefix(got, ledgerB[:bytes.IndexByte(ledgerB, '\n')]) {
		t.Fatalf("broadcast ledger changed at its start")
	}

	// Back to the real clock: the ledger.trimmed event is fresh, nothing
	// more is due.
	e.App.Privacy.Now = nil
	again, err := e.App.Privacy.Retain(ctx)
	if err != nil || again.TrailEvents != 0 || again.LedgerEvents != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}

	err = db.InWorkspace(ctx, e.DB.App, a.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT set_config('framebroker.job_events_trim', 'on', true); DELETE FROM job_events`)
		return err
	})
	if err == nil {
		t.Fatal("the app role deleted trail events")
	}
	err = db.InWorkspace(ctx, e.DB.App, a.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT job_events_trim($1)`, b)
		return err
	})
	if err == nil {
		t.Fatal("job_events_trim reached another workspace")
	}
}
