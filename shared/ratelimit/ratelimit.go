// Package ratelimit is a rate limiter shared by every process through
// Postgres: the generic cell rate algorithm (GCRA) with one row per key,
// evaluated atomically on the database clock, so every Lambda instance
// enforces the same budget and clock skew between instances does not matter.
//
// A Rate admits Burst requests at once and then one request every Per/Count
// (so a key that stays quiet regains its full burst after Burst*Per/Count).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/framebroker/framebroker/shared/db"
)

// Rate is a sustained rate: Count requests per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// PerMinute is n requests a minute.
func PerMinute(n int) Rate { return Rate{Count: n, Per: time.Minute} }

// PerHour is n requests an hour.
func PerHour(n int) Rate { return Rate{Count: n, Per: time.Hour} }

// Interval is the emission interval: the time one request "costs".
func (r Rate) Interval() time.Duration {
	if r.Count <= 0 || r.Per <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.Count)
}

// ErrBadLimit is returned for a rate or burst that admits nothing, or a rate
// faster than one request a microsecond (the database's resolution).
var ErrBadLimit = errors.New("ratelimit: rate and burst must be positive")

// gcra returns the emission interval and the tolerance (burst intervals),
// in microseconds, for rate and burst.
func gcra(rate Rate, burst int) (iv, tol int64, err error) {
	d := rate.Interval()
	if d < time.Microsecond || burst <= 0 {
		return 0, 0, ErrBadLimit
	}
	return d.Microseconds(), (d * time.Duration(burst)).Microseconds(), nil
}

// Allow spends one request of key's allowance under rate with burst, using
// the database clock. ok reports whether the request is allowed; when it is
// not, retryAfter is how long until it would be. A refused request spends
// nothing. q may be a pool or a transaction (the row lock is then held until
// the transaction ends, serialising callers of the same key).
func Allow(ctx context.Context, q db.Querier, key string, rate Rate, burst int) (ok bool, retryAfter time.Duration, err error) {
	d, err := Take(ctx, q, Limit{Name: key, Key: key, Rate: rate, Burst: burst})
	if err != nil {
		return false, 0, err
	}
	return d.Allowed, d.RetryAfter, nil
}

// Reset forgets key's history (for example, failed logins after a success).
func Reset(ctx context.Context, q db.Querier, key string) error {
	if _, err := q.Exec(ctx, `DELETE FROM rate_limits WHERE key = $1`, key); err != nil {
		return fmt.Errorf("ratelimit: reset: %w", err)
	}
	return nil
}

// Sweep deletes the rows of keys that have regained their full allowance
// (their theoretical arrival time is in the past), which behave exactly like
// absent rows. Run it from a cron.
func Sweep(ctx context.Context, q db.Querier) (int64, error) {
	tag, err := q.Exec(ctx, `DELETE FROM rate_limits WHERE tat < clock_timestamp()`)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Peek reports whether Allow would admit a request for key now, without
// spending anything, and if not, how long until it would.
func Peek(ctx context.Context, q db.Querier, key string, rate Rate, burst int) (ok bool, retryAfter time.Duration, err error) {
	iv, tol, err := gcra(rate, burst)
	if err != nil {
		return false, 0, err
	}
	var waitMicros int64
	err = q.QueryRow(ctx,
		`SELECT coalesce((SELECT (extract(epoch FROM greatest(tat, clock_timestamp()) + $2 * interval '1 microsecond'
		                   - clock_timestamp() - $3 * interval '1 microsecond') * 1000000)::bigint
		                  FROM rate_limits WHERE key = $1), -1)`,
		key, iv, tol).Scan(&waitMicros)
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: peek: %w", err)
	}
	if waitMicros <= 0 {
		return true, 0, nil
	}
	return false, time.Duration(waitMicros) * time.Microsecond, nil
}
