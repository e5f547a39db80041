package privacy_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/privacy"
)

// fixture is a workspace with a row in every tenant table and objects in
// the bucket.
type fixture struct {
	ws    id.WorkspaceID
	token string
	name  string
	email string
}

func wsID(t *testing.T, s string) id.WorkspaceID {
	t.Helper()
	var ws id.WorkspaceID
	if err := ws.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return ws
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "video/mp4")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("upload: %d", res.StatusCode)
	}
}

// populate fills every table that has a workspace_id column with at least
// one row of a new workspace (through the API where it is quick, directly
// as the owner otherwise), including the append-only ones (ledger, job
// trail) and release_shots, whose shot reference is ON DELETE RESTRICT.
func populate(t *testing.T, e *apptest.Env, email, name string) fixture {
	t.Helper()
	ctx := context.Background()
	tok, user := e.User(email)
	f := fixture{token: tok, name: name, email: email}
	ws := e.Workspace(tok, name)
	f.ws = wsID(t, ws)
	base := "/v1/workspaces/" + ws
	e.Must(200, "PUT", base+"/settings", tok, map[string]any{"training_opt_in": true})
	prj := e.Must(201, "POST", base+"/projects", tok, map[string]string{"name": "Secret project of " + name}).Str("id")
	shot := e.Must(201, "POST", base+"/projects/"+prj+"/shots", tok, map[string]string{"name": "S1"}).Str("id")
	rel := e.Must(201, "POST", base+"/releases", tok, map[string]string{"name": "R1"}).Str("id")
	var assets []string
	for _, fn := range []string{"a.mp4", "b.mp4"} {
		r := e.Must(201, "POST", base+"/assets", tok, apptest.AssetBody(fn, "video/mp4", []byte("12345")))
		if code := e.PutUpload(r, []byte("12345")); code != 200 {
			t.Fatalf("upload: %d", code)
		}
		assets = append(assets, r.Str("id"))
	}
	o := e.DB.Owner
	jobID := id.New[id.JobID]()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := o.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	asset := func(i int) id.AssetID { var a id.AssetID; _ = a.UnmarshalText([]byte(assets[i])); return a }
	var shotID id.ShotID
	var relID id.ReleaseID
	_ = shotID.UnmarshalText([]byte(shot))
	_ = relID.UnmarshalText([]byte(rel))
	exec(`INSERT INTO release_shots (workspace_id, release_id, shot_id, position) VALUES ($1, $2, $3, 1)`, f.ws, relID, shotID)
	exec(`INSERT INTO shot_outputs (workspace_id, shot_id, asset_id) VALUES ($1, $2, $3)`, f.ws, shotID, asset(0))
	exec(`INSERT INTO release_manifests (release_id, workspace_id, envelope, manifest_sha256, published_at) VALUES ($1, $2, 'x', $3, now())`,
		relID, f.ws, bytes.Repeat([]byte{1}, 32))
	exec(`INSERT INTO jobs (id, workspace_id, preset, inputs, shot_id, status, finished_at) VALUES ($1, $2, 'mp4-h264-720p', $3, $4, 'completed', now())`,
		jobID, f.ws, []id.AssetID{asset(0)}, shotID)
	exec(`INSERT INTO job_outputs (workspace_id, job_id, name, asset_id) VALUES ($1, $2, 'out', $3)`, f.ws, jobID, asset(1))
	if err := job.Trail(ctx, o, f.ws, jobID, "queued", 1, map[string]string{"by": user}); err != nil {
		t.Fatal(err)
	}
	hook, msg, del := id.New[id.WebhookID]().UUID(), id.New[id.WebhookID]().UUID(), id.New[id.WebhookID]().UUID()
	exec(`INSERT INTO webhook_endpoints (id, workspace_id, url, secret_enc) VALUES ($1, $2, 'https://hooks.example.com/x', 'sealed')`, hook, f.ws)
	exec(`INSERT INTO webhook_messages (id, workspace_id, event_type, body) VALUES ($1, $2, 'job.completed', '{}')`, msg, f.ws)
	exec(`INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, message_id) VALUES ($1, $2, $3, $4)`, del, f.ws, hook, msg)
	exec(`INSERT INTO webhook_attempts (delivery_id, workspace_id, n, attempted_at, latency_ms) VALUES ($1, $2, 1, now(), 5)`, del, f.ws)
	exec(`INSERT INTO ledger_trims (workspace_id, through_seq) VALUES ($1, 0)`, f.ws)
	e.Invite(tok, ws, "invitee-of-"+email, "viewer") // invitations hold an address: purged too
	if err := db.InWorkspace(ctx, e.DB.App, f.ws.UUID().String(), func(tx pgx.Tx) error {
		_, _, err := ledger.Sign(ctx, tx, f.ws, e.App.Keys)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// tenantTables is every table with a workspace_id column.
func tenantTables(t *testing.T, e *apptest.Env) []string {
	t.Helper()
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT c.table_name FROM information_schema.columns c
		JOIN information_schema.tables tb USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND c.column_name = 'workspace_id' AND tb.table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// census counts ws's rows in every tenant table and in workspaces.
func census(t *testing.T, e *apptest.Env, ws id.WorkspaceID) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range append(tenantTables(t, e), "workspaces") {
		col := "workspace_id"
		if tb == "workspaces" {
			col = "id"
		}
		var n int64
		if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{tb}.Sanitize()+` WHERE `+col+` = $1`, ws).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// TestPurgeRemovesEverything: a workspace with rows in every tenant table
// (ledger and job trail included) and objects in the bucket is scheduled
// for deletion by its owner and purged by the cron: afterwards no table has
// a row of it, no object is left under its prefix, a tombstone without its
// name or owner's email remains, and another workspace is untouched. Two
// purge runs at once purge it once.
func TestPurgeRemovesEverything(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	a := populate(t, e, "gone@example.com", "Doomed Studio")
	b := populate(t, e, "stays@example.com", "Surviving Studio")
	beforeA, beforeB := census(t, e, a.ws), census(t, e, b.ws)
	for tb, n := range beforeA {
		if n == 0 {
			// A table added after this test was written: the purge still
			// sweeps it, but this fixture does not prove it; extend populate.
			t.Logf("fixture has no row in %s", tb)
		}
	}
	for _, tb := range []string{"members", "projects", "shots", "releases", "release_shots", "assets", "shot_outputs", "release_manifests",
		"jobs", "job_outputs", "job_events", "webhook_endpoints", "webhook_messages", "webhook_deliveries", "webhook_attempts",
		"ledger_events", "ledger_checkpoints", "ledger_trims", "workspaces"} {
		if beforeA[tb] == 0 {
			t.Fatalf("fixture has no row in %s", tb)
		}
	}
	objsB, err := e.App.Blob.List(ctx, privacy.Prefix(b.ws), 0)
	if err != nil || len(objsB) != 2 {
		t.Fatalf("objects of B: %v %v", objsB, err)
	}

	e.Must(202, "DELETE", "/v1/workspaces/"+a.ws.String(), a.token, nil)
	var wg sync.WaitGroup
	sums := make([]privacy.PurgeSummary, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { sums[i], errs[i] = e.App.Privacy.Purge(ctx) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if n := len(sums[0].Purged) + len(sums[1].Purged); n != 1 {
		t.Fatalf("purged %d times: %+v", n, sums)
	}
	for tb, n := range census(t, e, a.ws) {
		if n != 0 {
			t.Errorf("%s still has %d rows of the purged workspace", tb, n)
		}
	}
	if keys, err := e.App.Blob.List(ctx, privacy.Prefix(a.ws), 0); err != nil || len(keys) != 0 {
		t.Errorf("objects left under the purged prefix: %v %v", keys, err)
	}
	for tb, n := range census(t, e, b.ws) {
		if n != beforeB[tb] {
			t.Errorf("other workspace: %s has %d rows, had %d", tb, n, beforeB[tb])
		}
	}
	if keys, err := e.App.Blob.List(ctx, privacy.Prefix(b.ws), 0); err != nil || len(keys) != 2 {
		t.Errorf("other workspace's objects: %v %v", keys, err)
	}
	var tomb string
	var objects int64
	if err := e.DB.Owner.QueryRow(ctx, `SELECT to_jsonb(t)::text, objects_deleted FROM workspace_tombstones t WHERE id = $1`, a.ws).Scan(&tomb, &objects); err != nil {
		t.Fatal(err)
	}
	if objects != 2 || !strings.Contains(tomb, `"ledger_events"`) || !strings.Contains(tomb, `"requested_at"`) {
		t.Errorf("tombstone: %s (objects %d)", tomb, objects)
	}
	for _, personal := range []string{a.name, a.email, "Secret project", "gone@"} {
		if strings.Contains(tomb, personal) {
			t.Errorf("tombstone holds personal data %q: %s", personal, tomb)
		}
	}
	// The purged workspace answers like any workspace one is not in.
	e.Must(404, "GET", "/v1/workspaces/"+a.ws.String(), a.token, nil)
	// Nothing more to purge; B's ledger still verifies.
	if s, err := e.App.Privacy.Purge(ctx); err != nil || len(s.Purged) != 0 {
		t.Fatalf("second run: %+v %v", s, err)
	}
	if r := e.Must(200, "GET", "/v1/workspaces/"+b.ws.String()+"/ledger/verify", b.token, nil); !bytes.Contains(r.Body, []byte(`"valid":true`)) {
		t.Fatalf("B's ledger: %s", r.Body)
	}
}

// TestPurgeWaitsForOpenJobs: a workspace due for purge whose job is still
// running (its worker may hold upload URLs) is left until the job ends.
func TestPurgeWaitsForOpenJobs(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	tok, _ := e.User("busy@example.com")
	ws := wsID(t, e.Workspace(tok, "Busy"))
	j := id.New[id.JobID]()
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs, status) VALUES ($1, $2, 'mp4-h264-720p', $3, 'running')`,
		j, ws, []id.AssetID{id.New[id.AssetID]()}); err != nil {
		t.Fatal(err)
	}
	e.Must(202, "DELETE", "/v1/workspaces/"+ws.String(), tok, nil)
	if s, err := e.App.Privacy.Purge(ctx); err != nil || len(s.Purged) != 0 {
		t.Fatalf("purged with a running job: %+v %v", s, err)
	}
	if _, err := e.DB.Owner.Exec(ctx, `UPDATE jobs SET status = 'failed', finished_at = now() WHERE id = $1`, j); err != nil {
		t.Fatal(err)
	}
	if s, err := e.App.Privacy.Purge(ctx); err != nil || len(s.Purged) != 1 || s.Purged[0].Workspace != ws {
		t.Fatalf("after the job ended: %+v %v", s, err)
	}
}

// flakyStore fails DeletePrefix while broken, and (when plant is set) puts
// an object back under the prefix once, as a late presigned upload would.
type flakyStore struct {
	blob.Store
	broken bool
	calls  int
}

func (f *flakyStore) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	f.calls++
	if f.broken {
		return 0, errors.New("s3: 503 slow down")
	}
	return f.Store.DeletePrefix(ctx, prefix)
}

// TestPurgeResweeps: when the sweep after the rows went fails, the
// tombstone says the media sweep is not done, a late object stays only
// until the next run, which sweeps the prefix until it is empty and records
// the completion in the tombstone.
func TestPurgeResweeps(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	a := populate(t, e, "gone@example.com", "Doomed Studio")
	e.Must(202, "DELETE", "/v1/workspaces/"+a.ws.String(), a.token, nil)
	flaky := &flakyStore{Store: e.App.Privacy.Store}
	e.App.Privacy.Store = flaky
	// The first sweep works; the rows go; then the store breaks.
	real := flaky.Store
	flaky.Store = storeFunc{real, func() { flaky.broken = true }}
	if s, err := e.App.Privacy.Purge(ctx); err != nil || len(s.Purged) != 1 {
		t.Fatalf("purge: %+v %v", s, err)
	}
	swept := func() (done bool) {
		var at *time.Time
		if err := e.DB.Owner.QueryRow(ctx, `SELECT media_swept_at FROM workspace_tombstones WHERE id = $1`, a.ws).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at != nil
	}
	if swept() {
		t.Fatal("the tombstone says swept although the final sweep failed")
	}
	// A late object lands under the prefix; the store recovers.
	key := privacy.Prefix(a.ws) + "late/object"
	url, err := real.PresignPut(ctx, key, "video/mp4", 4, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", url, strings.NewReader("late"))
	req.Header.Set("Content-Type", "video/mp4")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("late put: %v %v", err, res)
	}
	flaky.broken, flaky.Store = false, real
	if s, err := e.App.Privacy.Purge(ctx); err != nil || len(s.Purged) != 0 {
		t.Fatalf("second run: %+v %v", s, err)
	}
	if keys, err := real.List(ctx, privacy.Prefix(a.ws), 0); err != nil || len(keys) != 0 {
		t.Fatalf("objects left: %v %v", keys, err)
	}
	if !swept() {
		t.Fatal("the re-sweep did not record its completion")
	}
	var objects int64
	_ = e.DB.Owner.QueryRow(ctx, `SELECT objects_deleted FROM workspace_tombstones WHERE id = $1`, a.ws).Scan(&objects)
	if objects != 3 {
		t.Fatalf("tombstone counts %d objects, want 3 (2 before, 1 late)", objects)
	}
}

// storeFunc calls after once the wrapped store's first DeletePrefix pass
// that finds nothing (the end of the first sweep) has run.
type storeFunc struct {
	blob.Store
	after func()
}

func (s storeFunc) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	n, err := s.Store.DeletePrefix(ctx, prefix)
	if err == nil && n == 0 {
		s.after()
	}
	return n, err
}
