package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Session is one live session of a user, as they see it in their list.
type Session struct {
	ID         id.SessionID `json:"id"`
	CreatedAt  time.Time    `json:"created_at"`
	LastSeenAt time.Time    `json:"last_seen_at"`
	ExpiresAt  time.Time    `json:"expires_at"`
	UserAgent  string       `json:"user_agent"`
	Current    bool         `json:"current"`
}

// Sessions lists the principal's live sessions (not revoked, not expired,
// not idle), newest first, at most 100.
func (s *Service) Sessions(ctx context.Context, p guard.Principal) ([]Session, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, created_at, last_seen_at, expires_at, user_agent FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
		  AND last_seen_at > now() - $2 * interval '1 microsecond'
		ORDER BY created_at DESC LIMIT 100`, p.User, s.idle.Microseconds())
	if err != nil {
		return nil, problem.Wrap("identity.Sessions", problem.Internal, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var x Session
		err := r.Scan(&x.ID, &x.CreatedAt, &x.LastSeenAt, &x.ExpiresAt, &x.UserAgent)
		x.Current = x.ID == p.Session
		return x, err
	})
	if err != nil {
		return nil, problem.Wrap("identity.Sessions", problem.Internal, err)
	}
	return out, nil
}

// RevokeSession revokes one of the principal's own sessions. Another user's
// session id is answered exactly like an unknown one.
func (s *Service) RevokeSession(ctx context.Context, p guard.Principal, sid id.SessionID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, sid, p.User)
	if err != nil {
		return problem.Wrap("identity.RevokeSession", problem.Internal, err)
	}
	if tag.RowsAffected() == 0 {
		return guard.NotFound()
	}
	return nil
}

// RevokeOtherSessions revokes every session of the principal except the
// one making the call.
func (s *Service) RevokeOtherSessions(ctx context.Context, p guard.Principal) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, p.User, p.Session)
	if err != nil {
		return 0, problem.Wrap("identity.RevokeOtherSessions", problem.Internal, err)
	}
	return tag.RowsAffected(), nil
}

// RotateSession replaces the principal's session with a new token (the old
// one stops working at once). Call it on a privilege change so a token
// captured before the change is worthless after it.
func (s *Service) RotateSession(ctx context.Context, q db.Querier, p guard.Principal, userAgent string) (string, error) {
	tag, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, p.Session, p.User)
	if err != nil {
		return "", problem.Wrap("identity.RotateSession", problem.Internal, err)
	}
	if tag.RowsAffected() == 0 {
		return "", errBadToken
	}
	return s.openSession(ctx, q, p.User, userAgent)
}

// ChangePassword checks the current password and sets a new one. Every
// session (this one included) and every pending reset or magic link is
// revoked; the caller gets a fresh session token.
func (s *Service) ChangePassword(ctx context.Context, p guard.Principal, current, next, userAgent string) (string, error) {
	const op = "identity.ChangePassword"
	if err := checkPasswordPolicy(op, next); err != nil {
		return "", err
	}
	var hash *string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, p.User).Scan(&hash); err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	if hash == nil {
		return "", problem.E(op, problem.Conflict, "this account has no password; set one with a password reset")
	}
	ok, err := CheckPassword(*hash, current)
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	if !ok {
		return "", problem.Field(op, "current_password", "is wrong")
	}
	nh, err := HashPassword(next)
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	var tok string
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := setPassword(ctx, tx, p.User, nh); err != nil {
			return err
		}
		tok, err = s.openSession(ctx, tx, p.User, userAgent)
		return err
	})
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	return tok, nil
}

// Swept counts what Sweep deleted.
type Swept struct {
	AuthTokens  int64 `json:"auth_tokens_deleted"`
	OAuthStates int64 `json:"oauth_states_deleted"`
}

// Sweep deletes expired one-time tokens (reset, magic link, verification;
// used or not) and expired OAuth states. Neither can be redeemed once
// expired, so this changes no answer. Run it from the retention cron.
func (s *Service) Sweep(ctx context.Context) (Swept, error) {
	var out Swept
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_tokens WHERE expires_at < now()`)
	if err != nil {
		return out, problem.Wrap("identity.Sweep", problem.Internal, err)
	}
	out.AuthTokens = tag.RowsAffected()
	if tag, err = s.pool.Exec(ctx, `DELETE FROM oauth_states WHERE expires_at < now()`); err != nil {
		return out, problem.Wrap("identity.Sweep", problem.Internal, err)
	}
	out.OAuthStates = tag.RowsAffected()
	return out, nil
}

// The guard checks a member request's session in the same pipelined batch
// as its workspace checks (and, for reads, the handler's query): one round
// trip per request, with the session still looked up in SQL every time, so
// a revocation takes effect on the very next request. These methods make
// *Service a guard.SessionBatcher.

// SessionSQL is the session look-up the guard embeds in its check: at most
// one row (id, user_id, stale) for a live session (not revoked, not expired,
// not idle) whose token hashes to $first, with the idle timeout in
// microseconds as $first+1. stale says the last-seen time is over a minute
// old (TouchSession should refresh it). It only reads.
func (s *Service) SessionSQL(first int) string {
	return fmt.Sprintf(`SELECT id, user_id, last_seen_at < now() - interval '1 minute' AS stale FROM sessions
		WHERE token_hash = $%d AND revoked_at IS NULL AND expires_at > now()
		  AND last_seen_at > now() - $%d * interval '1 microsecond'`, first, first+1)
}

// SessionArgs returns the values of SessionSQL's parameters for token, or
// the Unauthenticated error (without any query) for a token that cannot be
// a session token.
func (s *Service) SessionArgs(token string) ([]any, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return nil, errBadToken
	}
	return []any{digest(token), s.idle.Microseconds()}, nil
}

// NoSession is the error for a token SessionSQL found no live session for:
// the same Unauthenticated error as Authenticate's.
func (s *Service) NoSession() error { return errBadToken }

// TouchSession refreshes a session's last-seen time (what keeps it from
// idling out), at most once a minute. The guard calls it after the reply
// when the look-up said stale, so reads stay read-only and one round trip.
func (s *Service) TouchSession(ctx context.Context, sid id.SessionID) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now()
		WHERE id = $1 AND revoked_at IS NULL AND last_seen_at < now() - interval '1 minute'`, sid)
	if err != nil {
		return problem.Wrap("identity.TouchSession", problem.Internal, err)
	}
	return nil
}
