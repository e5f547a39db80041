package tenancy

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

func (s *Service) shotRoutes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/projects/{project}/shots", Policy: guard.Member(guard.Editor), Handler: s.createShot, Example: `{"name":"SH010","description":"Opening crane"}`,
			Summary: "Create a shot in a project", Request: namedInput{}, Reply: Shot{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/projects/{project}/shots", Policy: guard.Member(guard.Viewer), Read: readShots,
			Summary: "A project's shots", Reply: httpx.List[Shot]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/shots/{shot}", Policy: guard.Member(guard.Viewer), Read: readShot,
			Summary: "A shot", Reply: Shot{}},
		{Method: "PATCH", Pattern: "/v1/workspaces/{ws}/shots/{shot}", Policy: guard.Member(guard.Editor), Handler: s.updateShot, Example: `{"description":"Opening crane, v2"}`,
			Summary: "Change a shot's name or description", Request: namedInput{}, Reply: Shot{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/shots/{shot}", Policy: guard.Member(guard.Editor), Handler: s.deleteShot,
			Summary: "Delete a shot", Status: http.StatusNoContent},
	}
}

const shotCols = `id, workspace_id, project_id, name, description, created_at, updated_at`

func scanShot(row pgx.Row) (Shot, error) {
	var s Shot
	err := row.Scan(&s.ID, &s.Workspace, &s.Project, &s.Name, &s.Description, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

func (s *Service) createShot(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.CreateShot"
	var in namedInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, d, err := in.validate(op, true)
	if err != nil {
		return err
	}
	sh, err := scanShot(a.Tx.QueryRow(r.Context(),
		`INSERT INTO shots (id, workspace_id, project_id, name, description) VALUES ($1, $2, $3, $4, coalesce($5, '')) RETURNING `+shotCols,
		id.New[id.ShotID](), a.Workspace, a.Project(), *n, d))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "shot.created", sh.ID.String(), map[string]any{"project": sh.Project, "name": sh.Name}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, sh)
	return nil
}

// readShots lists the path project's shots, pipelined with the guard's
// checks (one round trip).
var readShots = guard.ReadPage("tenancy.ListShots", func(a *guard.Access) (string, []any) {
	return `SELECT ` + shotCols + ` FROM shots WHERE workspace_id = $1 AND project_id = $2 AND id > $3 ORDER BY id LIMIT $4`, []any{a.Workspace, a.Project()}
}, scanShot, func(s Shot) uuid.UUID { return s.ID.UUID() })

// readShot reads the path's shot, pipelined with the guard's checks.
var readShot = guard.ReadOne("tenancy.GetShot", func(a *guard.Access) (string, []any) {
	return `SELECT ` + shotCols + ` FROM shots WHERE id = $1 AND workspace_id = $2`, []any{a.Shot(), a.Workspace}
}, scanShot)

func (s *Service) updateShot(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.UpdateShot"
	var in namedInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, d, err := in.validate(op, false)
	if err != nil {
		return err
	}
	sh, err := scanShot(a.Tx.QueryRow(r.Context(), `UPDATE shots SET name = coalesce($3, name), description = coalesce($4, description), updated_at = now()
		WHERE id = $1 AND workspace_id = $2 RETURNING `+shotCols, a.Shot(), a.Workspace, n, d))
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := ledger.Record(r.Context(), a, "shot.updated", sh.ID.String(), map[string]any{"name": sh.Name, "description_changed": d != nil}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, sh)
	return nil
}

func (s *Service) deleteShot(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.DeleteShot"
	var inRelease bool
	if err := a.Tx.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM release_shots WHERE shot_id = $1)`, a.Shot()).Scan(&inRelease); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if inRelease {
		return problem.E(op, problem.Conflict, "this shot is part of a release; remove it from the release first")
	}
	if _, err := a.Tx.Exec(r.Context(), `DELETE FROM shots WHERE id = $1 AND workspace_id = $2`, a.Shot(), a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "shot.deleted", a.Shot().String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
