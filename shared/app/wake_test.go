package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob/s3test"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/reconcile"
	"github.com/framebroker/framebroker/shared/webhook"
)

// wakeLog is a wake.Switch that records each wake with what the job's
// pending check saw at that moment, from another connection: a wake that
// ran before its transaction committed would see nothing pending.
type wakeLog struct {
	mu      sync.Mutex
	pending map[string]cron.PendingFunc
	woken   []string // "job:pending"
	on      map[string]bool
}

func (w *wakeLog) Wake(ctx context.Context, job string) error {
	p, err := w.pending[job](ctx)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = append(w.woken, job+map[bool]string{true: ":pending", false: ":nothing"}[p])
	w.on[job] = true
	return nil
}

func (w *wakeLog) Sleep(_ context.Context, job string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on[job] = false
	return nil
}

// take returns and clears the wakes recorded so far.
func (w *wakeLog) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.Join(w.woken, " ")
	w.woken = nil
	return s
}

// timerWakeLog is a wakeLog that can also set one-time wakes (wake.Timer).
type timerWakeLog struct {
	*wakeLog
	at time.Time
}

func (w *timerWakeLog) WakeAt(_ context.Context, job string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = at
	return nil
}

type failingSender struct{}

func (failingSender) Send(context.Context, mail.Message) error {
	return errors.New("smtp: connection refused")
}

// runCron calls a cron job through the API as EventBridge's target does.
func runCron(t *testing.T, e *apptest.Env, job string) cron.Result {
	t.Helper()
	req, _ := http.NewRequest("POST", e.Server.URL+"/internal/cron/"+job, nil)
	req.Header.Set(cron.HeaderSecret, e.Config.CronSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r cron.Result
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != 200 {
		t.Fatalf("cron %s: %d %v", job, res.StatusCode, err)
	}
	return r
}

// TestDueWorkWakesItsSchedule (issue 16, idle cost): each kind of due work
// — a webhook delivery, mail left in the outbox, an upload awaiting
// verification, an open job — wakes its due-only cron after its
// transaction commits (the work is already visible to the cron's pending
// check from another connection), and never when the transaction rolls
// back. Each cron run then switches its schedule off once nothing is left,
// and leaves it on while work is pending (a mail retry after a backoff, an
// open job).
func TestDueWorkWakesItsSchedule(t *testing.T) {
	e := apptest.New(t)
	r := reconcile.Reconciler{Pool: e.App.Pool}
	log := &wakeLog{on: map[string]bool{}, pending: map[string]cron.PendingFunc{
		cron.WebhookRetries: e.App.Webhooks.Pending, cron.MailOutbox: e.App.Mail.Pending,
		cron.AssetVerify: e.App.Assets.VerifyPending, cron.JobReconcile: r.Pending,
	}}
	e.App.Waker.Set(log)
	ctx := wake.With(t.Context(), e.App.Waker)
	tok, _ := e.User("ada@example.com")
	ws := e.Workspace(tok, "W")
	var wsID id.WorkspaceID
	if err := wsID.UnmarshalText([]byte(ws)); err != nil {
		t.Fatal(err)
	}
	inWS := func(fn func(pgx.Tx) error) error { return db.InWorkspace(ctx, e.App.Pool, wsID.UUID().String(), fn) }
	rollback := errors.New("rolled back on purpose")
	log.take() // signup mail (sent at once: no wake) and workspace events (no endpoint yet)

	// Webhooks: an endpoint, then its test event through the API.
	received := make(chan struct{}, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received <- struct{}{} }))
	defer receiver.Close()
	hook := e.Must(201, "POST", "/v1/workspaces/"+ws+"/webhooks", tok, map[string]any{"url": receiver.URL, "events": []string{"job.*"}}).Str("id")
	if got := log.take(); got != "" {
		t.Fatalf("creating an endpoint woke %q", got)
	}
	// A rolled-back event wakes nothing.
	if err := inWS(func(tx pgx.Tx) error {
		if _, err := webhook.Enqueue(ctx, tx, wsID, "job.completed", map[string]any{}); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if got := log.take(); got != "" {
		t.Fatalf("a rolled-back webhook event woke %q", got)
	}
	e.Must(202, "POST", "/v1/workspaces/"+ws+"/webhooks/"+hook+"/test", tok, nil)
	if got := log.take(); got != "webhook-retries:pending" {
		t.Fatalf("test event: woke %q, want webhook-retries after commit", got)
	}
	if at, err := e.App.Webhooks.NextDue(ctx); err != nil || at.IsZero() || time.Until(at) > 0 {
		t.Fatalf("webhook next due with a delivery due now: %v %v", at, err)
	}
	if res := runCron(t, e, cron.WebhookRetries); res.Schedule != "off" || log.on[cron.WebhookRetries] {
		t.Fatalf("webhook-retries after delivering everything: %+v", res)
	}
	select {
	case <-received:
	default:
		t.Fatal("the test event was not delivered by the cron run")
	}
	if at, err := e.App.Webhooks.NextDue(ctx); err != nil || !at.IsZero() {
		t.Fatalf("webhook next due after delivering everything: %v %v", at, err)
	}

	// Mail: an immediate send that fails leaves the message in the outbox
	// and wakes mail-outbox; one that succeeds wakes nothing; a rolled-back
	// message neither.
	failing := &mail.Outbox{Pool: e.App.Pool, Sender: failingSender{}, Immediate: true,
		Backoff: func(int) time.Duration { return 3 * time.Hour }}
	msg := mail.Message{To: []string{"ops@example.com"}, Subject: "s", Text: "t"}
	if err := db.Tx(ctx, e.App.Pool, func(tx pgx.Tx) error {
		if err := failing.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, e.App.Pool, func(tx pgx.Tx) error { return e.App.Mail.Enqueue(ctx, tx, msg) }); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); got != "" {
		t.Fatalf("rolled-back or delivered mail woke %q", got)
	}
	if err := db.Tx(ctx, e.App.Pool, func(tx pgx.Tx) error { return failing.Enqueue(ctx, tx, msg) }); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); got != "mail-outbox:pending" {
		t.Fatalf("undelivered mail: woke %q", got)
	}
	// Its retry is due after a backoff (3 h here): the schedule stays on,
	// unless the switch can set a one-time wake — then it is off until the
	// retry is due.
	next, err := e.App.Mail.NextDue(ctx)
	if err != nil || time.Until(next) < 2*time.Hour || time.Until(next) > 4*time.Hour {
		t.Fatalf("mail next due %v (%v), want in about 3 h", next, err)
	}
	if res := runCron(t, e, cron.MailOutbox); res.Schedule != "on" {
		t.Fatalf("mail-outbox with a retry pending: %+v", res)
	}
	timed := &timerWakeLog{wakeLog: log}
	e.App.Waker.Set(timed)
	if res := runCron(t, e, cron.MailOutbox); res.Schedule != "until "+next.UTC().Format(time.RFC3339) || log.on[cron.MailOutbox] || !timed.at.Equal(next) {
		t.Fatalf("mail-outbox with only a far retry: %+v, on %v, one-time wake at %v (next %v)", res, log.on[cron.MailOutbox], timed.at, next)
	}
	e.App.Waker.Set(log)

	// Uploads: a multipart upload completes into 'verifying' and wakes
	// asset-verify; the run that verifies it switches it off.
	data := make([]byte, 1000)
	rand.Read(data)
	body := apptest.AssetBody("master.mxf", "application/mxf", data)
	body["part_size"] = blob.MinPart
	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, body)
	base := "/v1/workspaces/" + ws + "/assets/" + created.Str("id")
	var parts asset.PartURLs
	sum := sha256.Sum256(data)
	if err := json.Unmarshal(e.Must(200, "POST", base+"/parts", tok, map[string]any{"parts": []map[string]any{{"number": 1, "sha256": hex.EncodeToString(sum[:])}}}).Body, &parts); err != nil {
		t.Fatal(err)
	}
	if code := s3test.Send(t, blob.Presigned{URL: parts.Parts[0].URL, Headers: parts.Parts[0].Headers}, data); code != 200 {
		t.Fatalf("part: %d", code)
	}
	log.take() // asset.created has no endpoint filter match; nothing else
	if st := e.Must(200, "POST", base+"/complete", tok, nil).Str("status"); st != asset.Verifying {
		t.Fatalf("complete: %s", st)
	}
	if got := log.take(); got != "asset-verify:pending" {
		t.Fatalf("verifying upload: woke %q", got)
	}
	if res := runCron(t, e, cron.AssetVerify); res.Schedule != "off" {
		t.Fatalf("asset-verify after verifying everything: %+v", res)
	}

	// Jobs: a job created in the lifecycle wakes job-reconcile after
	// commit, not on rollback; an open job keeps it on.
	var lc job.Lifecycle
	newJob := func(tx pgx.Tx) error {
		j := job.Job{ID: id.New[id.JobID](), Workspace: wsID, Status: job.Queued}
		if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs) VALUES ($1, $2, 'mp4-h264-720p', $3)`,
			j.ID, wsID, []uuid.UUID{uuid.New()}); err != nil {
			return err
		}
		return lc.Created(ctx, tx, j, "test")
	}
	if err := inWS(func(tx pgx.Tx) error {
		if err := newJob(tx); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if got := log.take(); got != "" {
		t.Fatalf("a rolled-back job woke %q", got)
	}
	if err := inWS(newJob); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); got != "job-reconcile:pending" {
		t.Fatalf("new job: woke %q", got)
	}
	if res := runCron(t, e, cron.JobReconcile); res.Schedule != "on" {
		t.Fatalf("job-reconcile with an open job: %+v", res)
	}
}

// TestLocalSchedulerWakesAndSleeps: the same path with the real local
// scheduler of `framebroker dev` as the switch. The due-only schedules
// start off; a committed webhook event switches webhook-retries on (the
// delivery arrives, sent by its cron run, since nothing else dispatches
// here), and that run, finding nothing left, switches it off again.
func TestLocalSchedulerWakesAndSleeps(t *testing.T) {
	e := apptest.New(t)
	var due []cron.Entry
	for _, en := range cron.Schedule {
		if en.DueOnly { // the daily jobs would sweep the shared bucket
			due = append(due, en)
		}
	}
	sched := cron.NewScheduler(e.Server.URL, e.Config.CronSecret, due, 1)
	sched.Start(t.Context())
	e.App.Waker.Set(sched)
	for _, en := range due {
		if sched.On(en.Name) {
			t.Fatalf("%s is on before any work", en.Name)
		}
	}
	received := make(chan struct{}, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received <- struct{}{} }))
	defer receiver.Close()
	tok, _ := e.User("ada@example.com")
	ws := e.Workspace(tok, "W")
	hook := e.Must(201, "POST", "/v1/workspaces/"+ws+"/webhooks", tok, map[string]any{"url": receiver.URL, "events": []string{"job.*"}}).Str("id")
	e.Must(202, "POST", "/v1/workspaces/"+ws+"/webhooks/"+hook+"/test", tok, nil)
	select {
	case <-received:
	case <-time.After(60 * time.Second):
		t.Fatal("the woken webhook-retries schedule did not deliver within 60 s")
	}
	deadline := time.Now().Add(60 * time.Second)
	for sched.On(cron.WebhookRetries) {
		if time.Now().After(deadline) {
			t.Fatal("webhook-retries still on with nothing pending")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p, err := e.App.Webhooks.Pending(t.Context()); err != nil || p {
		t.Fatalf("pending after the run: %v %v", p, err)
	}
}
