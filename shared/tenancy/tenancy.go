// Package tenancy is workspaces and what they hold: members with roles,
// projects, shots and releases. Its handlers run behind the guard, inside the
// workspace-scoped transaction the guard opened, so every query they make is
// also filtered by row-level security.
package tenancy

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the tenancy routes.
const Function = "workspaces"

// Service serves the tenancy routes.
type Service struct {
	pool     *pgxpool.Pool
	users    func(ctx context.Context, tx pgx.Tx, email string) (id.UserID, error)
	sessions Sessions
}

// Sessions ends a member's sessions when their privileges change (the
// identity service implements it).
type Sessions interface {
	// PrivilegeChanged revokes every session of user in tx. When user is
	// the actor (they changed their own role or left), it also opens a
	// fresh session for them and returns its token; otherwise "".
	PrivilegeChanged(ctx context.Context, tx pgx.Tx, user id.UserID, actor guard.Principal, userAgent string) (string, error)
}

// SessionTokenHeader carries the fresh session token of an actor who
// changed their own role or removed themselves (their old token is dead).
const SessionTokenHeader = "Framebroker-Session-Token"

// WithSessions makes role changes and removals revoke the affected
// member's sessions.
func (s *Service) WithSessions(x Sessions) *Service {
	s.sessions = x
	return s
}

// NewService returns a Service. users resolves member emails to user ids.
func NewService(pool *pgxpool.Pool, users func(ctx context.Context, tx pgx.Tx, email string) (id.UserID, error)) *Service {
	return &Service{pool: pool, users: users}
}

// Routes are the tenancy routes.
func (s *Service) Routes() []guard.Route {
	var out []guard.Route
	for _, group := range [][]guard.Route{s.workspaceRoutes(), s.memberRoutes(), s.projectRoutes(), s.shotRoutes(), s.releaseRoutes()} {
		for _, r := range group {
			r.Function = Function
			out = append(out, r)
		}
	}
	return out
}

// name validates a display name: trimmed, 1 to 200 characters.
func name(op, field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if n := utf8.RuneCountInString(v); n < 1 || n > 200 {
		return "", problem.Field(op, field, "must be 1 to 200 characters")
	}
	return v, nil
}

// description validates free text: at most 4000 characters.
func description(op string, v *string) (string, error) {
	if v == nil {
		return "", nil
	}
	if utf8.RuneCountInString(*v) > 4000 {
		return "", problem.Field(op, "description", "must be at most 4000 characters")
	}
	return *v, nil
}
