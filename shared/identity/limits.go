package identity

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

// Limit is one abuse limit: Burst requests at once, refilled at Rate.
type Limit struct {
	Rate  ratelimit.Rate
	Burst int
}

// Limits are the abuse limits of the auth routes, each keyed per client IP
// or per canonical email and shared across instances through Postgres.
type Limits struct {
	SignupPerIP, SignupPerEmail Limit
	LoginPerIP, LoginPerEmail   Limit
	ResetPerIP, ResetPerEmail   Limit
	MagicPerIP, MagicPerEmail   Limit
	ConfirmPerIP                Limit // reset, magic-link and verification confirmations
	OAuthPerIP                  Limit
	VerifyResendPerUser         Limit
	LoginFailures               Limit // failed logins per account before backoff
	PasswordChangePerUser       Limit
}

func per(n int, d time.Duration) Limit {
	return Limit{Rate: ratelimit.Rate{Count: n, Per: d}, Burst: n}
}

// DefaultLimits are the limits in force unless configured otherwise. Per-IP
// limits allow for offices behind one address; per-email limits stop mail
// bombing one inbox; five failed logins then one try a minute.
var DefaultLimits = Limits{
	SignupPerIP:           per(30, time.Hour),
	SignupPerEmail:        per(5, time.Hour),
	LoginPerIP:            per(60, time.Minute),
	LoginPerEmail:         per(10, time.Minute),
	ResetPerIP:            per(10, time.Hour),
	ResetPerEmail:         per(3, time.Hour),
	MagicPerIP:            per(10, time.Hour),
	MagicPerEmail:         per(3, time.Hour),
	ConfirmPerIP:          per(30, time.Hour),
	OAuthPerIP:            per(30, time.Minute),
	VerifyResendPerUser:   per(3, time.Hour),
	LoginFailures:         Limit{Rate: ratelimit.PerMinute(1), Burst: 5},
	PasswordChangePerUser: per(5, time.Hour),
}

// clientIP is the caller's address as the transport saw it. Forwarded
// headers are not trusted: the API Gateway adapter sets RemoteAddr from the
// gateway's own view of the source IP.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// spend takes one request from key's allowance, or answers 429 with
// Retry-After.
func (s *Service) spend(ctx context.Context, op, key string, l Limit) error {
	ok, retry, err := ratelimit.Allow(ctx, s.pool, key, l.Rate, l.Burst)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	if !ok {
		return &problem.Error{Op: op, Kind: problem.RateLimited, Refusal: problem.RateLimitedRefusal.Slug, RetryAfter: retry,
			Detail: "too many attempts; wait before trying again"}
	}
	return nil
}

// peek is spend without spending: 429 if key has no allowance left.
func (s *Service) peek(ctx context.Context, op, key string, l Limit) error {
	ok, retry, err := ratelimit.Peek(ctx, s.pool, key, l.Rate, l.Burst)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	if !ok {
		return &problem.Error{Op: op, Kind: problem.RateLimited, Refusal: problem.RateLimitedRefusal.Slug, RetryAfter: retry,
			Detail: "too many failed attempts for this account; wait before trying again, or sign in with a magic link"}
	}
	return nil
}

func (s *Service) forget(ctx context.Context, op, key string) error {
	if err := ratelimit.Reset(ctx, s.pool, key); err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	return nil
}

// limitRequest spends from the per-IP limit and, when email is a valid
// address, from the per-email limit (keyed on the canonical form, so dots
// and +tags do not multiply the allowance).
func (s *Service) limitRequest(r *http.Request, op, action, email string, byIP, byEmail Limit) error {
	if err := s.spend(r.Context(), op, "auth:"+action+":ip:"+clientIP(r), byIP); err != nil {
		return err
	}
	if email == "" {
		return nil
	}
	canon, err := CanonicalEmailWith(s.rules, email)
	if err != nil {
		return nil // the handler refuses the address itself
	}
	return s.spend(r.Context(), op, "auth:"+action+":email:"+canon, byEmail)
}
