package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// SessionTTL is a session's absolute lifetime.
const SessionTTL = 30 * 24 * time.Hour

// TokenPrefix starts every session token, so leaked tokens are recognisable
// by secret scanners.
const TokenPrefix = "fbs_"

// User is an account.
type User struct {
	ID        id.UserID `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// Service is the identity store.
type Service struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, now: time.Now}
}

// CanonicalEmail is the form emails are deduplicated on: trimmed and
// lower-cased. It refuses what is not a bare address.
func CanonicalEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 254 {
		return "", errors.New("is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errors.New("is not an email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at:], ".") {
		return "", errors.New("is not an email address")
	}
	return strings.ToLower(s), nil
}

// Signup creates a user with a password.
func (s *Service) Signup(ctx context.Context, email, password string) (User, error) {
	const op = "identity.Signup"
	canon, err := CanonicalEmail(email)
	if err != nil {
		return User{}, problem.Field(op, "email", err.Error())
	}
	if err := checkPasswordPolicy(op, password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, problem.Wrap(op, problem.Internal, err)
	}
	u := User{ID: id.New[id.UserID](), Email: strings.TrimSpace(email)}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO users (id, email, email_canonical, password_hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		u.ID, u.Email, canon, hash).Scan(&u.CreatedAt)
	if db.IsUniqueViolation(err, "users_email_canonical_key") {
		return User{}, problem.E(op, problem.Conflict, "an account with this email already exists; log in instead")
	}
	if err != nil {
		return User{}, problem.Wrap(op, problem.Internal, err)
	}
	return u, nil
}

func checkPasswordPolicy(op, pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return problem.Field(op, "password", fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	case len(pw) > MaxPasswordLen:
		return problem.Field(op, "password", fmt.Sprintf("must be at most %d bytes", MaxPasswordLen))
	}
	return nil
}

var errBadLogin = problem.E("identity.Login", problem.Unauthenticated, "invalid email or password")

// Login checks a password and opens a session. It returns the session token,
// which is shown once and stored only as its SHA-256.
func (s *Service) Login(ctx context.Context, email, password string) (string, User, error) {
	const op = "identity.Login"
	canon, err := CanonicalEmail(email)
	if err != nil || len(password) > MaxPasswordLen {
		_, _ = CheckPassword(dummyHash, password)
		return "", User{}, errBadLogin
	}
	var u User
	var hash *string
	err = s.pool.QueryRow(ctx, `SELECT id, email, created_at, password_hash FROM users WHERE email_canonical = $1`, canon).
		Scan(&u.ID, &u.Email, &u.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && hash == nil) {
		_, _ = CheckPassword(dummyHash, password)
		return "", User{}, errBadLogin
	}
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	ok, err := CheckPassword(*hash, password)
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	if !ok {
		return "", User{}, errBadLogin
	}
	tok, err := s.openSession(ctx, u.ID)
	return tok, u, err
}

func (s *Service) openSession(ctx context.Context, user id.UserID) (string, error) {
	const op = "identity.openSession"
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(tok))
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		id.New[id.SessionID](), user, sum[:], s.now().Add(SessionTTL))
	if err != nil {
		return "", problem.Wrap(op, problem.Internal, err)
	}
	return tok, nil
}

var errBadToken = problem.E("identity.Authenticate", problem.Unauthenticated, "session token is invalid, expired or revoked")

// Authenticate resolves a session token to its principal. Unknown, expired
// and revoked tokens are all the same Unauthenticated error.
func (s *Service) Authenticate(ctx context.Context, token string) (guard.Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return guard.Principal{}, errBadToken
	}
	sum := sha256.Sum256([]byte(token))
	var p guard.Principal
	err := s.pool.QueryRow(ctx,
		`SELECT id, user_id FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
		sum[:]).Scan(&p.Session, &p.User)
	if errors.Is(err, pgx.ErrNoRows) {
		return guard.Principal{}, errBadToken
	}
	if err != nil {
		return guard.Principal{}, problem.Wrap("identity.Authenticate", problem.Unavailable, err)
	}
	return p, nil
}

// Logout revokes the principal's session.
func (s *Service) Logout(ctx context.Context, p guard.Principal) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, p.Session)
	if err != nil {
		return problem.Wrap("identity.Logout", problem.Internal, err)
	}
	return nil
}

// UserByID loads a user.
func (s *Service) UserByID(ctx context.Context, u id.UserID) (User, error) {
	var out User
	err := s.pool.QueryRow(ctx, `SELECT id, email, created_at FROM users WHERE id = $1`, u).Scan(&out.ID, &out.Email, &out.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, guard.NotFound()
	}
	if err != nil {
		return User{}, problem.Wrap("identity.UserByID", problem.Internal, err)
	}
	return out, nil
}

// UserIDByEmail finds the user with the given email (canonicalised), for
// adding members.
func (s *Service) UserIDByEmail(ctx context.Context, q db.Querier, email string) (id.UserID, error) {
	canon, err := CanonicalEmail(email)
	if err != nil {
		return id.UserID{}, problem.Field("identity.UserIDByEmail", "email", err.Error())
	}
	var u id.UserID
	err = q.QueryRow(ctx, `SELECT id FROM users WHERE email_canonical = $1`, canon).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) {
		return id.UserID{}, problem.E("identity.UserIDByEmail", problem.Unprocessable, "no account has this email; ask them to sign up first")
	}
	if err != nil {
		return id.UserID{}, problem.Wrap("identity.UserIDByEmail", problem.Internal, err)
	}
	return u, nil
}
