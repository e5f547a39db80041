package job_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/reconcile"
)

// fakeProvider accepts executions without running them (the test plays
// the state machine), or refuses every one while down.
type fakeProvider struct{ down bool }

func (f *fakeProvider) Name() string { return "fake" }
func (f *fakeProvider) Start(_ context.Context, _ id.WorkspaceID, j id.JobID) (string, error) {
	if f.down {
		return "", errors.New("provider down")
	}
	return "exec-" + j.String(), nil
}
func (f *fakeProvider) Cancel(context.Context, string) error { return nil }

type world struct {
	t       *testing.T
	e       *apptest.Env
	tok     string
	ws      string
	w       id.WorkspaceID
	asset   string
	fp      *fakeProvider
	counter *dbtest.Counter
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := &dbtest.Counter{}
	e := apptest.New(t, apptest.WithTracer(c))
	fp := &fakeProvider{}
	e.App.Pipeline.Dispatcher.Backends = []pipeline.Backend{fp}
	tok, _ := e.User("owner@example.com")
	ws := e.Workspace(tok, "W")
	var w id.WorkspaceID
	if err := w.UnmarshalText([]byte(ws)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A probed 60 s input (the upload and probe path is tested in asset)
	// makes every job paid, so each one reserves spend.
	a := id.New[id.AssetID]()
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO assets (id, workspace_id, filename, content_type, declared_size, object_key, status, size, sha256, probe, completed_at)
		VALUES ($1, $2, 'clip.mp4', 'video/mp4', 1000, $3, 'complete', 1000, sha256('clip'), '{"format":{"duration":"60.000"}}', now())`, a, w, "test/"+a.String()); err != nil {
		t.Fatal(err)
	}
	// An endpoint that wants every event.
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO webhook_endpoints (id, workspace_id, url, secret_enc) VALUES ($1, $2, 'https://hooks.example.com/fb', '\x00')`,
		id.New[id.WebhookID](), w); err != nil {
		t.Fatal(err)
	}
	return &world{t: t, e: e, tok: tok, ws: ws, w: w, asset: a.String(), fp: fp, counter: c}
}

// submit posts a job under key and returns the status and the job's id.
func (wd *world) submit(key string) (int, id.JobID) {
	wd.t.Helper()
	b, _ := json.Marshal(map[string]any{"inputs": []string{wd.asset}, "preset": "mp4-h264-720p"})
	req, _ := http.NewRequest("POST", wd.e.Server.URL+"/v1/workspaces/"+wd.ws+"/jobs", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+wd.tok)
	req.Header.Set("Idempotency-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		wd.t.Fatal(err)
	}
	res.Body.Close()
	var j id.JobID
	_ = wd.e.DB.Owner.QueryRow(context.Background(), `SELECT id FROM jobs WHERE workspace_id = $1 AND idempotency_key = $2`, wd.w, key).Scan(&j)
	return res.StatusCode, j
}

// start plays the probe step's transition (the probe itself is tested in
// pipeline and media).
func (wd *world) start(j id.JobID) {
	wd.t.Helper()
	d := 30.0
	if _, err := wd.e.App.Pipeline.Lifecycle.MoveIn(context.Background(), wd.e.DB.App, wd.w, j, job.Move{
		To: job.Running, Reason: job.ReasonStarted, Actor: "system:pipeline", Duration: &d}); err != nil {
		wd.t.Fatal(err)
	}
}

func (wd *world) step(p pipeline.Payload) error {
	p.Workspace, p.Attempt = wd.w, max(p.Attempt, 1)
	_, err := wd.e.App.Pipeline.Steps.Handle(context.Background(), p)
	return err
}

// put uploads body to key through a presigned PUT, as the worker does.
func (wd *world) put(key, ctype string, body []byte) {
	wd.t.Helper()
	ctx := context.Background()
	url, err := wd.e.App.Blob.PresignPut(ctx, key, ctype, int64(len(body)), time.Minute)
	if err != nil {
		wd.t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		wd.t.Fatalf("put %s: %v %v", key, err, res)
	}
	res.Body.Close()
}

// TestEveryEnding ends a job in every possible way and checks that each
// ending is recorded the same way, whoever causes it: exactly one ledger
// event and one webhook message for the ending (with its reason), and the
// spend reservation settled (completed) or released (every other ending).
func TestEveryEnding(t *testing.T) {
	wd := newWorld(t)
	parent := t
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		end     func(j id.JobID)
		down    bool
		status  job.Status
		reason  job.Reason
		reserve string
	}{
		{name: "completed", status: job.Completed, reason: job.ReasonVerified, reserve: "settled", end: func(j id.JobID) {
			wd.start(j)
			out := tinyMP4(wd.t)
			sum := sha256.Sum256(out)
			wd.put(broker.OutputKey(wd.w, j, 1, "output.mp4"), "video/mp4", out)
			rep, _ := json.Marshal(spec.Report{Preset: "mp4-h264-720p", Outputs: []spec.OutputReport{{Name: "output.mp4", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(out))}}})
			wd.put(broker.ReportKey(wd.w, j, 1), "application/json", rep)
			if err := wd.step(pipeline.Payload{Step: spec.StepVerify, Job: j}); err != nil {
				wd.t.Fatal(err)
			}
		}},
		{name: "verification-failed", status: job.Failed, reason: job.ReasonVerificationFailed, reserve: "released", end: func(j id.JobID) {
			wd.start(j)
			// No report: verify refuses, and the state machine's catch runs
			// mark_failed with the verify step's error.
			err := wd.step(pipeline.Payload{Step: spec.StepVerify, Job: j})
			var f *pipeline.Failure
			if !errors.As(err, &f) || f.Name != pipeline.NameVerificationFailed {
				wd.t.Fatalf("verify: %v", err)
			}
			if err := wd.step(pipeline.Payload{Step: spec.StepMarkFailed, Job: j, Error: &pipeline.StepError{Error: f.Name, Cause: f.Cause}}); err != nil {
				wd.t.Fatal(err)
			}
		}},
		{name: "worker-failed-after-retries", status: job.Failed, reason: job.ReasonWorkerFailed, reserve: "released", end: func(j id.JobID) {
			wd.start(j)
			for a := 1; a <= pipeline.MaxAttempts; a++ {
				if err := wd.step(pipeline.Payload{Step: spec.StepRecordAttempt, Job: j, Attempt: a, Error: &pipeline.StepError{Error: "States.TaskFailed", Cause: "exit 1"}}); err != nil {
					wd.t.Fatal(err)
				}
			}
			if err := wd.step(pipeline.Payload{Step: spec.StepMarkFailed, Job: j, Attempt: pipeline.MaxAttempts, Error: &pipeline.StepError{Error: "States.TaskFailed", Cause: "exit 1"}}); err != nil {
				wd.t.Fatal(err)
			}
		}},
		{name: "canceled-queued", status: job.Canceled, reason: job.ReasonCanceled, reserve: "released", end: func(j id.JobID) {
			wd.e.Must(200, "POST", "/v1/workspaces/"+wd.ws+"/jobs/"+j.String()+"/cancel", wd.tok, nil)
		}},
		{name: "canceled-running", status: job.Canceled, reason: job.ReasonCanceled, reserve: "released", end: func(j id.JobID) {
			wd.start(j)
			wd.e.Must(200, "POST", "/v1/workspaces/"+wd.ws+"/jobs/"+j.String()+"/cancel", wd.tok, nil)
		}},
		{name: "no-provider", down: true, status: job.Failed, reason: job.ReasonNoProvider, reserve: "released"},
		{name: "stalled", status: job.Failed, reason: job.ReasonStalled, reserve: "released", end: func(j id.JobID) {
			wd.start(j)
			if _, err := wd.e.DB.Owner.Exec(ctx, `UPDATE jobs SET updated_at = now() - interval '3 hours' WHERE id = $1`, j); err != nil {
				wd.t.Fatal(err)
			}
			r := &reconcile.Reconciler{Pool: wd.e.DB.App, Starter: wd.e.App.Pipeline.Dispatcher, Steps: wd.e.App.Pipeline.Steps}
			if s, err := r.Run(ctx); err != nil || len(s.Failed) != 1 || s.Failed[0] != j {
				wd.t.Fatalf("reconcile: %+v %v", s, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wd.t = t
			defer func() { wd.t = parent }()
			wd.fp.down = tc.down
			// Each case starts with a healthy provider (the failures above
			// count against it: the health listener runs for them too).
			if _, err := wd.e.DB.Owner.Exec(ctx, `DELETE FROM encode_providers`); err != nil {
				t.Fatal(err)
			}
			status, j := wd.submit(tc.name)
			want := http.StatusAccepted
			if tc.down {
				want = http.StatusServiceUnavailable
			}
			if status != want || j.IsZero() {
				t.Fatalf("submit: %d (job %v), want %d", status, j, want)
			}
			if tc.end != nil {
				tc.end(j)
			}
			wd.assertEnding(j, tc.status, tc.reason, tc.reserve)
		})
	}
}

func (wd *world) assertEnding(j id.JobID, status job.Status, reason job.Reason, reserve string) {
	t := wd.t
	t.Helper()
	ctx := context.Background()
	var got job.Status
	var endings, matching int
	var reasons []string
	if err := wd.e.DB.Owner.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, j).Scan(&got); err != nil || got != status {
		t.Fatalf("job %s: status %s (%v), want %s", j, got, err, status)
	}
	event := "job." + string(status)
	if err := wd.e.DB.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE type IN ('job.completed', 'job.failed', 'job.canceled')),
		count(*) FILTER (WHERE type = $2), coalesce(array_agg(payload->>'reason') FILTER (WHERE type = $2), '{}')
		FROM ledger_events WHERE subject = $1`, j.String(), event).Scan(&endings, &matching, &reasons); err != nil {
		t.Fatal(err)
	}
	if endings != 1 || matching != 1 || reasons[0] != string(reason) {
		t.Errorf("ledger: %d endings, %d %s with reasons %v; want exactly one %s (%s)", endings, matching, event, reasons, event, reason)
	}
	var msgs, msgEndings int
	var body []byte
	if err := wd.e.DB.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE event_type IN ('job.completed', 'job.failed', 'job.canceled')),
		count(*) FILTER (WHERE event_type = $2), (array_agg(body) FILTER (WHERE event_type = $2))[1]
		FROM webhook_messages WHERE convert_from(body, 'UTF8')::jsonb->'data'->>'job' = $1`, j.String(), event).Scan(&msgEndings, &msgs, &body); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Type string           `json:"type"`
		Data job.EventPayload `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || msgEndings != 1 || msgs != 1 || env.Data.Reason != reason || env.Data.Status != status {
		t.Errorf("webhooks: %d endings, %d %s (%s %v); want exactly one with reason %s", msgEndings, msgs, event, body, err, reason)
	}
	var res string
	if err := wd.e.DB.Owner.QueryRow(ctx, `SELECT status FROM spend_reservations WHERE job_id = $1`, j).Scan(&res); err != nil || res != reserve {
		t.Errorf("reservation: %q (%v), want %s", res, err, reserve)
	}
	// Every job also has its job.queued event, once.
	var queued int
	_ = wd.e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM ledger_events WHERE subject = $1 AND type = 'job.queued'`, j.String()).Scan(&queued)
	if queued != 1 {
		t.Errorf("ledger: %d job.queued events, want 1", queued)
	}
}

// TestSubmissionRoundTrips counts one accepted submission's database
// round trips and transactions (after a warm-up submission, so the
// session and statement caches are as in steady state). The decision is
// one transaction (the guard's); the execution starts after it commits and
// its id is recorded in a second, small one. The figures are in the README.
func TestSubmissionRoundTrips(t *testing.T) {
	wd := newWorld(t)
	if s, _ := wd.submit("warm-up"); s != http.StatusAccepted {
		t.Fatalf("warm-up: %d", s)
	}
	wd.counter.Reset()
	if s, _ := wd.submit("counted"); s != http.StatusAccepted {
		t.Fatalf("submit: %d", s)
	}
	c := wd.counter.Counts()
	t.Logf("one submission: %d round trips, %d transactions committed, %d rolled back:\n  %s",
		c.RoundTrips, c.Commits, c.Rollbacks, strings.Join(c.Statements, "\n  "))
	if c.Commits != 2 || c.Rollbacks != 0 {
		t.Errorf("%d commits and %d rollbacks; want 2 (the decision, then the execution id after the start)", c.Commits, c.Rollbacks)
	}
}

// TestRefusedSubmissionLeavesNothing: a submission refused by a hook after
// the job row, its reservation and its 80 % spend alert were written
// leaves no job, reservation, ledger event, webhook message or mail behind,
// and no after-commit effect runs.
func TestRefusedSubmissionLeavesNothing(t *testing.T) {
	wd := newWorld(t)
	ctx := context.Background()
	count := func() (n int) {
		if err := wd.e.DB.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM spend_reservations)
			+ (SELECT count(*) FROM ledger_events WHERE type LIKE 'job.%') + (SELECT count(*) FROM webhook_messages) + (SELECT count(*) FROM mail_outbox)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// One job takes the hourly window past 80 %: billing queues an alert.
	c := billing.Ceilings{Hour: billing.Price("mp4-h264-720p", 60) * 11 / 10, Day: 1 << 40, Month: 1 << 41}
	if err := db.InWorkspace(ctx, wd.e.DB.App, wd.w.UUID().String(), func(tx pgx.Tx) error {
		return billing.SetAccount(ctx, tx, wd.w, billing.DefaultPlan, &c)
	}); err != nil {
		t.Fatal(err)
	}
	before := count()
	refused := errors.New("refused after everything was written")
	wd.e.App.Pipeline.Jobs.OnSubmit = append(wd.e.App.Pipeline.Jobs.OnSubmit, func(ctx context.Context, tx pgx.Tx, _ *guard.Access, _ job.Job) error {
		_ = db.AfterCommit(tx, func(context.Context) error { t.Error("after-commit effect of a refused submission ran"); return nil })
		return refused
	})
	if s, _ := wd.submit("refused"); s != http.StatusInternalServerError {
		t.Fatalf("submit: %d", s)
	}
	if after := count(); after != before {
		t.Fatalf("a refused submission left %d rows behind", after-before)
	}
	if _, err := wd.e.App.Mail.Deliver(ctx, 100); err != nil {
		t.Fatal(err)
	}
	alerts := func() (n int) {
		for _, m := range wd.e.Mail.Messages() {
			if m.Message != nil && strings.Contains(m.Message.Header.Get("Subject"), "spend ceiling") {
				n++
			}
		}
		return n
	}
	if n := alerts(); n != 0 {
		t.Errorf("a refused submission sent %d spend alerts", n)
	}
	// The same submission accepted queues the alert, and it is sent once
	// however often the outbox runs.
	wd.e.App.Pipeline.Jobs.OnSubmit = wd.e.App.Pipeline.Jobs.OnSubmit[:len(wd.e.App.Pipeline.Jobs.OnSubmit)-1]
	if s, _ := wd.submit("accepted"); s != http.StatusAccepted {
		t.Fatalf("submit: %d", s)
	}
	for range 3 {
		if _, err := wd.e.App.Mail.Deliver(ctx, 100); err != nil {
			t.Fatal(err)
		}
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d alert mails after an accepted submission, want 1", n)
	}
}

// tinyMP4 is a real one-second MP4 (Verify embeds Content Credentials in
// it, which needs a well-formed file).
func tinyMP4(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
