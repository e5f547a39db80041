package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/ratelimit"
	"github.com/framebroker/framebroker/shared/token"
)

// InvitationTTL is how long an invitation can be accepted.
const InvitationTTL = 7 * 24 * time.Hour

// InvitationTokenPrefix starts every mailed invitation token.
const InvitationTokenPrefix = "fbi_"

// AcceptPath is the web page an invitation mail links to; the token
// travels in the fragment (#token=…), which browsers never send to
// servers or in Referer headers. The page posts it to
// POST /v1/invitations/accept.
const AcceptPath = "/accept-invitation"

// InviteLimits bound how many invitations can be sent: per inviter (across
// workspaces) and per workspace, so an admin cannot use Framebroker to
// mail strangers in bulk.
type InviteLimits struct {
	PerInviter   ratelimit.Rate
	InviterBurst int
	PerWorkspace ratelimit.Rate
	WSBurst      int
}

// DefaultInviteLimits: 20 an hour per inviter, 50 an hour per workspace
// (each may be spent at once).
var DefaultInviteLimits = InviteLimits{
	PerInviter: ratelimit.PerHour(20), InviterBurst: 20,
	PerWorkspace: ratelimit.PerHour(50), WSBurst: 50,
}

// Directory is what tenancy needs to know of accounts (the identity
// service implements it). Invitations never look an address up: whether
// an account has it is not tenancy's business, and a reply cannot leak
// what was never read.
type Directory interface {
	// CanonicalEmail is email in the form accounts are deduplicated on, or
	// an Invalid problem naming the field "email".
	CanonicalEmail(email string) (string, error)
	// UserEmail is user's canonical email and whether it is verified.
	UserEmail(ctx context.Context, q db.Querier, user id.UserID) (canonical string, verified bool, err error)
}

// Invitation is an offer of membership mailed to an address.
type Invitation struct {
	ID        id.InviteID `json:"id"`
	Email     string      `json:"email"`
	Role      guard.Role  `json:"role"`
	Status    string      `json:"status"` // pending or expired
	InvitedBy *id.UserID  `json:"invited_by"`
	CreatedAt time.Time   `json:"created_at"`
	ExpiresAt time.Time   `json:"expires_at"`
}

// Invitation statuses.
const (
	InvitationPending = "pending"
	InvitationExpired = "expired"
)

// Accepted is the reply to accepting an invitation: the workspace joined
// and the role held in it.
type Accepted struct {
	Workspace Workspace `json:"workspace"`
}

// inviteInput invites an address with a role.
type inviteInput struct {
	Email string     `json:"email"`
	Role  guard.Role `json:"role"`
}

// acceptInput carries the mailed invitation token.
type acceptInput struct {
	Token string `json:"token"`
}

func (s *Service) invitationRoutes() []guard.Route {
	return []guard.Route{
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/invitations", Policy: guard.Member(guard.Admin), Read: readInvitations,
			Summary: "The workspace's pending invitations", Reply: httpx.List[Invitation]{}, Query: []string{"limit", "cursor"}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/invitations", Policy: guard.Member(guard.Admin), Handler: s.invite,
			Example: `{"email":"grace@example.com","role":"editor"}`,
			Summary: "Invite someone by email (they accept at /accept-invitation)", Request: inviteInput{}, Reply: Invitation{}, Status: http.StatusCreated},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/invitations/{invitation}", Policy: guard.Member(guard.Admin), Handler: s.revokeInvitation,
			Summary: "Revoke a pending invitation", Status: http.StatusNoContent},
		{Method: "POST", Pattern: "/v1/invitations/accept", Policy: guard.Authenticated(), Handler: s.acceptInvitation,
			Example: `{"token":"fbi_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
			Summary: "Accept an invitation as the signed-in, verified invitee", Request: acceptInput{}, Reply: Accepted{}},
	}
}

const invitationCols = `id, email, role, CASE WHEN expires_at > now() THEN 'pending' ELSE 'expired' END, invited_by, created_at, expires_at`

func scanInvitation(row pgx.Row) (Invitation, error) {
	var inv Invitation
	var role string
	if err := row.Scan(&inv.ID, &inv.Email, &role, &inv.Status, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt); err != nil {
		return inv, err
	}
	var err error
	inv.Role, err = guard.ParseRole(role)
	return inv, err
}

// readInvitations lists the workspace's open invitations, pipelined with
// the guard's checks (one round trip).
var readInvitations = guard.ReadPage("tenancy.ListInvitations", func(a *guard.Access) (string, []any) {
	return `SELECT ` + invitationCols + ` FROM invitations
		WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND id > $2 ORDER BY id LIMIT $3`, []any{a.Workspace}
}, scanInvitation, func(i Invitation) uuid.UUID { return i.ID.UUID() })

// invite records an invitation and queues the mail with its link in the
// same transaction (the mail outbox). The reply
// is the same whether or not an account has the address (no account is
// looked up); only an address that already belongs to a member of this
// workspace, which the admin can see in the member list anyway, is
// refused.
func (s *Service) invite(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.Invite"
	var in inviteInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	email := strings.TrimSpace(in.Email)
	canon, err := s.dir.CanonicalEmail(email)
	if err != nil {
		return err
	}
	if in.Role == guard.RoleNone {
		return problem.Field(op, "role", "is required (viewer, editor, admin or owner)")
	}
	if err := mayGrant(op, a.Role, in.Role); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := ratelimit.Take(ctx, a.Tx,
		ratelimit.Limit{Name: "inviter", Key: "invite:user:" + a.Principal.User.String(), Rate: s.inviteLimits.PerInviter, Burst: s.inviteLimits.InviterBurst},
		ratelimit.Limit{Name: "workspace", Key: "invite:ws:" + a.Workspace.String(), Rate: s.inviteLimits.PerWorkspace, Burst: s.inviteLimits.WSBurst})
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	ratelimit.SetHeaders(w.Header(), d)
	if !d.Allowed {
		return &problem.Error{Op: op, Kind: problem.RateLimited, Refusal: problem.RateLimitedRefusal.Slug, RetryAfter: d.RetryAfter,
			Detail: "too many invitations from you or this workspace; see Retry-After"}
	}
	var member bool
	if err := a.Tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND u.email_canonical = $2)`, a.Workspace, canon).Scan(&member); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if member {
		return problem.AlreadyMember.E(op, "this address belongs to a member of the workspace already")
	}
	// A new invitation replaces an open one for the same address.
	if _, err := a.Tx.Exec(ctx, `UPDATE invitations SET revoked_at = now()
		WHERE workspace_id = $1 AND email_canonical = $2 AND accepted_at IS NULL AND revoked_at IS NULL`, a.Workspace, canon); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	tok, sum, err := token.New(InvitationTokenPrefix)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	inv, err := scanInvitation(a.Tx.QueryRow(ctx, `INSERT INTO invitations (id, workspace_id, email, email_canonical, role, token_hash, invited_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 microsecond') RETURNING `+invitationCols,
		id.New[id.InviteID](), a.Workspace, email, canon, in.Role.String(), sum, a.Principal.User, s.inviteTTL.Microseconds()))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(ctx, a, "member.invited", inv.ID.String(),
		map[string]any{"invitation": inv.ID, "email": email, "role": inv.Role, "expires_at": inv.ExpiresAt}); err != nil {
		return err
	}
	var wsName string
	if err := a.Tx.QueryRow(ctx, `SELECT name FROM workspaces WHERE id = $1`, a.Workspace).Scan(&wsName); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	msg := invitationMail(email, wsName, inv.Role, s.publicURL+AcceptPath+"#token="+url.QueryEscape(tok), inv.ExpiresAt)
	// The mail is written to the outbox in this transaction: it exists
	// exactly when the invitation commits.
	if err := s.mail.Enqueue(ctx, a.Tx, msg); err != nil {
		return problem.Wrap(op, problem.Internal, fmt.Errorf("invitation %s: mail: %w", inv.ID, err))
	}
	httpx.JSON(w, http.StatusCreated, inv)
	return nil
}

func invitationMail(to, workspace string, role guard.Role, link string, expires time.Time) mail.Message {
	text := fmt.Sprintf("You are invited to join the Framebroker workspace %q as %s.\n\nAccept the invitation (sign in or sign up with this address first):\n\n%s\n\n"+
		"The link works once and expires on %s. If you do not know this workspace, ignore this email: nothing happens unless you accept.\n",
		workspace, role, link, expires.UTC().Format("2 January 2006 15:04 MST"))
	return mail.Message{To: []string{to}, Subject: "You are invited to a Framebroker workspace", Text: text}
}

func (s *Service) revokeInvitation(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.RevokeInvitation"
	var email string
	err := a.Tx.QueryRow(r.Context(), `UPDATE invitations SET revoked_at = now()
		WHERE workspace_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING email`,
		a.Workspace, a.Invitation()).Scan(&email)
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if err := ledger.Record(r.Context(), a, "member.invitation_revoked", a.Invitation().String(),
		map[string]any{"invitation": a.Invitation(), "email": email}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var errInvitationInvalid = problem.InvitationInvalid.E("tenancy.AcceptInvitation",
	"this invitation link is invalid, was revoked or was already used; ask the workspace's admin for a new one")

// acceptInvitation makes the signed-in user a member with the invited
// role, if their verified email is the invited address. It runs under the
// workspace's membership lock, like every membership change.
func (s *Service) acceptInvitation(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "tenancy.AcceptInvitation"
	var in acceptInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if !strings.HasPrefix(in.Token, InvitationTokenPrefix) || len(in.Token) > 128 {
		return errInvitationInvalid
	}
	ctx := r.Context()
	sum := token.Sum(in.Token)
	var wsID *uuid.UUID
	if err := s.pool.QueryRow(ctx, `SELECT invitation_workspace($1)`, sum).Scan(&wsID); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if wsID == nil {
		return errInvitationInvalid
	}
	ws := id.FromUUID[id.WorkspaceID](*wsID)
	var out Accepted
	err := db.InWorkspace(ctx, s.pool, wsID.String(), func(tx pgx.Tx) error {
		if err := guard.LockMembership(ctx, tx, ws); err != nil {
			return err
		}
		var (
			invID     id.InviteID
			canon     string
			role      string
			invitedBy *id.UserID
			expired   bool
			closed    bool
			wsName    string
			deleting  bool
			wsCreated time.Time
		)
		err := tx.QueryRow(ctx, `SELECT i.id, i.email_canonical, i.role, i.invited_by, i.expires_at <= now(),
				i.accepted_at IS NOT NULL OR i.revoked_at IS NOT NULL, w.name, w.deletion_requested_at IS NOT NULL, w.created_at
			FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
			WHERE i.token_hash = $1 FOR UPDATE OF i`, sum).
			Scan(&invID, &canon, &role, &invitedBy, &expired, &closed, &wsName, &deleting, &wsCreated)
		if errors.Is(err, pgx.ErrNoRows) || closed {
			return errInvitationInvalid
		}
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		if expired {
			return problem.InvitationExpired.E(op, "this invitation has expired; ask the workspace's admin to invite you again")
		}
		mine, verified, err := s.dir.UserEmail(ctx, tx, a.Principal.User)
		if err != nil {
			return err
		}
		if mine != canon {
			return problem.InvitationEmailMismatch.E(op, "this invitation was sent to another address; sign in with the account of the invited address")
		}
		if !verified {
			return problem.EmailUnverified.E(op, "verify your email address (follow the link mailed at signup, or POST /v1/auth/verify-email/resend), then accept again")
		}
		if deleting {
			return problem.WorkspaceDeleting.E(op, "this workspace is scheduled for deletion; it takes no new members")
		}
		r, err := guard.ParseRole(role)
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			ws, a.Principal.User, role)
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		if tag.RowsAffected() == 0 {
			return problem.AlreadyMember.E(op, "you are a member of this workspace already")
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1`, invID, a.Principal.User); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		payload := map[string]any{"user": a.Principal.User, "role": r, "invitation": invID, "invited_by": invitedBy}
		if err := event.Publish(ctx, tx, ws, a.Principal.User.String(), "member.joined", a.Principal.User.String(), payload); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		out.Workspace = Workspace{ID: ws, Name: wsName, Role: r, CreatedAt: wsCreated}
		return nil
	})
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}
