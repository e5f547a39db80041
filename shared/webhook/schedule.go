package webhook

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Schedule is the delay before each attempt after the first, which goes at
// once: 1 min, 5 min, 30 min, then the longer tail 2 h, 5 h, 10 h, 10 h,
// 24 h. Nine attempts span about 52 hours; after the last failure the
// delivery is marked failed (a manual re-send starts it again).
var Schedule = []time.Duration{
	time.Minute, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour, 24 * time.Hour,
}

// MaxAttempts is the number of attempts before a delivery fails for good.
var MaxAttempts = len(Schedule) + 1

// Jitter is the fraction of each delay added at random (0 to +10 %), so the
// retries of many deliveries that failed together do not arrive together.
const Jitter = 0.10

// maxRetryAfter caps how long a receiver's Retry-After can push a retry.
const maxRetryAfter = 24 * time.Hour

// FailuresToDisable is the circuit breaker: this many consecutive failed
// attempts to an endpoint disable it.
const FailuresToDisable = 10

// nextDelay is the wait before attempt n+1 after attempt n (1-based) failed:
// the schedule's step plus up to Jitter of it, or the receiver's
// Retry-After if that is longer (capped at 24 h). ok is false when no
// attempt is left.
func nextDelay(n int, retryAfter time.Duration, jitter func() float64) (d time.Duration, ok bool) {
	if n < 1 || n > len(Schedule) {
		return 0, false
	}
	base := Schedule[n-1]
	d = base + time.Duration(float64(base)*Jitter*jitter())
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return d, true
}

func defaultJitter() float64 { return rand.Float64() }

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 for a missing, malformed or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" || len(v) > 64 {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
