package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/seal"
)

// TOTPIssuer names the service in authenticator apps.
const TOTPIssuer = "Framebroker"

// RecoveryCodes is how many recovery codes confirming TOTP hands out.
const RecoveryCodes = 10

// WithTOTPKey sets the key (base64 of 32 bytes) that seals TOTP secrets
// with AES-256-GCM. Without it (or with a malformed one) second factors can
// be neither enrolled nor checked: those requests answer 503.
func WithTOTPKey(b64 string) Option {
	return func(s *Service) {
		s.totp, s.totpErr = nil, errors.New("identity: no TOTP key configured (FRAMEBROKER_TOTP_KEY)")
		if b64 == "" {
			return
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			s.totpErr = errors.New("identity: FRAMEBROKER_TOTP_KEY must be the base64 of 32 bytes")
			return
		}
		s.totp, s.totpErr = must(seal.New(key)), nil
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// totpAD binds a sealed secret to its user, so a sealed value copied onto
// another user's row does not open.
func totpAD(u id.UserID) []byte { return []byte("framebroker-totp-v1:" + u.String()) }

func (s *Service) sealTOTP(op string, u id.UserID, secret []byte) ([]byte, error) {
	if s.totp == nil {
		return nil, problem.Wrap(op, problem.Unavailable, s.totpErr)
	}
	return s.totp.Seal(secret, totpAD(u)), nil
}

func (s *Service) openTOTP(op string, u id.UserID, sealed []byte) ([]byte, error) {
	if s.totp == nil {
		return nil, problem.Wrap(op, problem.Unavailable, s.totpErr)
	}
	key, err := s.totp.Open(sealed, totpAD(u))
	if err != nil {
		return nil, problem.Wrap(op, problem.Internal, err)
	}
	return key, nil
}

// TOTPEnrollment is what enrolling shows the user once: the secret for
// manual entry and the otpauth URI for a QR code.
type TOTPEnrollment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

var errTOTPOn = problem.E("identity.TOTP", problem.Conflict, "two-factor authentication is already enabled; disable it first")

// EnrollTOTP starts enrolment: a fresh 160-bit secret is stored sealed as
// pending (replacing any earlier pending one) until ConfirmTOTP proves the
// user's app has it.
func (s *Service) EnrollTOTP(ctx context.Context, p guard.Principal) (TOTPEnrollment, error) {
	const op = "identity.EnrollTOTP"
	key := make([]byte, 20)
	_, _ = rand.Read(key)
	sealed, err := s.sealTOTP(op, p.User, key)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	var email string
	err = s.pool.QueryRow(ctx, `UPDATE users SET totp_pending = $2 WHERE id = $1 AND totp_enabled_at IS NULL RETURNING email`, p.User, sealed).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return TOTPEnrollment{}, errTOTPOn
	}
	if err != nil {
		return TOTPEnrollment{}, problem.Wrap(op, problem.Internal, err)
	}
	return TOTPEnrollment{Secret: b32.EncodeToString(key), URI: otpauthURI(TOTPIssuer, email, key)}, nil
}

// totpState is a user's second-factor row, locked for update.
type totpState struct {
	canon    string
	pending  []byte
	secret   []byte
	lastStep int64
}

func lockTOTP(ctx context.Context, tx pgx.Tx, u id.UserID) (totpState, error) {
	var st totpState
	err := tx.QueryRow(ctx, `SELECT email_canonical, totp_pending, totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE`, u).
		Scan(&st.canon, &st.pending, &st.secret, &st.lastStep)
	return st, err
}

var errCodeWrong = problem.Field("identity.TOTP", "code", "is wrong, expired or already used")

// errFactorWrong marks a wrong code; callers count it as a failed login.
var errFactorWrong = errors.New("identity: wrong second factor")

// ConfirmTOTP checks code against the pending secret, enables TOTP and
// returns RecoveryCodes fresh recovery codes (shown once; only their
// SHA-256 is stored). A wrong code counts as a failed login of the account.
func (s *Service) ConfirmTOTP(ctx context.Context, p guard.Principal, code string) ([]string, error) {
	const op = "identity.ConfirmTOTP"
	var codes []string
	canon, err := s.withTOTP(ctx, op, p.User, func(tx pgx.Tx, st totpState) error {
		if st.secret != nil {
			return errTOTPOn
		}
		if st.pending == nil {
			return problem.E(op, problem.Conflict, "no enrolment in progress; start with POST /v1/auth/totp/enroll")
		}
		key, err := s.openTOTP(op, p.User, st.pending)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(key, code, s.now(), 0)
		if !ok {
			return errFactorWrong
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_enabled_at = now(), totp_last_step = $2 WHERE id = $1`, p.User, step); err != nil {
			return err
		}
		codes, err = newRecoveryCodes(ctx, tx, p.User)
		return err
	})
	return codes, s.factorResult(ctx, op, canon, errCodeWrong, err)
}

// DisableTOTP turns the second factor off; code is a current TOTP code or
// an unused recovery code.
func (s *Service) DisableTOTP(ctx context.Context, p guard.Principal, code string) error {
	const op = "identity.DisableTOTP"
	canon, err := s.withTOTP(ctx, op, p.User, func(tx pgx.Tx, st totpState) error {
		if st.secret == nil {
			return problem.E(op, problem.Conflict, "two-factor authentication is not enabled")
		}
		totp, recovery := code, ""
		if len(code) != TOTPDigits {
			totp, recovery = "", code
		}
		if err := s.checkFactor(ctx, tx, op, p.User, st, totp, recovery); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enabled_at = NULL, totp_last_step = 0 WHERE id = $1`, p.User); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = $1`, p.User)
		return err
	})
	return s.factorResult(ctx, op, canon, errCodeWrong, err)
}

// withTOTP locks u's second-factor row in a transaction and runs fn,
// refusing first if the account is in failed-login backoff. It returns
// the canonical email (for counting failures).
func (s *Service) withTOTP(ctx context.Context, op string, u id.UserID, fn func(pgx.Tx, totpState) error) (string, error) {
	var canon string
	err := db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		st, err := lockTOTP(ctx, tx, u)
		if err != nil {
			return err
		}
		canon = st.canon
		if err := s.peek(ctx, op, "auth:login-fail:"+canon, s.limits.LoginFailures); err != nil {
			return err
		}
		return fn(tx, st)
	})
	return canon, err
}

// factorResult turns errFactorWrong into a counted failed login and the
// problem wrong; other errors pass through as problems.
func (s *Service) factorResult(ctx context.Context, op, canon string, wrong *problem.Error, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errFactorWrong):
		if err := s.spend(ctx, op, "auth:login-fail:"+canon, s.limits.LoginFailures); err != nil && !problem.Is(err, problem.RateLimited) {
			return err
		}
		return wrong
	default:
		var pe *problem.Error
		if errors.As(err, &pe) {
			return pe
		}
		return problem.Wrap(op, problem.Internal, err)
	}
}

// checkFactor accepts a TOTP code of a step after the last one used
// (recording it) or an unused recovery code (spending it), in tx, which
// holds u's row lock. Otherwise errFactorWrong.
func (s *Service) checkFactor(ctx context.Context, tx pgx.Tx, op string, u id.UserID, st totpState, totp, recovery string) error {
	if recovery != "" {
		tag, err := tx.Exec(ctx, `UPDATE totp_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
			u, recoveryHash(recovery))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errFactorWrong
		}
		return nil
	}
	key, err := s.openTOTP(op, u, st.secret)
	if err != nil {
		return err
	}
	step, ok := matchTOTP(key, totp, s.now(), st.lastStep)
	if !ok {
		return errFactorWrong
	}
	_, err = tx.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, u, step)
	return err
}

var errFactorBad = problem.E("identity.Login", problem.Unauthenticated, "the second factor is wrong, expired or already used")

var errFactorNeeded = problem.SecondFactorRequired.E("identity.Login",
	"this account has two-factor authentication: send totp (the 6-digit code) or recovery_code along with the other credentials")

// secondFactor is the login step after a correct password: nothing for a
// user without TOTP; otherwise a TOTP code or recovery code must check out
// (errFactorNeeded when neither is given, errFactorWrong when wrong).
// It also returns the account's canonical email, for counting failures.
func (s *Service) secondFactor(ctx context.Context, tx pgx.Tx, u id.UserID, f Factor) (string, error) {
	const op = "identity.Login"
	st, err := lockTOTP(ctx, tx, u)
	if err != nil {
		return "", err
	}
	if st.secret == nil {
		return st.canon, nil
	}
	if f.TOTP == "" && f.RecoveryCode == "" {
		return st.canon, errFactorNeeded
	}
	return st.canon, s.checkFactor(ctx, tx, op, u, st, f.TOTP, f.RecoveryCode)
}

// Factor is the second factor a sign-in sends for an account with TOTP
// enabled: a current code or an unused recovery code.
type Factor struct {
	TOTP         string `json:"totp,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
}

// factorOutcome finishes a sign-in transaction that ran secondFactor:
// errFactorNeeded as is (not counted), a wrong factor counted as a failed
// login, anything else as a problem.
func (s *Service) factorOutcome(ctx context.Context, op, canon string, err error) error {
	if errors.Is(err, errFactorNeeded) {
		return errFactorNeeded
	}
	return s.factorResult(ctx, op, canon, errFactorBad, err)
}

// newRecoveryCodes replaces u's recovery codes with RecoveryCodes fresh
// ones (80 random bits each, xxxx-xxxx-xxxx-xxxx) and returns them.
func newRecoveryCodes(ctx context.Context, tx pgx.Tx, u id.UserID) ([]string, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM totp_recovery_codes WHERE user_id = $1`, u); err != nil {
		return nil, err
	}
	out := make([]string, RecoveryCodes)
	for i := range out {
		raw := make([]byte, 10)
		_, _ = rand.Read(raw)
		c := strings.ToLower(b32.EncodeToString(raw))
		out[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		if _, err := tx.Exec(ctx, `INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)`, u, recoveryHash(out[i])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recoveryHash is the stored form of a recovery code: SHA-256 of the code
// lower-cased without dashes or spaces (so it can be typed either way).
func recoveryHash(code string) []byte {
	c := strings.NewReplacer("-", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte(c))
	return sum[:]
}
