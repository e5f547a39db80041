package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/sfnlocal"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
)

// env starts the API with the local encode provider (the synthesized state
// machine under aws-local-stepfunctions, the real worker, real ffmpeg).
func env(t testing.TB) *apptest.Env {
	t.Helper()
	dbtest.RequireStack(t, config.EnvWorkerBin, config.EnvNodeBin, config.EnvSFNModule)
	e := apptest.New(t)
	if e.App.Pipeline.Local == nil {
		t.Fatal("local encode provider not wired")
	}
	e.App.Pipeline.Steps.Backoff = func(int) time.Duration { return 0 }
	t.Cleanup(e.App.Pipeline.Local.Close)
	return e
}

// clip makes a real H.264/AAC clip of the given length.
func clip(t testing.TB, seconds int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	d := fmt.Sprint(seconds)
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration="+d,
		"-f", "lavfi", "-i", "sine=frequency=440:duration="+d, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload creates, uploads and completes an asset.
func upload(t testing.TB, e *apptest.Env, tok, ws, name, ctype string, data []byte) string {
	t.Helper()
	return e.UploadAsset(tok, ws, name, ctype, data)
}

func submit(t testing.TB, e *apptest.Env, tok, ws, key string, body any) apptest.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.Server.URL+"/v1/workspaces/"+ws+"/jobs", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return apptest.Response{Status: res.StatusCode, Header: res.Header, Body: rb}
}

// wait polls the job until it finishes.
func wait(t testing.TB, e *apptest.Env, tok, ws, job string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		j := e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+job, tok, nil).JSON()
		switch j["status"] {
		case "completed", "failed", "canceled":
			return j
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", job)
	return nil
}

// timeline reads a job's trail (as the owner) and lays it out.
func timeline(t testing.TB, e *apptest.Env, ws, jobID string) []pipeline.Span {
	t.Helper()
	var w id.WorkspaceID
	var j id.JobID
	if err := w.UnmarshalText([]byte(ws)); err != nil {
		t.Fatal(err)
	}
	if err := j.UnmarshalText([]byte(jobID)); err != nil {
		t.Fatal(err)
	}
	events, err := job.LoadTrail(context.Background(), e.DB.Owner, w, j, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := pipeline.Timeline(events)
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

func trail(t testing.TB, e *apptest.Env, tok, ws, job string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+job+"/trail?limit=200", tok, nil).JSON()["data"].([]any) {
		out = append(out, ev.(map[string]any))
	}
	return out
}

func stage(events []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, ev := range events {
		if ev["stage"] == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestJobEndToEnd: submit through the API, the synthesized state machine
// runs locally, the credential-less worker encodes with real ffmpeg, the
// outputs are verified and registered, and what you download hashes as the
// job says; the trail has every T-05 field.
func TestJobEndToEnd(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	src := clip(t, 2)
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", src)
	body := map[string]any{"inputs": []string{in}, "preset": "mp4-h264-720p"}
	e.Must(201, "POST", "/v1/workspaces/"+ws+"/webhooks", tok, map[string]any{"url": "https://hooks.example.com/framebroker", "events": []string{"job.*"}})

	first := submit(t, e, tok, ws, "key-1", body)
	if first.Status != 202 {
		t.Fatalf("submit: %d %s", first.Status, first.Body)
	}
	jobID := first.Str("id")
	again := submit(t, e, tok, ws, "key-1", body)
	if again.Status != 202 || again.Str("id") != jobID || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("same key: %d %s (want the same job, replayed)", again.Status, again.Body)
	}
	if r := submit(t, e, tok, ws, "key-1", map[string]any{"inputs": []string{in}, "preset": "thumbnails"}); r.Status != 422 {
		t.Fatalf("same key, other body: %d, want 422", r.Status)
	}

	j := wait(t, e, tok, ws, jobID)
	if j["status"] != "completed" {
		t.Fatalf("job %v", j)
	}
	outs := j["outputs"].([]any)
	if len(outs) != 1 {
		t.Fatalf("outputs %v", outs)
	}
	o := outs[0].(map[string]any)
	res, err := http.Get(o["download_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != o["sha256"] || int(o["size"].(float64)) != len(got) {
		t.Fatalf("downloaded output hashes %x (%d bytes), job says %v", sum, len(got), o)
	}
	dl := filepath.Join(t.TempDir(), "out.mp4")
	os.WriteFile(dl, got, 0o600)
	height, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=height", "-of", "csv=p=0", dl).Output()
	if err != nil || strings.TrimSpace(string(height)) != "720" {
		t.Fatalf("output height %q (%v), want 720", height, err)
	}

	events := trail(t, e, tok, ws, jobID)
	for _, s := range []string{"queued", "probed", "presigned", "verified", "recorded", "notified"} {
		if len(stage(events, s)) == 0 {
			t.Errorf("trail lacks %q: %v", s, events)
		}
	}
	// The trail times every stretch of the job, encode and fixed cost.
	spans := timeline(t, e, ws, jobID)
	names := map[string]bool{}
	for i, sp := range spans {
		names[sp.Name] = true
		if sp.Duration < 0 {
			t.Errorf("span %d %q lasts %s", i, sp.Name, sp.Duration)
		}
	}
	for _, n := range []string{"dispatch", "runner start", "probe", "transition", "presign", "worker start", "encode", "verify and record", "notify"} {
		if !names[n] {
			t.Errorf("timeline lacks %q: %+v", n, spans)
		}
	}
	rec := stage(events, "recorded")[0]["detail"].(map[string]any)
	for _, f := range []string{"encoder_version", "image_digest", "ffmpeg_argv", "worker_argv", "inputs", "outputs", "timings_ms"} {
		if rec[f] == nil || rec[f] == "" {
			t.Errorf("recorded trail lacks %s: %v", f, rec)
		}
	}
	if !strings.HasPrefix(rec["encoder_version"].(string), "ffmpeg version") {
		t.Errorf("encoder_version %v", rec["encoder_version"])
	}
	if rec["image_digest"] != e.App.Pipeline.Local.WorkerDigest() {
		t.Errorf("image digest %v, want the worker binary's %s", rec["image_digest"], e.App.Pipeline.Local.WorkerDigest())
	}
	if env := rec["worker_environment"].([]any); len(env) != 0 {
		t.Errorf("the worker saw environment variables %v; it must run with none", env)
	}
	blob, _ := json.Marshal(events)
	if bytes.Contains(blob, []byte("X-Amz-Signature=")) && !bytes.Contains(blob, []byte("X-Amz-Signature=REDACTED")) {
		t.Error("trail holds a presigned URL signature")
	}
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		if i := bytes.Index(b, []byte("X-Amz-Signature=")); i >= 0 && !bytes.HasPrefix(b[i+16:], []byte("REDACTED")) {
			t.Fatalf("trail event leaks a signature: %s", b)
		}
	}
	// The ledger records the job's life; webhooks are told it completed.
	var queued, completed, hooks int
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM ledger_events WHERE type = 'job.queued' AND subject = $1),
		(SELECT count(*) FROM ledger_events WHERE type = 'job.completed' AND subject = $1),
		(SELECT count(*) FROM webhook_messages WHERE event_type = 'job.completed' AND position($1::text in convert_from(body, 'UTF8')) > 0)`,
		jobID).Scan(&queued, &completed, &hooks); err != nil {
		t.Fatal(err)
	}
	if queued != 1 || completed != 1 || hooks != 1 {
		t.Errorf("ledger job.queued=%d job.completed=%d, webhook messages=%d; want 1 each", queued, completed, hooks)
	}
	inSHA := sha256.Sum256(src)
	if !bytes.Contains(blob, []byte(hex.EncodeToString(inSHA[:]))) {
		t.Error("trail lacks the input's SHA-256")
	}
}

// TestWorkerKilledMidEncode: the first attempt's worker is killed; the
// retry is in the trail, the job completes, and nothing of the killed
// attempt is registered.
func TestWorkerKilledMidEncode(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 4))
	var killed atomic.Bool
	e.App.Pipeline.Local.OnWorker = func(_ id.JobID, attempt int, p *os.Process) {
		if attempt == 1 && killed.CompareAndSwap(false, true) {
			go func() { time.Sleep(150 * time.Millisecond); _ = p.Kill() }()
		}
	}
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "mp4-h264-1080p"})
	if r.Status != 202 {
		t.Fatalf("submit %d %s", r.Status, r.Body)
	}
	j := wait(t, e, tok, ws, r.Str("id"))
	if j["status"] != "completed" || !killed.Load() {
		t.Fatalf("job %v (killed=%v)", j, killed.Load())
	}
	events := trail(t, e, tok, ws, r.Str("id"))
	failed := stage(events, "attempt_failed")
	if len(failed) != 1 || failed[0]["attempt"].(float64) != 1 || !strings.Contains(failed[0]["detail"].(map[string]any)["cause"].(string), "killed") {
		t.Fatalf("attempt_failed entries %v", failed)
	}
	if v := stage(events, "verified"); len(v) != 1 || v[0]["attempt"].(float64) != 2 {
		t.Fatalf("verified %v", v)
	}
	var n int
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM assets WHERE object_key LIKE '%/a1/%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d assets registered from the killed attempt (%v)", n, err)
	}
}

// TestTamperedOutputFailsVerification: someone holding the output URL
// overwrites an output after the worker uploaded it and before verify; the
// job fails and nothing is registered.
func TestTamperedOutputFailsVerification(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
	// A worker wrapper: run the real worker, then PUT other bytes to the output URL.
	cfg := e.Config
	script := filepath.Join(t.TempDir(), "tampering-worker")
	os.WriteFile(script, []byte(`#!/bin/bash
`+cfg.WorkerBin+` "$@" || exit $?
for ((i=1; i<=$#; i++)); do
  if [ "${!i}" = "--output" ]; then j=$((i+1)); url="${!j#*=}"; fi
done
echo tampered | /usr/bin/curl -sf -X PUT -H 'Content-Type: video/mp4' --data-binary @- "$url" >/dev/null
`), 0o755)
	tamper, err := sfnlocal.New(sfnlocal.Config{Node: cfg.NodeBin, Module: cfg.SFNModule, Definition: spec.Definition, Worker: script, Steps: e.App.Pipeline.Steps, Name: "tamper"})
	if err != nil {
		t.Fatal(err)
	}
	defer tamper.Close()
	e.App.Pipeline.Dispatcher.Backends = []pipeline.Backend{tamper}
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "mp4-h264-720p"})
	j := wait(t, e, tok, ws, r.Str("id"))
	if j["status"] != "failed" || !strings.Contains(j["error"].(string), "Job.VerificationFailed") {
		t.Fatalf("job %v", j)
	}
	if outs := j["outputs"].([]any); len(outs) != 0 {
		t.Fatalf("registered %v", outs)
	}
	var n int
	_ = e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM job_outputs`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d outputs registered", n)
	}
}

// failing is a provider that refuses every job.
type failing struct{ calls atomic.Int32 }

func (f *failing) Name() string { return "always-down" }
func (f *failing) Start(context.Context, id.WorkspaceID, id.JobID) (string, error) {
	f.calls.Add(1)
	return "", errors.New("provider down")
}
func (f *failing) Cancel(context.Context, string) error { return nil }

// TestProviderFailover (T-11): a provider that refuses is recorded, the job
// fails over to the next; after Threshold failures the bad one is skipped.
func TestProviderFailover(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
	bad := &failing{}
	d := e.App.Pipeline.Dispatcher
	d.Backends = []pipeline.Backend{bad, e.App.Pipeline.Local}
	threshold := d.Health.Threshold
	var jobs []string
	for i := 0; i < threshold+2; i++ {
		r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "thumbnails"})
		if r.Status != 202 || r.Str("provider") != "local" {
			t.Fatalf("submit %d: %d %s", i, r.Status, r.Body)
		}
		jobs = append(jobs, r.Str("id"))
	}
	if got := int(bad.calls.Load()); got != threshold {
		t.Fatalf("the failing provider was tried %d times, want %d (then skipped while cooling down)", got, threshold)
	}
	var fails int
	var cooling bool
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT consecutive_failures, cooldown_until > now() FROM encode_providers WHERE name = 'always-down'`).Scan(&fails, &cooling); err != nil {
		t.Fatal(err)
	}
	if fails != threshold || !cooling {
		t.Fatalf("health: %d failures, cooling %v", fails, cooling)
	}
	for _, j := range jobs {
		if s := wait(t, e, tok, ws, j)["status"]; s != "completed" {
			t.Fatalf("job %s %v", j, s)
		}
	}
	// With every provider down, submission answers 503 and the job is failed.
	d.Backends = []pipeline.Backend{bad}
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "thumbnails"})
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("all down: %d %s", r.Status, r.Body)
	}
}

// TestCancel stops the execution and the worker and records it.
func TestCancel(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
	cfg := e.Config
	script := filepath.Join(t.TempDir(), "slow-worker")
	os.WriteFile(script, []byte("#!/bin/bash\nexec /usr/bin/sleep 60\n"), 0o755)
	slow, err := sfnlocal.New(sfnlocal.Config{Node: cfg.NodeBin, Module: cfg.SFNModule, Definition: spec.Definition, Worker: script, Steps: e.App.Pipeline.Steps, Name: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	started := make(chan *os.Process, 1)
	slow.OnWorker = func(_ id.JobID, _ int, p *os.Process) { started <- p }
	e.App.Pipeline.Dispatcher.Backends = []pipeline.Backend{slow}
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "mp4-h264-720p"})
	var worker *os.Process
	select {
	case worker = <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("worker never started")
	}
	c := e.Must(200, "POST", "/v1/workspaces/"+ws+"/jobs/"+r.Str("id")+"/cancel", tok, nil).JSON()
	if c["status"] != "canceled" {
		t.Fatalf("cancel %v", c)
	}
	// The worker must end (gone, or a zombie awaiting its reaper). Poll
	// rather than sleep a fixed 100 ms: on a loaded machine a killed
	// process can take longer to be scheduled and exit.
	for deadline := time.Now().Add(15 * time.Second); ; {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", worker.Pid))
		if err != nil || bytes.Contains(b, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d still running 15 s after cancel", worker.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j := e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+r.Str("id"), tok, nil).JSON(); j["status"] != "canceled" {
		t.Fatalf("job %v", j)
	}
	if len(stage(trail(t, e, tok, ws, r.Str("id")), "canceled")) != 1 {
		t.Fatal("cancel not in the trail")
	}
	e.Must(409, "POST", "/v1/workspaces/"+ws+"/jobs/"+r.Str("id")+"/cancel", tok, nil)
}

// TestSubmitValidation: clear 4xx for bad submissions; another workspace's
// asset is refused like a missing one.
func TestSubmitValidation(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	media := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
	notMedia := upload(t, e, tok, ws, "x.bin", "application/octet-stream", []byte("not media"))
	pending := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody("p.mp4", "video/mp4", make([]byte, 10))).Str("id")
	tokB, _ := e.User("b@example.com")
	wsB := e.Workspace(tokB, "B")
	foreign := upload(t, e, tokB, wsB, "b.mp4", "video/mp4", clip(t, 1))
	missing := id.New[id.AssetID]().String()
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"unknown preset", map[string]any{"inputs": []string{media}, "preset": "gif-party"}, 400},
		{"no inputs", map[string]any{"inputs": []string{}, "preset": "thumbnails"}, 400},
		{"duplicate input", map[string]any{"inputs": []string{media, media}, "preset": "thumbnails"}, 400},
		{"not media", map[string]any{"inputs": []string{notMedia}, "preset": "thumbnails"}, 422},
		{"not completed", map[string]any{"inputs": []string{pending}, "preset": "thumbnails"}, 422},
		{"foreign asset", map[string]any{"inputs": []string{foreign}, "preset": "thumbnails"}, 422},
		{"missing asset", map[string]any{"inputs": []string{missing}, "preset": "thumbnails"}, 422},
		{"wrong id kind", map[string]any{"inputs": []string{ws}, "preset": "thumbnails"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := submit(t, e, tok, ws, "", tc.body)
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	f := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{foreign}, "preset": "thumbnails"}).JSON()["detail"].(string)
	m := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{missing}, "preset": "thumbnails"}).JSON()["detail"].(string)
	if strings.Replace(f, foreign, "X", 1) != strings.Replace(m, missing, "X", 1) {
		t.Fatalf("foreign %q and missing %q differ", f, m)
	}
	// An unverified email cannot submit paid work, even as the owner.
	tokU, _ := e.UnverifiedUser("unverified@example.com")
	wsU := e.Workspace(tokU, "U")
	inU := upload(t, e, tokU, wsU, "clip.mp4", "video/mp4", clip(t, 1))
	if r := submit(t, e, tokU, wsU, "", map[string]any{"inputs": []string{inU}, "preset": "thumbnails"}); r.Status != 403 || !strings.Contains(r.Str("detail"), "verify your email") {
		t.Fatalf("unverified submit: %d %s", r.Status, r.Body)
	}
	var n int
	_ = e.DB.Owner.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d jobs recorded by refused submissions", n)
	}
}

// TestReleaseBindsJobTrail: a job submitted for a shot links its outputs to
// the shot; publishing a release of that shot binds the job and the SHA-256
// of its trail, recomputable from GET …/trail (RFC 8785 lines), and the
// public verify endpoint accepts the manifest.
func TestReleaseBindsJobTrail(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "P"}).Str("id")
	shot := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": "SH010"}).Str("id")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "thumbnails", "shot": shot})
	if r.Status != 202 {
		t.Fatalf("submit %d %s", r.Status, r.Body)
	}
	jobID := r.Str("id")
	if j := wait(t, e, tok, ws, jobID); j["status"] != "completed" {
		t.Fatalf("job %v", j)
	}
	rel := e.Must(201, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "R", "shots": []string{shot}}).Str("id")
	pub := e.Must(200, "POST", "/v1/workspaces/"+ws+"/releases/"+rel+"/publish", tok, nil).JSON()
	m := pub["manifest"].(map[string]any)
	shots := m["shots"].([]any)
	jobs := shots[0].(map[string]any)["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["id"] != jobID {
		t.Fatalf("manifest jobs %v", jobs)
	}
	// Recompute the digest from the served trail.
	h := sha256.New()
	for _, ev := range trail(t, e, tok, ws, jobID) {
		b, _ := json.Marshal(ev)
		var evt job.Event
		if err := json.Unmarshal(b, &evt); err != nil {
			t.Fatal(err)
		}
		line, err := job.CanonicalEvent(evt)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(append(line, '\n'))
	}
	if got := hex.EncodeToString(h.Sum(nil)); jobs[0].(map[string]any)["trail_sha256"] != got {
		t.Fatalf("manifest trail digest %v, recomputed %s", jobs[0].(map[string]any)["trail_sha256"], got)
	}
	outs := shots[0].(map[string]any)["outputs"].([]any)
	if len(outs) != 1 || outs[0].(map[string]any)["job"] != jobID {
		t.Fatalf("manifest outputs %v", outs)
	}
	// The release manifest references the output's Content Credentials.
	var jid id.JobID
	_ = jid.UnmarshalText([]byte(jobID))
	verified, _ := verifiedEntry(t, e, ws, jid)
	if want := verified["sprite.jpg"].ContentCredentials.ManifestSHA256; want == "" || outs[0].(map[string]any)["content_credentials_sha256"] != want {
		t.Fatalf("manifest output's content_credentials_sha256 %v, the trail recorded %q", outs[0].(map[string]any)["content_credentials_sha256"], want)
	}
	v := e.Must(200, "POST", "/v1/provenance/verify", "", pub["envelope"]).JSON()
	if v["valid"] != true {
		t.Fatalf("verify %v", v)
	}
}
