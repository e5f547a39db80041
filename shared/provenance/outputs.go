package provenance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// ShotOutput links a completed asset to the shot it renders.
type ShotOutput struct {
	Shot      id.ShotID  `json:"shot"`
	Asset     id.AssetID `json:"asset"`
	SHA256    string     `json:"sha256"`
	Job       string     `json:"job,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

const outputCols = `so.shot_id, so.asset_id, encode(a.sha256, 'hex'), coalesce(so.job_id::text, ''), so.created_at`

func scanOutput(row pgx.Row) (ShotOutput, error) {
	var o ShotOutput
	err := row.Scan(&o.Shot, &o.Asset, &o.SHA256, &o.Job, &o.CreatedAt)
	return o, err
}

// linkInput names the asset to link.
type linkInput struct {
	Asset id.AssetID `json:"asset"`
}

// outputList is a shot's renders.
type outputList struct {
	Data []ShotOutput `json:"data"`
}

func (s *Service) linkOutput(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "provenance.LinkOutput"
	var in linkInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Asset.IsZero() {
		return problem.Field(op, "asset", "is required")
	}
	var status string
	err := a.Tx.QueryRow(r.Context(), `SELECT status FROM assets WHERE id = $1 AND workspace_id = $2`, in.Asset, a.Workspace).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return problem.E(op, problem.Unprocessable, "asset: not an asset of this workspace")
	}
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if status != "complete" {
		return problem.E(op, problem.Conflict, "asset: complete the upload first (POST …/assets/{asset}/complete)")
	}
	if _, err := a.Tx.Exec(r.Context(), `INSERT INTO shot_outputs (workspace_id, shot_id, asset_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		a.Workspace, a.Shot(), in.Asset); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	o, err := scanOutput(a.Tx.QueryRow(r.Context(), `SELECT `+outputCols+` FROM shot_outputs so JOIN assets a ON a.id = so.asset_id
		WHERE so.shot_id = $1 AND so.asset_id = $2`, a.Shot(), in.Asset))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "shot.output_linked", a.Shot().String(), map[string]any{"asset": o.Asset, "sha256": o.SHA256}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, o)
	return nil
}

func (s *Service) listOutputs(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "provenance.ListOutputs"
	rows, err := a.Tx.Query(r.Context(), `SELECT `+outputCols+` FROM shot_outputs so JOIN assets a ON a.id = so.asset_id
		WHERE so.shot_id = $1 AND so.workspace_id = $2 ORDER BY so.asset_id LIMIT 1000`, a.Shot(), a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ShotOutput, error) { return scanOutput(row) })
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if items == nil {
		items = []ShotOutput{}
	}
	httpx.JSON(w, http.StatusOK, outputList{Data: items})
	return nil
}

func (s *Service) unlinkOutput(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "provenance.UnlinkOutput"
	tag, err := a.Tx.Exec(r.Context(), `DELETE FROM shot_outputs WHERE shot_id = $1 AND asset_id = $2 AND workspace_id = $3`, a.Shot(), a.Asset(), a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if tag.RowsAffected() == 0 {
		return guard.NotFound()
	}
	if err := ledger.Record(r.Context(), a, "shot.output_unlinked", a.Shot().String(), map[string]any{"asset": a.Asset()}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AddJobOutput links output asset a, rendered by job j, to shot, so the
// release manifest binds it with the job's trail. It runs in the caller's
// transaction (the pipeline's verify); this package owns shot_outputs.
func AddJobOutput(ctx context.Context, q db.Querier, ws id.WorkspaceID, shot id.ShotID, a id.AssetID, j id.JobID) error {
	if _, err := q.Exec(ctx, `INSERT INTO shot_outputs (workspace_id, shot_id, asset_id, job_id) VALUES ($1, $2, $3, $4)`, ws, shot, a, j); err != nil {
		return fmt.Errorf("provenance: link output %s to shot %s: %w", a, shot, err)
	}
	return nil
}
