// Package job is encode jobs: submission (idempotent), reads, the per-job
// audit trail (T-05, append-only in the database), and cancel. Running a job
// is the pipeline's business; this package only asks a Starter to start it.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// Job is an encode job.
type Job struct {
	ID          id.JobID       `json:"id"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Preset      string         `json:"preset"`
	Inputs      []id.AssetID   `json:"inputs"`
	Shot        *id.ShotID     `json:"shot,omitempty"`
	Status      Status         `json:"status"`
	Attempt     int            `json:"attempt"`
	Provider    string         `json:"provider,omitempty"`
	Error       string         `json:"error,omitempty"`
	Duration    *float64       `json:"input_duration,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
	Outputs     []Output       `json:"outputs"`
	ExecutionID string         `json:"-"`
}

// Output is a verified, registered output of a job.
type Output struct {
	Name        string     `json:"name"`
	Asset       id.AssetID `json:"asset"`
	SHA256      string     `json:"sha256"`
	Size        int64      `json:"size"`
	ContentType string     `json:"content_type"`
	DownloadURL string     `json:"download_url,omitempty"`
	key         string
}

// Key is the output's object key.
func (o Output) Key() string { return o.key }

const cols = `id, workspace_id, preset, inputs, shot_id, status, attempt, coalesce(provider, ''), coalesce(error, ''),
	input_duration, created_at, updated_at, finished_at, coalesce(execution_id, '')`

func scan(row pgx.Row) (Job, error) {
	var j Job
	err := row.Scan(&j.ID, &j.Workspace, &j.Preset, &j.Inputs, &j.Shot, &j.Status, &j.Attempt, &j.Provider, &j.Error,
		&j.Duration, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt, &j.ExecutionID)
	return j, err
}

// ErrNotFound is returned when a job does not exist in the workspace.
var ErrNotFound = errors.New("job: not found")

// Load reads a job (inside a workspace-scoped transaction). With lock, the
// row is locked FOR UPDATE.
func Load(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, lock bool) (Job, error) {
	sql := `SELECT ` + cols + ` FROM jobs WHERE id = $1 AND workspace_id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	out, err := scan(q.QueryRow(ctx, sql, j, ws))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	return out, err
}

// outputsSQL reads a job's registered outputs ($1 job, $2 workspace).
const outputsSQL = `SELECT o.name, a.id, encode(a.sha256, 'hex'), a.size, a.content_type, a.object_key
		FROM job_outputs o JOIN assets a ON a.id = o.asset_id WHERE o.job_id = $1 AND o.workspace_id = $2 ORDER BY o.name`

func scanOutputs(rows pgx.Rows) ([]Output, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Output, error) {
		var o Output
		err := r.Scan(&o.Name, &o.Asset, &o.SHA256, &o.Size, &o.ContentType, &o.key)
		return o, err
	})
}

// LoadOutputs reads a job's registered outputs.
func LoadOutputs(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID) ([]Output, error) {
	rows, err := q.Query(ctx, outputsSQL, j, ws)
	if err != nil {
		return nil, err
	}
	return scanOutputs(rows)
}

// Event is one entry of a job's audit trail.
type Event struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Stage   string          `json:"stage"`
	Attempt int             `json:"attempt"`
	Detail  json.RawMessage `json:"detail"`
}

// Trail appends an entry to a job's audit trail. Callers must never put a
// presigned URL's signature in detail (use broker.Redact).
func Trail(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, stage string, attempt int, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO job_events (workspace_id, job_id, stage, attempt, detail) VALUES ($1, $2, $3, $4, $5)`,
		ws, j, stage, attempt, b)
	return err
}

// LoadTrail reads a job's trail in order.
func LoadTrail(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID, after int64, limit int) ([]Event, error) {
	rows, err := q.Query(ctx, `SELECT id, at, stage, attempt, detail FROM job_events
		WHERE job_id = $1 AND workspace_id = $2 AND id > $3 ORDER BY id LIMIT $4`, j, ws, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.Seq, &e.At, &e.Stage, &e.Attempt, &e.Detail)
		return e, err
	})
}
