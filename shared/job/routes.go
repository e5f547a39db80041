package job

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/preset"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the job routes.
const Function = "jobs"

// Starter starts and stops job executions (the pipeline's dispatcher).
type Starter interface {
	// Start begins executing a committed, queued job and says which
	// provider runs it under which execution id.
	Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (provider, executionID string, err error)
	// Cancel stops an execution.
	Cancel(ctx context.Context, provider, executionID string) error
}

// Hook runs inside the submission transaction after the job row is
// written and before its listeners run (verified email, spend
// reservation…); an error refuses the submission and rolls everything
// back, so a refused submission leaves nothing behind.
type Hook func(ctx context.Context, tx pgx.Tx, a *guard.Access, j Job) error

// Service serves the job routes.
type Service struct {
	pool    *pgxpool.Pool
	store   blob.Store
	starter Starter
	ttl     time.Duration
	// Lifecycle runs every state change and its listeners.
	Lifecycle *Lifecycle
	// OnSubmit hooks may refuse a submission; they run in its transaction,
	// in order, before the lifecycle's listeners.
	OnSubmit []Hook
}

// NewService returns a Service. ttl bounds download URLs of outputs.
func NewService(pool *pgxpool.Pool, store blob.Store, starter Starter, ttl time.Duration, l *Lifecycle) *Service {
	return &Service{pool: pool, store: store, starter: starter, ttl: ttl, Lifecycle: l}
}

// Routes are the job routes.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/jobs", Policy: guard.Member(guard.Editor), Handler: s.submit,
			Example: `{"inputs":["ast_00000000000000000000000000000000"],"preset":"mp4-h264-720p"}`,
			Summary: "Submit an encode job (Idempotency-Key; rate limited; spend reserved)", Request: submitInput{}, Reply: Job{}, Status: http.StatusAccepted},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/jobs", Policy: guard.Member(guard.Viewer), Read: readJobs,
			Summary: "The workspace's jobs", Reply: httpx.List[Job]{}, Query: []string{"limit", "cursor", "status"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/jobs/{job}", Policy: guard.Member(guard.Viewer), Read: s.readJob,
			Summary: "A job with its outputs", Reply: Job{}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/jobs/{job}/trail", Policy: guard.Member(guard.Viewer), Handler: s.trail,
			Summary: "The job's audit trail (T-05)", Reply: trailPage{}, Query: []string{"after", "limit"}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/jobs/{job}/cancel", Policy: guard.Member(guard.Editor), Handler: s.cancel,
			Summary: "Cancel a queued or running job", Reply: Job{}},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}

// trailPage is a page of a job's trail; next_after continues it.
type trailPage struct {
	Job       id.JobID `json:"job"`
	Data      []Event  `json:"data"`
	HasMore   bool     `json:"has_more"`
	NextAfter int64    `json:"next_after,omitempty"`
}

type submitInput struct {
	Inputs []id.AssetID `json:"inputs"`
	Preset string       `json:"preset"`
	Shot   *id.ShotID   `json:"shot"`
}

// MaxInputs bounds a job's inputs.
const MaxInputs = 16

func (in submitInput) hash() []byte {
	ins := make([]string, len(in.Inputs))
	for i, a := range in.Inputs {
		ins[i] = a.String()
	}
	shot := ""
	if in.Shot != nil {
		shot = in.Shot.String()
	}
	b, _ := json.Marshal([]any{in.Preset, ins, shot})
	sum := sha256.Sum256(b)
	return sum[:]
}

func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > 255 {
		return "", problem.Field("job.Submit", "Idempotency-Key", "at most 255 characters")
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return "", problem.Field("job.Submit", "Idempotency-Key", "printable ASCII without spaces")
		}
	}
	return k, nil
}

// submit validates and records a job, then starts it once committed. The
// same Idempotency-Key with the same body answers the first job again; with
// another body it is refused.
func (s *Service) submit(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "job.Submit"
	ctx := r.Context()
	var in submitInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	p, ok := preset.Lookup(in.Preset)
	if !ok {
		return problem.Field(op, "preset", "unknown preset; one of "+strings.Join(preset.Names(), ", "))
	}
	if len(in.Inputs) == 0 || len(in.Inputs) > MaxInputs {
		return problem.Field(op, "inputs", fmt.Sprintf("1 to %d asset ids", MaxInputs))
	}
	seen := map[id.AssetID]bool{}
	for _, in := range in.Inputs {
		if seen[in] {
			return problem.Field(op, "inputs", "lists "+in.String()+" twice")
		}
		seen[in] = true
	}

	// One transaction (the guard's) decides: replay, refusal or a new
	// queued job with its ledger event, webhook message and reservation.
	// The execution starts only after it commits.
	tx := a.Tx
	if key != "" {
		existing, found, err := s.byKey(ctx, tx, a.Workspace, key, in.hash())
		if err != nil {
			return err
		}
		if found {
			existing.Outputs = []Output{}
			w.Header().Set("Idempotent-Replayed", "true")
			httpx.JSON(w, http.StatusAccepted, existing)
			return nil
		}
	}
	if err := checkInputs(ctx, tx, a.Workspace, in); err != nil {
		return err
	}
	var nullKey *string
	if key != "" {
		nullKey = &key
	}
	row := tx.QueryRow(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs, shot_id, idempotency_key, request_hash, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING `+cols,
		id.New[id.JobID](), a.Workspace, p.Name, in.Inputs, in.Shot, nullKey, in.hash(), a.Principal.User)
	j, err := scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent request with the same key won; the guard's
		// transaction rolls back (with this one's reservation) and the
		// client's retry replays the winner.
		return problem.E(op, problem.Conflict, "a request with this Idempotency-Key is in progress; retry it")
	}
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := Trail(ctx, tx, a.Workspace, j.ID, "queued", 1, map[string]any{
		"preset": p.Name, "inputs": in.Inputs, "by": a.Principal.User, "idempotency_key": key != "",
	}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	for _, h := range s.OnSubmit {
		if err := h(ctx, tx, a, j); err != nil {
			return err
		}
	}
	if err := s.Lifecycle.Created(ctx, tx, j, "user:"+a.Principal.User.String()); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	j.Outputs = []Output{}
	// The reply (the guard buffers it until after the commit and its
	// hooks) is written once the execution has started, with its provider.
	if err := db.AfterCommit(tx, func(ctx context.Context) error {
		if err := s.start(ctx, &j); err != nil {
			return err
		}
		httpx.JSON(w, http.StatusAccepted, j)
		return nil
	}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}

// start runs after the submission commits: it starts the execution and
// records it, or fails the job (no provider) through the lifecycle, so the
// ending is recorded like any other, and answers 503.
func (s *Service) start(ctx context.Context, j *Job) error {
	const op = "job.Submit"
	provider, exec, err := s.starter.Start(ctx, j.Workspace, j.ID)
	if err != nil {
		slog.ErrorContext(ctx, "job: no provider started the job", "job", j.ID.String(), "err", err.Error())
		const msg = "no encode provider available"
		_, ferr := s.Lifecycle.MoveIn(ctx, s.pool, j.Workspace, j.ID, Move{To: Failed, Reason: ReasonNoProvider, Actor: "system:api",
			Error: msg, Stage: "failed", Detail: map[string]any{"error": msg}})
		if ferr != nil {
			// The job stays queued; the reconcile cron retries or fails it.
			slog.ErrorContext(ctx, "job: could not mark an unstarted job failed", "job", j.ID.String(), "err", ferr.Error())
		}
		return &problem.Error{Op: op, Kind: problem.Unavailable, Detail: "no encode provider is available; the job was not started", RetryAfter: time.Minute, Err: err}
	}
	err = db.InWorkspace(ctx, s.pool, j.Workspace.UUID().String(), func(tx pgx.Tx) error {
		set, err := SetExecution(ctx, tx, j.Workspace, j.ID, provider, exec)
		if err != nil || !set {
			return err
		}
		// When the execution started: the trail's timeline (runner start
		// is from here to the first step) shows what a job waits for.
		return Trail(ctx, tx, j.Workspace, j.ID, "dispatched", 1, map[string]any{"provider": provider})
	})
	if err != nil {
		// Started but not recorded: the reconcile cron fails it as stalled
		// if it never reports; the reply still says the job was accepted.
		slog.ErrorContext(ctx, "job: record execution", "job", j.ID.String(), "err", err.Error())
	}
	j.Provider = provider
	return nil
}

// byKey finds the job submitted under an idempotency key; a different
// request under the same key is refused.
func (s *Service) byKey(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, key string, hash []byte) (Job, bool, error) {
	var stored []byte
	j, err := scan(tx.QueryRow(ctx, `SELECT `+cols+` FROM jobs WHERE workspace_id = $1 AND idempotency_key = $2`, ws, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, problem.Wrap("job.byKey", problem.Internal, err)
	}
	if err := tx.QueryRow(ctx, `SELECT request_hash FROM jobs WHERE id = $1`, j.ID).Scan(&stored); err != nil {
		return Job{}, false, problem.Wrap("job.byKey", problem.Internal, err)
	}
	if string(stored) != string(hash) {
		return Job{}, false, problem.E("job.Submit", problem.Unprocessable, "this Idempotency-Key was used with a different request")
	}
	return j, true, nil
}

// checkInputs requires every input to be a completed, probed asset of the
// workspace; an asset of another workspace is refused like a missing one.
func checkInputs(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, in submitInput) error {
	const op = "job.checkInputs"
	rows, err := tx.Query(ctx, `SELECT id, status, probe IS NOT NULL FROM assets WHERE workspace_id = $1 AND id = ANY($2)`, ws, in.Inputs)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	type st struct {
		status string
		media  bool
	}
	found := map[id.AssetID]st{}
	for rows.Next() {
		var a id.AssetID
		var s st
		if err := rows.Scan(&a, &s.status, &s.media); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		found[a] = s
	}
	if err := rows.Err(); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	for _, a := range in.Inputs {
		s, ok := found[a]
		switch {
		case !ok:
			return problem.E(op, problem.Unprocessable, "inputs: "+a.String()+" is not an asset of this workspace")
		case s.status != "complete":
			return problem.E(op, problem.Unprocessable, "inputs: "+a.String()+" is not uploaded and completed yet")
		case !s.media:
			return problem.E(op, problem.Unprocessable, "inputs: "+a.String()+" is not media ffprobe can read")
		}
	}
	if in.Shot != nil {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM shots WHERE id = $1 AND workspace_id = $2)`, *in.Shot, ws).Scan(&ok); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		if !ok {
			return problem.E(op, problem.Unprocessable, "shot: not a shot of this workspace")
		}
	}
	return nil
}

// readJobs lists the workspace's jobs (without their outputs), pipelined
// with the guard's checks (one round trip).
var readJobs = guard.ReadPage("job.List", func(a *guard.Access) (string, []any) {
	return `SELECT ` + cols + ` FROM jobs WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`, []any{a.Workspace}
}, func(row pgx.Row) (Job, error) {
	j, err := scan(row)
	j.Outputs = []Output{}
	return j, err
}, func(j Job) uuid.UUID { return j.ID.UUID() })

// readJob reads the path's job and its outputs, pipelined with the
// guard's checks (one round trip), and presigns the outputs' downloads.
func (s *Service) readJob(_ *http.Request, a *guard.Access, b *pgx.Batch) guard.HandlerFunc {
	const op = "job.Get"
	var j Job
	var jobErr, outErr error
	b.Queue(`SELECT `+cols+` FROM jobs WHERE id = $1 AND workspace_id = $2`, a.Job(), a.Workspace).QueryRow(func(row pgx.Row) error {
		j, jobErr = scan(row)
		return nil
	})
	b.Queue(outputsSQL, a.Job(), a.Workspace).Query(func(rows pgx.Rows) error {
		j.Outputs, outErr = scanOutputs(rows)
		return nil
	})
	return func(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
		if jobErr != nil {
			return guard.NotFoundOr(op, jobErr)
		}
		if outErr != nil {
			return problem.Wrap(op, problem.Internal, outErr)
		}
		for i := range j.Outputs {
			var err error
			if j.Outputs[i].DownloadURL, err = s.store.PresignGet(r.Context(), j.Outputs[i].key, s.ttl); err != nil {
				return problem.Wrap(op, problem.Internal, err)
			}
		}
		httpx.JSON(w, http.StatusOK, j)
		return nil
	}
}

func (s *Service) trail(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "job.Trail"
	after := int64(0)
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return problem.Field(op, "after", "a sequence number from a previous page")
		}
		after = n
	}
	p, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	ev, err := LoadTrail(r.Context(), a.Tx, a.Workspace, a.Job(), after, p.Limit+1)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	out := trailPage{Job: a.Job(), Data: ev}
	if ev == nil {
		out.Data = []Event{}
	}
	if len(ev) > p.Limit {
		out.Data, out.HasMore, out.NextAfter = ev[:p.Limit], true, ev[p.Limit-1].Seq
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) cancel(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "job.Cancel"
	ctx := r.Context()
	j, err := Load(ctx, a.Tx, a.Workspace, a.Job(), true)
	if errors.Is(err, ErrNotFound) {
		return guard.NotFound()
	}
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if j.Status.Finished() {
		return problem.E(op, problem.Conflict, "the job is already "+string(j.Status))
	}
	j, err = s.Lifecycle.Move(ctx, a.Tx, a.Workspace, j.ID, Move{To: Canceled, Reason: ReasonCanceled, Actor: "user:" + a.Principal.User.String(),
		Stage: "canceled", Detail: map[string]any{"by": a.Principal.User}})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if j.ExecutionID != "" {
		// Stop the execution once the cancel has committed: a worker that
		// still finishes finds the job canceled and its result is dropped.
		provider, exec := j.Provider, j.ExecutionID
		if err := db.AfterCommit(a.Tx, func(ctx context.Context) error {
			if err := s.starter.Cancel(ctx, provider, exec); err != nil {
				slog.WarnContext(ctx, "job: stop a canceled execution", "job", j.ID.String(), "err", err.Error())
			}
			return nil
		}); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	j.Outputs = []Output{}
	httpx.JSON(w, http.StatusOK, j)
	return nil
}
