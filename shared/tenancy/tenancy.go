// Package tenancy is workspaces and what they hold: members with roles,
// projects, shots and releases. Its handlers run behind the guard, inside the
// workspace-scoped transaction the guard opened, so every query they make is
// also filtered by row-level security.
package tenancy

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the tenancy routes.
const Function = "workspaces"

// Service serves the tenancy routes.
type Service struct {
	pool         *pgxpool.Pool
	dir          Directory
	mail         mail.Queue
	publicURL    string
	inviteTTL    time.Duration
	inviteLimits InviteLimits
}

// NewService returns a Service. dir answers what tenancy needs of accounts;
// invitation mail is dropped until WithMail names a queue.
func NewService(pool *pgxpool.Pool, dir Directory) *Service {
	return &Service{pool: pool, dir: dir, mail: mail.NoQueue{}, inviteTTL: InvitationTTL, inviteLimits: DefaultInviteLimits}
}

// WithMail queues invitation mail in q (the mail outbox), with links to
// the web app at publicURL (FRAMEBROKER_PUBLIC_URL).
func (s *Service) WithMail(q mail.Queue, publicURL string) *Service {
	s.mail, s.publicURL = q, strings.TrimRight(publicURL, "/")
	return s
}

// WithInviteLimits replaces DefaultInviteLimits.
func (s *Service) WithInviteLimits(l InviteLimits) *Service {
	s.inviteLimits = l
	return s
}

// WithInvitationTTL replaces InvitationTTL (tests expire invitations).
func (s *Service) WithInvitationTTL(d time.Duration) *Service {
	s.inviteTTL = d
	return s
}

// Routes are the tenancy routes.
func (s *Service) Routes() []guard.Route {
	var out []guard.Route
	for _, group := range [][]guard.Route{s.workspaceRoutes(), s.memberRoutes(), s.invitationRoutes(), s.projectRoutes(), s.shotRoutes(), s.releaseRoutes()} {
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
