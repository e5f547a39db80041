package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// A one-time token's purpose decides its lifetime and what it does.
type purpose string

const (
	purposeReset  purpose = "reset"
	purposeMagic  purpose = "magic"
	purposeVerify purpose = "verify"
)

// Token lifetimes.
const (
	ResetTokenTTL  = 30 * time.Minute
	MagicTokenTTL  = 30 * time.Minute
	VerifyTokenTTL = 24 * time.Hour
)

// OneTimePrefix starts every mailed token.
const OneTimePrefix = "fbt_"

func (p purpose) ttl() time.Duration {
	switch p {
	case purposeVerify:
		return VerifyTokenTTL
	case purposeMagic:
		return MagicTokenTTL
	}
	return ResetTokenTTL
}

// issueToken stores a new one-time token for user (as SHA-256 only) and
// returns it.
func (s *Service) issueToken(ctx context.Context, q db.Querier, user id.UserID, p purpose) (string, error) {
	tok, sum, err := newSecret(OneTimePrefix)
	if err != nil {
		return "", err
	}
	_, err = q.Exec(ctx,
		`INSERT INTO auth_tokens (id, user_id, purpose, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + $5 * interval '1 microsecond')`,
		uuid.New(), user, string(p), sum, p.ttl().Microseconds())
	return tok, err
}

var errBadOneTime = problem.E("identity.consumeToken", problem.Unauthenticated,
	"this link is invalid, expired or already used; ask for a new one")

// consumeToken spends a one-time token of purpose p in tx and returns its
// user. It fails alike for unknown, expired, used and superseded tokens (a
// token older than the user's last password change is dead).
func consumeToken(ctx context.Context, tx pgx.Tx, tok string, p purpose) (id.UserID, error) {
	var u id.UserID
	if !strings.HasPrefix(tok, OneTimePrefix) || len(tok) > 128 {
		return u, errBadOneTime
	}
	err := tx.QueryRow(ctx, `
		UPDATE auth_tokens t SET used_at = now()
		FROM users u
		WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > now()
		  AND u.id = t.user_id AND (u.password_changed_at IS NULL OR t.created_at > u.password_changed_at)
		RETURNING t.user_id`, digest(tok), string(p)).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, errBadOneTime
	}
	if err != nil {
		return u, problem.Wrap("identity.consumeToken", problem.Internal, err)
	}
	return u, nil
}

// userForMail finds the user of an email (for reset and magic-link
// requests); ok is false when there is none.
func (s *Service) userForMail(ctx context.Context, op, email string) (User, bool, error) {
	canon, err := s.canonical(op, email)
	if err != nil {
		return User{}, false, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_canonical = $1`, canon))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, problem.Wrap(op, problem.Internal, err)
	}
	return u, true, nil
}

// requestLink mails a reset or magic link to the owner of email, or, when
// no account has that email, a note saying so. Both paths do one lookup
// and one transaction that puts one mail in the outbox (plus the token
// when the account exists), and the caller answers 202 either way, so
// neither the reply nor its timing tells whether the account exists.
func (s *Service) requestLink(ctx context.Context, op, email string, p purpose, path string, found, missing template) error {
	u, ok, err := s.userForMail(ctx, op, email)
	if err != nil {
		return err
	}
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		if !ok {
			return s.send(ctx, tx, strings.TrimSpace(email), missing, s.link("/signup", ""))
		}
		tok, err := s.issueToken(ctx, tx, u.ID, p)
		if err != nil {
			return err
		}
		return s.send(ctx, tx, u.Email, found, s.link(path, tok))
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}

// RequestPasswordReset mails a password-reset link (see requestLink).
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	return s.requestLink(ctx, "identity.RequestPasswordReset", email, purposeReset, "/reset-password", tmplReset, tmplResetNoAccount)
}

// RequestMagicLink mails a sign-in link (see requestLink).
func (s *Service) RequestMagicLink(ctx context.Context, email string) error {
	return s.requestLink(ctx, "identity.RequestMagicLink", email, purposeMagic, "/magic-link", tmplMagic, tmplMagicNoAccount)
}

// ConfirmPasswordReset spends a reset token and sets a new password. It
// revokes every session of the user and every other outstanding reset or
// magic-link token, marks the email verified (the link proved it), and
// returns a fresh session.
func (s *Service) ConfirmPasswordReset(ctx context.Context, tok, password, userAgent string) (string, User, error) {
	return s.ConfirmPasswordResetWith(ctx, tok, password, Factor{}, userAgent)
}

// ConfirmPasswordResetWith is ConfirmPasswordReset with the second factor
// an account with TOTP enabled must send (without it nothing is spent).
func (s *Service) ConfirmPasswordResetWith(ctx context.Context, tok, password string, f Factor, userAgent string) (string, User, error) {
	const op = "identity.ConfirmPasswordReset"
	if err := checkPasswordPolicy(op, password); err != nil {
		return "", User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	return s.redeem(ctx, op, tok, purposeReset, f, userAgent, func(tx pgx.Tx, uid id.UserID) error {
		return setPassword(ctx, tx, uid, hash)
	})
}

// redeem spends a one-time token of purpose p and, in the same
// transaction, checks the second factor of an account with TOTP (a
// missing or wrong one rolls everything back, so the token stays
// unspent), runs then (if any), marks the email verified (the link
// proved it) and opens a session.
func (s *Service) redeem(ctx context.Context, op, tok string, p purpose, f Factor, userAgent string, then func(pgx.Tx, id.UserID) error) (string, User, error) {
	var session, canon string
	var u User
	err := db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		uid, err := consumeToken(ctx, tx, tok, p)
		if err != nil {
			return err
		}
		if canon, err = s.secondFactor(ctx, tx, uid, f); err != nil {
			return err
		}
		if then != nil {
			if err := then(tx, uid); err != nil {
				return err
			}
		}
		if u, err = s.verifyAndLoad(ctx, tx, uid); err != nil {
			return err
		}
		session, err = s.openSession(ctx, tx, uid, userAgent)
		return err
	})
	if canon != "" && err != nil {
		return "", User{}, s.factorOutcome(ctx, op, canon, err)
	}
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	return session, u, nil
}

// setPassword stores a new password hash and ends everything the old
// password could have opened: all sessions, all pending reset and magic
// tokens (also dead by password_changed_at).
func setPassword(ctx context.Context, tx pgx.Tx, uid id.UserID, hash string) error {
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = clock_timestamp() WHERE id = $1`, uid, hash); err != nil {
		return err
	}
	return revokeAll(ctx, tx, uid)
}

func revokeAll(ctx context.Context, q db.Querier, uid id.UserID) error {
	if _, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, uid); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `UPDATE auth_tokens SET used_at = now() WHERE user_id = $1 AND purpose IN ('reset', 'magic') AND used_at IS NULL`, uid)
	return err
}

func (s *Service) verifyAndLoad(ctx context.Context, q db.Querier, uid id.UserID) (User, error) {
	return scanUser(q.QueryRow(ctx,
		`UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1 RETURNING `+userColumns, uid))
}

// ConfirmMagicLink spends a magic-link token and opens a session; the email
// counts as verified.
func (s *Service) ConfirmMagicLink(ctx context.Context, tok, userAgent string) (string, User, error) {
	return s.ConfirmMagicLinkWith(ctx, tok, Factor{}, userAgent)
}

// ConfirmMagicLinkWith is ConfirmMagicLink with the second factor an
// account with TOTP enabled must send (without it the link is not spent).
func (s *Service) ConfirmMagicLinkWith(ctx context.Context, tok string, f Factor, userAgent string) (string, User, error) {
	return s.redeem(ctx, "identity.ConfirmMagicLink", tok, purposeMagic, f, userAgent, nil)
}

// VerifyEmail spends a verification token and marks the email verified.
func (s *Service) VerifyEmail(ctx context.Context, tok string) (User, error) {
	const op = "identity.VerifyEmail"
	var u User
	err := db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		uid, err := consumeToken(ctx, tx, tok, purposeVerify)
		if err != nil {
			return err
		}
		u, err = s.verifyAndLoad(ctx, tx, uid)
		return err
	})
	if err != nil {
		return User{}, problem.Wrap(op, problem.Internal, err)
	}
	return u, nil
}

// ResendVerification mails a new verification link to user, unless the
// email is already verified.
func (s *Service) ResendVerification(ctx context.Context, uid id.UserID) error {
	const op = "identity.ResendVerification"
	u, err := s.UserByID(ctx, uid)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return problem.E(op, problem.Conflict, "your email address is already verified")
	}
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		tok, err := s.issueToken(ctx, tx, uid, purposeVerify)
		if err != nil {
			return err
		}
		return s.send(ctx, tx, u.Email, tmplVerify, s.link("/verify-email", tok))
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}
