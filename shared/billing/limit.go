package billing

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/ratelimit"
)

// Limiter is the guard.Limiter of one expensive route: GCRA in Postgres
// (shared/ratelimit, database clock, shared by every instance) per user and
// per workspace, at the rates of the workspace's plan.
type Limiter struct {
	s    *Service
	name string
}

// Limit implements guard.Limiter: it spends one request from the caller's
// and the workspace's allowance (both or neither; in a.Tx when the guard
// gives one), sets the RateLimit and RateLimit-Policy headers, and refuses
// with 429 and Retry-After when either is exhausted.
func (l *Limiter) Limit(ctx context.Context, h http.Header, a *guard.Access) error {
	const op = "billing.RateLimit"
	var q db.Querier = l.s.pool
	if a.Tx != nil {
		q = a.Tx
	}
	planName, err := l.s.planOf(ctx, q, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	rl, ok := l.s.plan(planName).Limits[l.name]
	if !ok {
		return nil
	}
	limits := []ratelimit.Limit{{Name: "user", Key: "route:" + l.name + ":user:" + a.Principal.User.String(), Rate: rl.User.Rate, Burst: rl.User.Burst}}
	if !a.Workspace.IsZero() {
		limits = append(limits, ratelimit.Limit{Name: "workspace", Key: "route:" + l.name + ":ws:" + a.Workspace.String(), Rate: rl.Workspace.Rate, Burst: rl.Workspace.Burst})
	}
	var now time.Time
	if l.s.RateClock != nil {
		now = l.s.RateClock()
	}
	d, err := ratelimit.TakeAt(ctx, q, now, limits...)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	ratelimit.SetHeaders(h, d)
	if !d.Allowed {
		return &problem.Error{Op: op, Kind: problem.RateLimited, Refusal: problem.RateLimitedRefusal.Slug, RetryAfter: d.RetryAfter,
			Detail: "too many " + l.name + " requests for this user or workspace; see the RateLimit header"}
	}
	return nil
}

// PlanCacheTTL is how long an instance reuses a workspace's plan name for
// rate limiting (a plan change reaches the limits within it; the spend
// ceilings always read the account in the submission's transaction).
const PlanCacheTTL = 30 * time.Second

type cachedPlan struct {
	name  string
	until time.Time
}

// planOf is ws's plan name ("" for none: the default), cached per instance
// for PlanCacheTTL. The zero workspace has the default plan.
func (s *Service) planOf(ctx context.Context, q db.Querier, ws id.WorkspaceID) (string, error) {
	if ws.IsZero() {
		return DefaultPlan, nil
	}
	if c, ok := s.plans.Load(ws); ok && time.Now().Before(c.(cachedPlan).until) {
		return c.(cachedPlan).name, nil
	}
	var name string
	if err := q.QueryRow(ctx, `SELECT billing_plan($1)`, ws).Scan(&name); err != nil {
		return "", fmt.Errorf("plan: %w", err)
	}
	s.plans.Store(ws, cachedPlan{name: name, until: time.Now().Add(PlanCacheTTL)})
	return name, nil
}
