// Package sfnlocal is the local encode provider: it runs the synthesized
// encode-job state machine (the same ASL the CDK app deploys) under
// aws-local-stepfunctions on Node, routing each Task state over loopback
// HTTP to the same step handlers the pipeline Lambda runs, and the Encode
// state to the worker binary as a child process with an EMPTY environment
// (the local stand-in for a Fargate task without a role).
package sfnlocal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
)

//go:embed runner.mjs
var runnerJS []byte

// Config locates the runner's parts.
type Config struct {
	// Node is a Node.js ≥ 22 binary.
	Node string
	// Module is the path of aws-local-stepfunctions' ESM build
	// (…/node_modules/aws-local-stepfunctions/build/main.node.esm.js).
	Module string
	// Definition is the state machine's ASL (infra/workflow/encode-job.asl.json).
	Definition []byte
	// Worker is the worker binary (built from ffmpeg-layer/worker).
	Worker string
	// Steps run the Lambda steps.
	Steps *pipeline.Steps
	// Name is the provider name; default "local".
	Name string
}

// Backend is a pipeline.Backend.
type Backend struct {
	cfg    Config
	digest string

	once    sync.Once
	initErr error
	dir     string
	url     string
	token   string
	srv     *http.Server

	mu   sync.Mutex
	runs map[string]*run

	// OnWorker, if set, is called when a worker process starts (tests use
	// it to kill one mid-encode).
	OnWorker func(job id.JobID, attempt int, p *os.Process)
}

type run struct {
	ws      id.WorkspaceID
	job     id.JobID
	node    *exec.Cmd
	worker  *os.Process
	stopped bool
	done    chan struct{}
	result  Result
}

// Result is how an execution ended.
type Result struct {
	Status string          `json:"status"` // SUCCEEDED, FAILED or ABORTED
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// New returns a Backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	for _, p := range []string{cfg.Node, cfg.Module, cfg.Worker} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sfnlocal: %w (scripts/install.sh installs the local runner)", err)
		}
	}
	b, err := os.ReadFile(cfg.Worker)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Backend{cfg: cfg, digest: "sha256:" + hex.EncodeToString(sum[:]), runs: map[string]*run{}}, nil
}

// Name implements pipeline.Backend.
func (b *Backend) Name() string { return b.cfg.Name }

// WorkerDigest is the local stand-in for the container image digest.
func (b *Backend) WorkerDigest() string { return b.digest }

func (b *Backend) init() error {
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "fb-sfnlocal-")
		if err != nil {
			b.initErr = err
			return
		}
		b.dir = dir
		if err := os.WriteFile(filepath.Join(dir, "runner.mjs"), runnerJS, 0o600); err != nil {
			b.initErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "definition.json"), b.cfg.Definition, 0o600); err != nil {
			b.initErr = err
			return
		}
		var tok [24]byte
		_, _ = rand.Read(tok[:])
		b.token = hex.EncodeToString(tok[:])
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.initErr = err
			return
		}
		b.url = "http://" + ln.Addr().String()
		mux := http.NewServeMux()
		mux.HandleFunc("POST /task/{state}", b.task)
		b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go b.srv.Serve(ln)
	})
	return b.initErr
}

// Start implements pipeline.Backend: it launches the runner and returns at
// once; the execution goes on in the background.
func (b *Backend) Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (string, error) {
	if err := b.init(); err != nil {
		return "", err
	}
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	exe := "local-" + j.String() + "-" + hex.EncodeToString(rb[:])
	input, _ := json.Marshal(map[string]string{"workspace": ws.String(), "job": j.String()})
	cmd := exec.Command(b.cfg.Node, filepath.Join(b.dir, "runner.mjs"), filepath.Join(b.dir, "definition.json"), string(input))
	cmd.Env = []string{"FB_SFN_MODULE=" + b.cfg.Module, "FB_TASK_URL=" + b.url, "FB_TASK_TOKEN=" + b.token, "FB_EXECUTION=" + exe}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &run{ws: ws, job: j, node: cmd, done: make(chan struct{})}
	b.mu.Lock()
	b.runs[exe] = r
	b.mu.Unlock()
	if err := cmd.Start(); err != nil {
		b.mu.Lock()
		delete(b.runs, exe)
		b.mu.Unlock()
		return "", fmt.Errorf("sfnlocal: start runner: %w", err)
	}
	go b.wait(exe, r, &out)
	return exe, nil
}

func (b *Backend) wait(exe string, r *run, out *bytes.Buffer) {
	err := r.node.Wait()
	b.mu.Lock()
	stopped := r.stopped
	b.mu.Unlock()
	r.result = lastResult(out.Bytes())
	switch {
	case stopped:
		r.result = Result{Status: "ABORTED"}
	case r.result.Status == "":
		// The runner itself died: mark the job failed so it does not hang.
		cause := fmt.Sprintf("local runner exited (%v): %s", err, tail(out.String(), 400))
		r.result = Result{Status: "FAILED", Error: "Runner.Crashed", Cause: cause}
		_, _ = b.cfg.Steps.Handle(context.Background(), pipeline.Payload{Step: spec.StepMarkFailed, Workspace: r.ws, Job: r.job,
			Error: &pipeline.StepError{Error: "Runner.Crashed", Cause: cause}})
	}
	slog.Info("local execution ended", "execution", exe, "status", r.result.Status, "error", r.result.Error)
	close(r.done)
}

func lastResult(b []byte) Result {
	var res Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Result
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Status != "" {
			res = r
		}
	}
	return res
}

// Wait blocks until the execution ends and returns how.
func (b *Backend) Wait(ctx context.Context, exe string) (Result, error) {
	b.mu.Lock()
	r := b.runs[exe]
	b.mu.Unlock()
	if r == nil {
		return Result{}, fmt.Errorf("sfnlocal: unknown execution %q", exe)
	}
	select {
	case <-r.done:
		return r.result, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Cancel implements pipeline.Backend: it kills the runner and the worker.
func (b *Backend) Cancel(_ context.Context, exe string) error {
	b.mu.Lock()
	r := b.runs[exe]
	if r != nil {
		r.stopped = true
	}
	b.mu.Unlock()
	if r == nil {
		return nil // already gone (e.g. another process's execution)
	}
	if r.worker != nil {
		_ = r.worker.Kill()
	}
	if r.node.Process != nil {
		_ = r.node.Process.Kill()
	}
	<-r.done
	return nil
}

// Close stops the task server.
func (b *Backend) Close() {
	if b.srv != nil {
		_ = b.srv.Close()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

type taskError struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

func (b *Backend) task(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(b.token)) != 1 {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeTask(w, nil, err)
		return
	}
	state := r.PathValue("state")
	if state == spec.StateEncode {
		res, err := b.encode(r.Context(), r.Header.Get("X-Execution"), body)
		writeTask(w, res, err)
		return
	}
	var p pipeline.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		writeTask(w, nil, &pipeline.Failure{Name: "Job.BadPayload", Cause: err.Error()})
		return
	}
	res, err := b.cfg.Steps.Handle(r.Context(), p)
	writeTask(w, res, err)
}

func writeTask(w http.ResponseWriter, res any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		te := taskError{Error: "States.TaskFailed", Cause: err.Error()}
		var f *pipeline.Failure
		if errors.As(err, &f) {
			te = taskError{Error: f.Name, Cause: f.Cause}
		}
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(te)
		return
	}
	_ = json.NewEncoder(w).Encode(res)
}

// encode is the local RunTask.sync: the ECS parameters' container command
// is the worker's argv; the worker runs with an empty environment.
func (b *Backend) encode(ctx context.Context, exe string, body []byte) (any, error) {
	var params struct {
		Overrides struct {
			ContainerOverrides []struct {
				Command []string `json:"Command"`
			} `json:"ContainerOverrides"`
		} `json:"Overrides"`
	}
	if err := json.Unmarshal(body, &params); err != nil || len(params.Overrides.ContainerOverrides) != 1 {
		return nil, &pipeline.Failure{Name: "States.TaskFailed", Cause: "malformed RunTask parameters"}
	}
	argv := params.Overrides.ContainerOverrides[0].Command
	ctx, cancel := context.WithTimeout(ctx, spec.EncodeTimeoutMinutes*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cfg.Worker, argv...)
	cmd.Env = []string{} // no credentials, no DATABASE_URL, nothing
	cmd.Dir = os.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, &pipeline.Failure{Name: "States.TaskFailed", Cause: "start worker: " + err.Error()}
	}
	b.mu.Lock()
	r := b.runs[exe]
	var job id.JobID
	if r != nil {
		r.worker = cmd.Process
		job = r.job
	}
	hook := b.OnWorker
	b.mu.Unlock()
	if hook != nil {
		hook(job, attemptOf(argv), cmd.Process)
	}
	err := cmd.Wait()
	b.mu.Lock()
	if r != nil {
		r.worker = nil
	}
	b.mu.Unlock()
	if err != nil {
		cause := fmt.Sprintf("worker exited: %v: %s", err, tail(strings.TrimSpace(stdout.String()+" "+stderr.String()), 600))
		return nil, &pipeline.Failure{Name: "States.TaskFailed", Cause: broker.Redact(cause)}
	}
	return map[string]any{"Containers": []map[string]string{{"ImageDigest": b.digest, "ExitCode": "0"}}}, nil
}

// attemptOf reads the attempt from an output URL's key (…/aN/…), for the
// test hook.
func attemptOf(argv []string) int {
	for _, a := range argv {
		if i := strings.Index(a, "/a"); i >= 0 {
			var n int
			if _, err := fmt.Sscanf(a[i+2:], "%d/", &n); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
