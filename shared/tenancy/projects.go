package tenancy

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Project groups shots.
type Project struct {
	ID          id.ProjectID   `json:"id"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// Shot is one shot of a project.
type Shot struct {
	ID          id.ShotID      `json:"id"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Project     id.ProjectID   `json:"project"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// namedInput is the body of a create or update of a project or shot; on
// update, absent fields are left alone.
type namedInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

// validate checks the input; create requires a name.
func (in namedInput) validate(op string, create bool) (n *string, d *string, err error) {
	if in.Name != nil || create {
		v := ""
		if in.Name != nil {
			v = *in.Name
		}
		s, err := name(op, "name", v)
		if err != nil {
			return nil, nil, err
		}
		n = &s
	}
	if in.Description != nil {
		s, err := description(op, in.Description)
		if err != nil {
			return nil, nil, err
		}
		d = &s
	}
	return n, d, nil
}

func (s *Service) projectRoutes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/projects", Policy: guard.Member(guard.Editor), Handler: s.createProject, Example: `{"name":"Feature film","description":"Reel 1"}`,
			Summary: "Create a project", Request: namedInput{}, Reply: Project{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/projects", Policy: guard.Member(guard.Viewer), Read: readProjects,
			Summary: "The workspace's projects", Reply: httpx.List[Project]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/projects/{project}", Policy: guard.Member(guard.Viewer), Read: readProject,
			Summary: "A project", Reply: Project{}},
		{Method: "PATCH", Pattern: "/v1/workspaces/{ws}/projects/{project}", Policy: guard.Member(guard.Editor), Handler: s.updateProject, Example: `{"name":"Feature film (final)"}`,
			Summary: "Change a project's name or description", Request: namedInput{}, Reply: Project{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/projects/{project}", Policy: guard.Member(guard.Admin), Handler: s.deleteProject,
			Summary: "Delete a project", Status: http.StatusNoContent},
	}
}

const projectCols = `id, workspace_id, name, description, created_at, updated_at`

func scanProject(row pgx.Row) (Project, error) {
	var p Project
	err := row.Scan(&p.ID, &p.Workspace, &p.Name, &p.Description, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

func (s *Service) createProject(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.CreateProject"
	var in namedInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, d, err := in.validate(op, true)
	if err != nil {
		return err
	}
	p, err := scanProject(a.Tx.QueryRow(r.Context(),
		`INSERT INTO projects (id, workspace_id, name, description) VALUES ($1, $2, $3, coalesce($4, '')) RETURNING `+projectCols,
		id.New[id.ProjectID](), a.Workspace, *n, d))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "project.created", p.ID.String(), map[string]any{"name": p.Name}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, p)
	return nil
}

// readProjects lists the workspace's projects, pipelined with the guard's
// checks (one round trip).
var readProjects = guard.ReadPage("tenancy.ListProjects", func(a *guard.Access) (string, []any) {
	return `SELECT ` + projectCols + ` FROM projects WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`, []any{a.Workspace}
}, scanProject, func(p Project) uuid.UUID { return p.ID.UUID() })

// readProject reads the path's project, pipelined with the guard's checks.
var readProject = guard.ReadOne("tenancy.GetProject", func(a *guard.Access) (string, []any) {
	return `SELECT ` + projectCols + ` FROM projects WHERE id = $1 AND workspace_id = $2`, []any{a.Project(), a.Workspace}
}, scanProject)

func (s *Service) updateProject(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.UpdateProject"
	var in namedInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, d, err := in.validate(op, false)
	if err != nil {
		return err
	}
	p, err := scanProject(a.Tx.QueryRow(r.Context(), `UPDATE projects SET name = coalesce($3, name), description = coalesce($4, description), updated_at = now()
		WHERE id = $1 AND workspace_id = $2 RETURNING `+projectCols, a.Project(), a.Workspace, n, d))
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := ledger.Record(r.Context(), a, "project.updated", p.ID.String(), map[string]any{"name": p.Name, "description_changed": d != nil}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, p)
	return nil
}

func (s *Service) deleteProject(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.DeleteProject"
	var inRelease bool
	if err := a.Tx.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM release_shots rs JOIN shots s ON s.id = rs.shot_id WHERE s.project_id = $1)`,
		a.Project()).Scan(&inRelease); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if inRelease {
		return problem.E(op, problem.Conflict, "a shot of this project is part of a release; remove it from the release first")
	}
	if _, err := a.Tx.Exec(r.Context(), `DELETE FROM projects WHERE id = $1 AND workspace_id = $2`, a.Project(), a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "project.deleted", a.Project().String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
