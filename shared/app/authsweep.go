package app

import (
	"context"

	"github.com/framebroker/framebroker/shared/ratelimit"
)

// authSwept is what the retention cron's identity sweep deleted.
type authSwept struct {
	Tokens     int64 `json:"auth_tokens_deleted"`
	States     int64 `json:"oauth_states_deleted"`
	RateLimits int64 `json:"rate_limits_deleted"`
}

// sweepAuth deletes expired one-time tokens and OAuth states and the
// rate-limit rows of keys back at their full allowance (all of which
// behave exactly like absent rows).
func (a *App) sweepAuth(ctx context.Context) (authSwept, error) {
	id, err := a.Identity.Sweep(ctx)
	if err != nil {
		return authSwept{}, err
	}
	n, err := ratelimit.Sweep(ctx, a.Pool)
	if err != nil {
		return authSwept{}, err
	}
	return authSwept{Tokens: id.AuthTokens, States: id.OAuthStates, RateLimits: n}, nil
}
