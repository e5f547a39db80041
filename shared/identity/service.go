package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/seal"
	"github.com/framebroker/framebroker/shared/token"
)

// SessionTTL is a session's default absolute lifetime.
const SessionTTL = 30 * 24 * time.Hour

// SessionIdle is the default idle timeout: a session unused this long is
// dead even before its absolute expiry.
const SessionIdle = 7 * 24 * time.Hour

// TokenPrefix starts every session token, so leaked tokens are recognisable
// by secret scanners.
const TokenPrefix = "fbs_"

// User is an account.
type User struct {
	ID            id.UserID `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

// Service is the identity store.
type Service struct {
	pool      *pgxpool.Pool
	now       func() time.Time
	mail      mail.Queue
	publicURL string
	rules     map[string]EmailRule
	blocklist Blocklist
	limits    Limits
	idle      time.Duration
	absolute  time.Duration
	providers map[string]*Provider
	totp      *seal.Box // seals TOTP secrets; nil: totpErr says why
	totpErr   error
}

// Option configures a Service.
type Option func(*Service)

// WithMail puts the service's mail (verification, reset, magic links) in
// the mail outbox q, in the transaction that issues the link's token, so a
// rolled-back decision mails nothing and delivery is retried.
func WithMail(q mail.Queue) Option { return func(s *Service) { s.mail = q } }

// WithPublicURL is the base URL of the web app that links in mail point to,
// e.g. https://app.framebroker.dev.
func WithPublicURL(u string) Option {
	return func(s *Service) { s.publicURL = strings.TrimRight(u, "/") }
}

// WithEmailRules replaces the per-provider canonicalisation rules.
func WithEmailRules(r map[string]EmailRule) Option { return func(s *Service) { s.rules = r } }

// WithBlocklist replaces the disposable-domain blocklist.
func WithBlocklist(b Blocklist) Option { return func(s *Service) { s.blocklist = b } }

// WithLimits replaces the abuse limits on the auth routes.
func WithLimits(l Limits) Option { return func(s *Service) { s.limits = l } }

// WithSessionLifetime sets the idle timeout and absolute lifetime of
// sessions.
func WithSessionLifetime(idle, absolute time.Duration) Option {
	return func(s *Service) { s.idle, s.absolute = idle, absolute }
}

// WithProviders enables OAuth sign-in with the given providers.
func WithProviders(ps ...*Provider) Option {
	return func(s *Service) {
		for _, p := range ps {
			s.providers[p.Name] = p
		}
	}
}

// NewService returns a Service on pool. Without WithMail mail is dropped
// (mail.NoQueue).
func NewService(pool *pgxpool.Pool, opts ...Option) *Service {
	s := &Service{
		pool: pool, now: time.Now, mail: mail.NoQueue{}, publicURL: "http://127.0.0.1:8080",
		rules: DefaultEmailRules, blocklist: DefaultBlocklist, limits: DefaultLimits,
		idle: SessionIdle, absolute: SessionTTL, providers: map[string]*Provider{},
	}
	WithTOTPKey("")(s)
	s.Use(opts...)
	return s
}

// Use applies options to a Service that is not serving yet (wiring and
// tests).
func (s *Service) Use(opts ...Option) {
	for _, o := range opts {
		o(s)
	}
}

func (s *Service) canonical(op, email string) (string, error) {
	c, err := CanonicalEmailWith(s.rules, email)
	if err != nil {
		return "", problem.Field(op, "email", err.Error())
	}
	return c, nil
}

// Signup creates a user with a password and mails a verification link. To
// keep accounts unenumerable, an email that already has an account gets the
// same 201 reply (a user object with a random, unusable id) and its owner is
// mailed instead; no second account is made.
func (s *Service) Signup(ctx context.Context, email, password string) (User, error) {
	const op = "identity.Signup"
	canon, err := s.canonical(op, email)
	if err != nil {
		return User{}, err
	}
	if s.blocklist.Blocks(canon) {
		return User{}, problem.Field(op, "email", "disposable email addresses are not accepted; use a permanent address")
	}
	if err := checkPasswordPolicy(op, password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, problem.Wrap(op, problem.Internal, err)
	}
	u := User{ID: id.New[id.UserID](), Email: strings.TrimSpace(email)}
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx,
			`INSERT INTO users (id, email, email_canonical, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
			u.ID, u.Email, canon, hash).Scan(&u.CreatedAt); err != nil {
			return err
		}
		tok, err := s.issueToken(ctx, tx, u.ID, purposeVerify)
		if err != nil {
			return err
		}
		return s.send(ctx, tx, u.Email, tmplVerify, s.link("/verify-email", tok))
	})
	if db.IsUniqueViolation(err, "users_email_canonical_key") {
		// The account exists: the transaction above (user, token and its
		// verification mail) rolled back; its owner is mailed instead.
		// The decoy's timestamp comes from the same clock (the database's,
		// microsecond precision) as a real account's: a Go clock reading
		// (nanoseconds) gave existing accounts away.
		err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&u.CreatedAt); err != nil {
				return err
			}
			return s.send(ctx, tx, u.Email, tmplSignupExisting, s.link("/login", ""))
		})
		if err != nil {
			return User{}, problem.Wrap(op, problem.Internal, err)
		}
		u.CreatedAt = u.CreatedAt.UTC()
		return u, nil
	}
	if err != nil {
		return User{}, problem.Wrap(op, problem.Internal, err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// checkPasswordPolicy is the one password rule, for signup, change and
// reset: MinPasswordLen to MaxPasswordLen bytes, of which at least
// MinPasswordNonSpace characters are not whitespace.
func checkPasswordPolicy(op, pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return problem.Field(op, "password", fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	case len(pw) > MaxPasswordLen:
		return problem.Field(op, "password", fmt.Sprintf("must be at most %d bytes", MaxPasswordLen))
	case nonSpace(pw) < MinPasswordNonSpace:
		return problem.Field(op, "password", fmt.Sprintf("must contain at least %d characters that are not spaces or other whitespace", MinPasswordNonSpace))
	}
	return nil
}

// nonSpace counts the characters of s that are not Unicode whitespace.
func nonSpace(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

var errBadLogin = problem.E("identity.Login", problem.Unauthenticated, "invalid email or password")

// Login checks a password and opens a session. It returns the session token,
// which is shown once and stored only as its SHA-256. Unknown emails are
// checked against a dummy hash so both answers take as long. Failures are
// counted per canonical email (known or not): past the configured burst the
// account answers 429 until the backoff has passed, and a success clears the
// count, so an attacker can slow an account down but never lock it for
// good (and reset and magic links stay open to its owner).
func (s *Service) Login(ctx context.Context, email, password, userAgent string) (string, User, error) {
	return s.LoginWith(ctx, Credentials{Email: email, Password: password}, userAgent)
}

// Credentials are what a password sign-in sends: email and password, and
// for an account with TOTP enabled, a current code or a recovery code.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Factor
}

// LoginWith is Login with a second factor. For an account with TOTP
// enabled a correct password without a code is refused (401 naming the
// missing factor, not counted); a wrong, replayed (same 30 s step) or spent
// code counts as a failed login like a wrong password.
func (s *Service) LoginWith(ctx context.Context, c Credentials, userAgent string) (string, User, error) {
	const op = "identity.Login"
	email, password := c.Email, c.Password
	canon, err := CanonicalEmailWith(s.rules, email)
	if err != nil || len(password) > MaxPasswordLen {
		_, _ = CheckPassword(dummyHash, password)
		return "", User{}, errBadLogin
	}
	failKey := "auth:login-fail:" + canon
	if err := s.peek(ctx, op, failKey, s.limits.LoginFailures); err != nil {
		return "", User{}, err
	}
	var u User
	var hash *string
	err = s.pool.QueryRow(ctx, `SELECT id, email, email_verified_at IS NOT NULL, created_at, password_hash FROM users WHERE email_canonical = $1`, canon).
		Scan(&u.ID, &u.Email, &u.EmailVerified, &u.CreatedAt, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	ok := false
	if hash == nil {
		_, _ = CheckPassword(dummyHash, password)
	} else if ok, err = CheckPassword(*hash, password); err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	if !ok {
		if err := s.spend(ctx, op, failKey, s.limits.LoginFailures); err != nil && !problem.Is(err, problem.RateLimited) {
			return "", User{}, err
		}
		return "", User{}, errBadLogin
	}
	var tok string
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.secondFactor(ctx, tx, u.ID, c.Factor); err != nil {
			return err
		}
		tok, err = s.openSession(ctx, tx, u.ID, userAgent)
		return err
	})
	if err != nil {
		return "", User{}, s.factorOutcome(ctx, op, canon, err)
	}
	if err := s.forget(ctx, op, failKey); err != nil {
		return "", User{}, err
	}
	return tok, u, nil
}

func (s *Service) openSession(ctx context.Context, q db.Querier, user id.UserID, userAgent string) (string, error) {
	const op = "identity.openSession"
	tok, sum, err := newSecret(TokenPrefix)
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	_, err = q.Exec(ctx, `INSERT INTO sessions (id, user_id, token_hash, expires_at, user_agent) VALUES ($1, $2, $3, now() + $4 * interval '1 microsecond', $5)`,
		id.New[id.SessionID](), user, sum, s.absolute.Microseconds(), strings.ToValidUTF8(userAgent, ""))
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	return tok, nil
}

// newSecret returns a fresh random token (prefix + 256 random bits,
// base64url) and its SHA-256, the only form that is stored.
func newSecret(prefix string) (string, []byte, error) { return token.New(prefix) }

func digest(tok string) []byte { return token.Sum(tok) }

var errBadToken = problem.E("identity.Authenticate", problem.Unauthenticated, "session token is invalid, expired or revoked")

// Authenticate resolves a session token to its principal. Unknown, expired
// (absolute or idle) and revoked tokens are all the same Unauthenticated
// error. Use refreshes the session's last-seen time (at most once a minute).
func (s *Service) Authenticate(ctx context.Context, token string) (guard.Principal, error) {
	if _, err := s.SessionArgs(token); err != nil {
		return guard.Principal{}, err
	}
	p, err := s.authenticate(ctx, token)
	if db.ConnLost(err) && ctx.Err() == nil {
		// A pooled connection found dead (failover, terminated session):
		// the look-up (and its idempotent last-seen touch) runs once more
		// on a fresh connection.
		slog.WarnContext(ctx, "identity: database connection lost; retrying the session look-up once", "cause", err)
		s.pool.Reset()
		p, err = s.authenticate(ctx, token)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return guard.Principal{}, errBadToken
	}
	if err != nil {
		return guard.Principal{}, problem.Wrap("identity.Authenticate", problem.Unavailable, err)
	}
	return p, nil
}

func (s *Service) authenticate(ctx context.Context, token string) (guard.Principal, error) {
	var p guard.Principal
	err := s.pool.QueryRow(ctx, `
		WITH s AS (
		  SELECT id, user_id, last_seen_at FROM sessions
		  WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
		    AND last_seen_at > now() - $2 * interval '1 microsecond'
		), touch AS (
		  UPDATE sessions SET last_seen_at = now() FROM s
		  WHERE sessions.id = s.id AND s.last_seen_at < now() - interval '1 minute'
		)
		SELECT id, user_id FROM s`,
		digest(token), s.idle.Microseconds()).Scan(&p.Session, &p.User)
	return p, err
}

// Logout revokes the principal's session.
func (s *Service) Logout(ctx context.Context, p guard.Principal) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, p.Session)
	if err != nil {
		return problem.Wrap("identity.Logout", problem.Internal, err)
	}
	return nil
}

const userColumns = `id, email, email_verified_at IS NOT NULL, created_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.CreatedAt)
	return u, err
}

// UserByID loads a user.
func (s *Service) UserByID(ctx context.Context, u id.UserID) (User, error) {
	out, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, u))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, guard.NotFound()
	}
	if err != nil {
		return User{}, problem.Wrap("identity.UserByID", problem.Internal, err)
	}
	return out, nil
}

// CanonicalEmail is email in the canonical form accounts are deduplicated
// on (the service's rules), or an Invalid problem naming "email".
func (s *Service) CanonicalEmail(email string) (string, error) {
	return s.canonical("identity.CanonicalEmail", email)
}

// UserEmail is user's canonical email and whether it is verified.
func (s *Service) UserEmail(ctx context.Context, q db.Querier, user id.UserID) (string, bool, error) {
	var canon string
	var verified bool
	err := q.QueryRow(ctx, `SELECT email_canonical, email_verified_at IS NOT NULL FROM users WHERE id = $1`, user).Scan(&canon, &verified)
	if err != nil {
		return "", false, problem.Wrap("identity.UserEmail", problem.Internal, err)
	}
	return canon, verified, nil
}

// EmailVerified reports whether user has proved they own their email
// address. q may be a workspace transaction (users carry no RLS).
func EmailVerified(ctx context.Context, q db.Querier, user id.UserID) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1`, user).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, problem.Wrap("identity.EmailVerified", problem.Internal, err)
	}
	return ok, nil
}

// RequireVerifiedEmail is the check paid work calls before it spends
// anything: a Forbidden problem unless user's email is verified.
func RequireVerifiedEmail(ctx context.Context, q db.Querier, user id.UserID) error {
	ok, err := EmailVerified(ctx, q, user)
	if err != nil {
		return err
	}
	if !ok {
		return problem.EmailUnverified.E("identity.RequireVerifiedEmail",
			"verify your email address before submitting paid work (POST /v1/auth/verify-email/resend sends a new link)")
	}
	return nil
}

// MarkEmailVerified records that user's email is verified (tests and
// support tooling; users verify through the mailed link).
func (s *Service) MarkEmailVerified(ctx context.Context, user id.UserID) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1`, user)
	if err != nil {
		return problem.Wrap("identity.MarkEmailVerified", problem.Internal, err)
	}
	return nil
}
