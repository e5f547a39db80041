package tenancy

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Workspace is a tenant.
type Workspace struct {
	ID        id.WorkspaceID `json:"id"`
	Name      string         `json:"name"`
	Role      guard.Role     `json:"role"` // the caller's role
	CreatedAt time.Time      `json:"created_at"`
}

func (s *Service) workspaceRoutes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces", Policy: guard.Authenticated(), Handler: s.createWorkspace, Example: `{"name":"Studio A"}`,
			Summary: "Create a workspace (the caller becomes its owner)", Request: workspaceInput{}, Reply: Workspace{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces", Policy: guard.Authenticated(), Handler: s.listWorkspaces,
			Summary: "The caller's workspaces", Reply: httpx.List[Workspace]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}", Policy: guard.Member(guard.Viewer), Read: readWorkspace,
			Summary: "A workspace", Reply: Workspace{}},
		{Method: "PATCH", Pattern: "/v1/workspaces/{ws}", Policy: guard.Member(guard.Admin), Handler: s.updateWorkspace, Example: `{"name":"Studio B"}`,
			Summary: "Rename a workspace", Request: workspaceInput{}, Reply: Workspace{}},
	}
}

// workspaceInput names a workspace.
type workspaceInput struct {
	Name string `json:"name"`
}

func (s *Service) createWorkspace(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.CreateWorkspace"
	var in workspaceInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, err := name(op, "name", in.Name)
	if err != nil {
		return err
	}
	ws := Workspace{ID: id.New[id.WorkspaceID](), Name: n, Role: guard.Owner}
	err = db.InWorkspace(r.Context(), s.pool, ws.ID.UUID().String(), func(tx pgx.Tx) error {
		if err := tx.QueryRow(r.Context(), `INSERT INTO workspaces (id, name, created_by) VALUES ($1, $2, $3) RETURNING created_at`,
			ws.ID, n, a.Principal.User).Scan(&ws.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), `INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, 'owner')`, ws.ID, a.Principal.User); err != nil {
			return err
		}
		_, err := ledger.Append(r.Context(), tx, ws.ID, a.Principal.User.String(), "workspace.created", ws.ID.String(),
			map[string]any{"name": n, "owner": a.Principal.User})
		return err
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusCreated, ws)
	return nil
}

func (s *Service) listWorkspaces(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.ListWorkspaces"
	p, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	rows, err := s.pool.Query(r.Context(),
		`SELECT id, name, role, created_at FROM user_workspaces($1) WHERE id > $2 ORDER BY id LIMIT $3`,
		a.Principal.User, p.After, p.Limit+1)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Workspace, error) {
		var ws Workspace
		var role string
		if err := row.Scan(&ws.ID, &ws.Name, &role, &ws.CreatedAt); err != nil {
			return ws, err
		}
		ws.Role, err = guard.ParseRole(role)
		return ws, err
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, httpx.NewList(p, items, func(ws Workspace) uuid.UUID { return ws.ID.UUID() }))
	return nil
}

// readWorkspace reads the path's workspace and the caller's role in it,
// pipelined with the guard's checks (one round trip).
func readWorkspace(_ *http.Request, a *guard.Access, b *pgx.Batch) guard.HandlerFunc {
	ws := Workspace{ID: a.Workspace}
	var err error
	b.Queue(`SELECT name, created_at FROM workspaces WHERE id = $1`, a.Workspace).QueryRow(func(row pgx.Row) error {
		err = row.Scan(&ws.Name, &ws.CreatedAt)
		return nil
	})
	return func(w http.ResponseWriter, _ *http.Request, a *guard.Access) error {
		if err != nil {
			return guard.NotFoundOr("tenancy.GetWorkspace", err)
		}
		ws.Role = a.Role
		httpx.JSON(w, http.StatusOK, ws)
		return nil
	}
}

func (s *Service) updateWorkspace(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.UpdateWorkspace"
	var in workspaceInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	n, err := name(op, "name", in.Name)
	if err != nil {
		return err
	}
	ws := Workspace{ID: a.Workspace, Role: a.Role}
	if err := a.Tx.QueryRow(r.Context(), `UPDATE workspaces SET name = $2, updated_at = now() WHERE id = $1 RETURNING name, created_at`,
		a.Workspace, n).Scan(&ws.Name, &ws.CreatedAt); err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := ledger.Record(r.Context(), a, "workspace.updated", a.Workspace.String(), map[string]any{"name": n}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, ws)
	return nil
}
