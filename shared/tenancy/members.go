package tenancy

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Member is a user's membership of a workspace.
type Member struct {
	User      id.UserID  `json:"user"`
	Email     string     `json:"email"`
	Role      guard.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
}

func (s *Service) memberRoutes() []guard.Route {
	return []guard.Route{
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/members", Policy: guard.Member(guard.Viewer), Read: readMembers,
			Summary: "The workspace's members", Reply: httpx.List[Member]{}, Query: []string{"limit", "cursor"}},
		// Members join only by accepting an invitation (invitations.go);
		// role changes and removals are Membership routes, serialised per
		// workspace by the guard.
		{Method: "PATCH", Pattern: "/v1/workspaces/{ws}/members/{user}", Policy: guard.Member(guard.Admin), Handler: s.updateMember, Example: `{"role":"viewer"}`, Membership: true,
			Summary: "Change a member's role", Request: roleInput{}, Reply: Member{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/members/{user}", Policy: guard.Member(guard.Admin), Handler: s.removeMember, Membership: true,
			Summary: "Remove a member", Status: http.StatusNoContent},
	}
}

const memberCols = `m.user_id, u.email, m.role, m.created_at`

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	var role string
	if err := row.Scan(&m.User, &m.Email, &role, &m.CreatedAt); err != nil {
		return m, err
	}
	var err error
	m.Role, err = guard.ParseRole(role)
	return m, err
}

// readMembers lists the workspace's members, pipelined with the guard's
// checks (one round trip).
var readMembers = guard.ReadPage("tenancy.ListMembers", func(a *guard.Access) (string, []any) {
	return `SELECT ` + memberCols + ` FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3`, []any{a.Workspace}
}, scanMember, func(m Member) uuid.UUID { return m.User.UUID() })

// mayGrant reports whether a caller of role by may give or take role r:
// only owners touch ownership.
func mayGrant(op string, by, r guard.Role) error {
	if r == guard.Owner && by != guard.Owner {
		return problem.OwnerRoleRequired.E(op, "only an owner can grant or change the owner role")
	}
	return nil
}

// roleInput changes a member's role.
type roleInput struct {
	Role guard.Role `json:"role"`
}

// lockMember loads the path's member and counts the owners. The guard
// already holds the workspace's membership lock (a Membership route), so
// no other membership change runs meanwhile; the row locks keep the owner
// count exact even so.
func lockMember(r *http.Request, a *guard.Access) (current guard.Role, owners int, err error) {
	const op = "tenancy.lockMember"
	rows, err := a.Tx.Query(r.Context(), `SELECT user_id, role FROM members WHERE workspace_id = $1 AND (role = 'owner' OR user_id = $2) FOR NO KEY UPDATE`,
		a.Workspace, a.Member())
	if err != nil {
		return 0, 0, problem.Wrap(op, problem.Internal, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u id.UserID
		var role string
		if err := rows.Scan(&u, &role); err != nil {
			return 0, 0, problem.Wrap(op, problem.Internal, err)
		}
		if role == "owner" {
			owners++
		}
		if u == a.Member() {
			if current, err = guard.ParseRole(role); err != nil {
				return 0, 0, problem.Wrap(op, problem.Internal, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, problem.Wrap(op, problem.Internal, err)
	}
	if current == guard.RoleNone {
		return 0, 0, guard.NotFound()
	}
	return current, owners, nil
}

func (s *Service) updateMember(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.UpdateMember"
	var in roleInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Role == guard.RoleNone {
		return problem.Field(op, "role", "is required (viewer, editor, admin or owner)")
	}
	current, owners, err := lockMember(r, a)
	if err != nil {
		return err
	}
	if err := mayGrant(op, a.Role, max(current, in.Role)); err != nil {
		return err
	}
	if current == guard.Owner && in.Role != guard.Owner && owners == 1 {
		return problem.LastOwner.E(op, "a workspace keeps at least one owner; promote another member first")
	}
	m, err := scanMember(a.Tx.QueryRow(r.Context(), `WITH m AS (
		UPDATE members SET role = $3 WHERE workspace_id = $1 AND user_id = $2 RETURNING *)
		SELECT `+memberCols+` FROM m JOIN users u ON u.id = m.user_id`, a.Workspace, a.Member(), in.Role.String()))
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := ledger.Record(r.Context(), a, "member.role_changed", m.User.String(), map[string]any{"user": m.User, "from": current, "to": m.Role}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, m)
	return nil
}

func (s *Service) removeMember(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.RemoveMember"
	current, owners, err := lockMember(r, a)
	if err != nil {
		return err
	}
	if err := mayGrant(op, a.Role, current); err != nil {
		return err
	}
	if current == guard.Owner && owners == 1 {
		return problem.LastOwner.E(op, "a workspace keeps at least one owner; promote another member first")
	}
	if _, err := a.Tx.Exec(r.Context(), `DELETE FROM members WHERE workspace_id = $1 AND user_id = $2`, a.Workspace, a.Member()); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(r.Context(), a, "member.removed", a.Member().String(), map[string]any{"user": a.Member(), "role": current}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
