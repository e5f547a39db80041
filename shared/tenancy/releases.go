package tenancy

import (
	"context"
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

// Release is a named, ordered set of shots, published with a provenance
// manifest.
type Release struct {
	ID        id.ReleaseID   `json:"id"`
	Workspace id.WorkspaceID `json:"workspace"`
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Shots     []id.ShotID    `json:"shots"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// MaxReleaseShots bounds a release's size.
const MaxReleaseShots = 1000

func (s *Service) releaseRoutes() []guard.Route {
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/releases", Policy: guard.Member(guard.Editor), Handler: s.createRelease, Example: `{"name":"Trailer v1","shots":[]}`,
			Summary: "Create a release of shots", Request: releaseInput{}, Reply: Release{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/releases", Policy: guard.Member(guard.Viewer), Read: readReleases,
			Summary: "The workspace's releases", Reply: httpx.List[Release]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/releases/{release}", Policy: guard.Member(guard.Viewer), Read: readRelease,
			Summary: "A release", Reply: Release{}},
		{Method: "PATCH", Pattern: "/v1/workspaces/{ws}/releases/{release}", Policy: guard.Member(guard.Editor), Handler: s.updateRelease, Example: `{"name":"Trailer v2"}`,
			Summary: "Rename a release or replace its shots (until published)", Request: releaseInput{}, Reply: Release{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/releases/{release}", Policy: guard.Member(guard.Admin), Handler: s.deleteRelease,
			Summary: "Delete an unpublished release", Status: http.StatusNoContent},
	}
}

const releaseCols = `r.id, r.workspace_id, r.name, r.status, r.created_at, r.updated_at,
	(SELECT coalesce(array_agg(rs.shot_id ORDER BY rs.position), '{}') FROM release_shots rs WHERE rs.release_id = r.id)`

func scanRelease(row pgx.Row) (Release, error) {
	var rel Release
	err := row.Scan(&rel.ID, &rel.Workspace, &rel.Name, &rel.Status, &rel.CreatedAt, &rel.UpdatedAt, &rel.Shots)
	return rel, err
}

func (s *Service) loadRelease(ctx context.Context, a *guard.Access, forUpdate bool) (Release, error) {
	q := `SELECT ` + releaseCols + ` FROM releases r WHERE r.id = $1 AND r.workspace_id = $2`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	rel, err := scanRelease(a.Tx.QueryRow(ctx, q, a.Release(), a.Workspace))
	if err != nil {
		return rel, guard.NotFoundOr("tenancy.loadRelease", err)
	}
	return rel, nil
}

type releaseInput struct {
	Name  *string      `json:"name"`
	Shots *[]id.ShotID `json:"shots"`
}

// setShots replaces a release's shots, checking each is a shot of the
// workspace. A shot of another workspace is refused exactly like a missing one.
func setShots(ctx context.Context, a *guard.Access, rel id.ReleaseID, shots []id.ShotID) error {
	const op = "tenancy.setShots"
	if len(shots) > MaxReleaseShots {
		return problem.Field(op, "shots", "at most 1000 shots")
	}
	seen := make(map[id.ShotID]bool, len(shots))
	for _, sh := range shots {
		if seen[sh] {
			return problem.Field(op, "shots", "lists "+sh.String()+" twice")
		}
		seen[sh] = true
	}
	var found int
	if err := a.Tx.QueryRow(ctx, `SELECT count(*) FROM shots WHERE workspace_id = $1 AND id = ANY($2)`, a.Workspace, shots).Scan(&found); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if found != len(shots) {
		return problem.E(op, problem.Unprocessable, "shots: one or more ids are not shots of this workspace")
	}
	if _, err := a.Tx.Exec(ctx, `DELETE FROM release_shots WHERE release_id = $1`, rel); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	_, err := a.Tx.Exec(ctx, `INSERT INTO release_shots (workspace_id, release_id, shot_id, position)
		SELECT $1, $2, s, o FROM unnest($3::uuid[]) WITH ORDINALITY AS t(s, o)`, a.Workspace, rel, shots)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}

func (s *Service) createRelease(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.CreateRelease"
	var in releaseInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	var n string
	if in.Name != nil {
		n = *in.Name
	}
	n, err := name(op, "name", n)
	if err != nil {
		return err
	}
	rel := id.New[id.ReleaseID]()
	if _, err := a.Tx.Exec(r.Context(), `INSERT INTO releases (id, workspace_id, name) VALUES ($1, $2, $3)`, rel, a.Workspace, n); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if in.Shots != nil {
		if err := setShots(r.Context(), a, rel, *in.Shots); err != nil {
			return err
		}
	}
	out, err := scanRelease(a.Tx.QueryRow(r.Context(), `SELECT `+releaseCols+` FROM releases r WHERE r.id = $1`, rel))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "release.created", out.ID.String(), map[string]any{"name": out.Name, "shots": out.Shots}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusCreated, out)
	return nil
}

// readReleases lists the workspace's releases, pipelined with the guard's
// checks (one round trip).
var readReleases = guard.ReadPage("tenancy.ListReleases", func(a *guard.Access) (string, []any) {
	return `SELECT ` + releaseCols + ` FROM releases r WHERE r.workspace_id = $1 AND r.id > $2 ORDER BY r.id LIMIT $3`, []any{a.Workspace}
}, scanRelease, func(r Release) uuid.UUID { return r.ID.UUID() })

// readRelease reads the path's release, pipelined with the guard's checks.
var readRelease = guard.ReadOne("tenancy.GetRelease", func(a *guard.Access) (string, []any) {
	return `SELECT ` + releaseCols + ` FROM releases r WHERE r.id = $1 AND r.workspace_id = $2`, []any{a.Release(), a.Workspace}
}, scanRelease)

func (s *Service) updateRelease(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.UpdateRelease"
	var in releaseInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	rel, err := s.loadRelease(r.Context(), a, true)
	if err != nil {
		return err
	}
	if rel.Status != "draft" {
		return problem.E(op, problem.Conflict, "a published release cannot change; create a new release")
	}
	if in.Name != nil {
		n, err := name(op, "name", *in.Name)
		if err != nil {
			return err
		}
		if _, err := a.Tx.Exec(r.Context(), `UPDATE releases SET name = $2, updated_at = now() WHERE id = $1`, rel.ID, n); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
	}
	if in.Shots != nil {
		if err := setShots(r.Context(), a, rel.ID, *in.Shots); err != nil {
			return err
		}
	}
	if rel, err = s.loadRelease(r.Context(), a, false); err != nil {
		return err
	}
	if err := ledger.Record(r.Context(), a, "release.updated", rel.ID.String(), map[string]any{"name": rel.Name, "shots": rel.Shots}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, rel)
	return nil
}

func (s *Service) deleteRelease(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.DeleteRelease"
	rel, err := s.loadRelease(r.Context(), a, true)
	if err != nil {
		return err
	}
	if rel.Status != "draft" {
		return problem.E(op, problem.Conflict, "a published release is kept; it cannot be deleted")
	}
	if _, err := a.Tx.Exec(r.Context(), `DELETE FROM releases WHERE id = $1 AND workspace_id = $2`, rel.ID, a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "release.deleted", rel.ID.String(), map[string]any{"name": rel.Name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
