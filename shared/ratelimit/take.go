package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/framebroker/framebroker/shared/db"
)

// Limit is one key's budget in a Take: Burst requests at once, then Rate.
type Limit struct {
	// Name labels the policy in the RateLimit headers, e.g. "user".
	Name  string
	Key   string
	Rate  Rate
	Burst int
}

// Window is the time a limit takes to regain its full burst from empty
// (the `w` of its RateLimit-Policy).
func (l Limit) Window() time.Duration { return l.Rate.Interval() * time.Duration(l.Burst) }

// State is one key's allowance after a Take.
type State struct {
	Limit Limit
	// Remaining is how many more requests the key admits right now.
	Remaining int
	// Reset is how long until the key has its full burst back.
	Reset time.Duration
}

// Decision is Take's answer.
type Decision struct {
	Allowed bool
	// RetryAfter, when refused, is how long until every key admits the
	// request.
	RetryAfter time.Duration
	// States follow the order of the limits given to Take.
	States []State
}

// Take spends one request of every limit's key, atomically on the database
// clock: the request is allowed only if every key admits it, and a refused
// request spends nothing on any key. Rows are locked in key order, so
// concurrent Takes over overlapping keys do not deadlock.
func Take(ctx context.Context, q db.Querier, limits ...Limit) (Decision, error) {
	return TakeAt(ctx, q, time.Time{}, limits...)
}

// TakeAt is Take evaluated at the instant now instead of the database clock
// (the zero time means the database clock, as Take). It exists so tests can
// check the GCRA arithmetic exactly, independent of the machine's speed;
// production callers use Take.
func TakeAt(ctx context.Context, q db.Querier, now time.Time, limits ...Limit) (Decision, error) {
	if len(limits) == 0 {
		return Decision{Allowed: true}, nil
	}
	keys := make([]string, len(limits))
	ivs := make([]int64, len(limits))
	tols := make([]int64, len(limits))
	seen := map[string]bool{}
	for i, l := range limits {
		iv, tol, err := gcra(l.Rate, l.Burst)
		if err != nil {
			return Decision{}, err
		}
		if seen[l.Key] {
			return Decision{}, fmt.Errorf("ratelimit: key %q given twice", l.Key)
		}
		seen[l.Key] = true
		keys[i], ivs[i], tols[i] = l.Key, iv, tol
	}
	var d Decision
	var retry int64
	var backlog []int64
	var at *time.Time
	if !now.IsZero() {
		at = &now
	}
	err := q.QueryRow(ctx, `SELECT allowed, retry_after_us, backlog_us FROM rate_limit_take_all($1, $2, $3, $4)`, keys, ivs, tols, at).
		Scan(&d.Allowed, &retry, &backlog)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	d.RetryAfter = time.Duration(retry) * time.Microsecond
	d.States = make([]State, len(limits))
	for i, l := range limits {
		rem := (tols[i] - backlog[i]) / ivs[i]
		d.States[i] = State{Limit: l, Remaining: int(max(rem, 0)), Reset: time.Duration(backlog[i]) * time.Microsecond}
	}
	return d, nil
}

// SetHeaders writes the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers) for d's states:
//
//	RateLimit-Policy: "user";q=10;w=60, "workspace";q=100;w=60
//	RateLimit: "user";r=9;t=6, "workspace";r=99;t=1
//
// q is the burst, w the seconds to regain it from empty, r the requests
// remaining now and t the seconds until the full burst is back (rounded up).
func SetHeaders(h http.Header, d Decision) {
	if len(d.States) == 0 {
		return
	}
	pol := make([]string, len(d.States))
	cur := make([]string, len(d.States))
	for i, s := range d.States {
		name := strconv.Quote(s.Limit.Name)
		pol[i] = fmt.Sprintf("%s;q=%d;w=%d", name, s.Limit.Burst, ceilSeconds(s.Limit.Window()))
		cur[i] = fmt.Sprintf("%s;r=%d;t=%d", name, s.Remaining, ceilSeconds(s.Reset))
	}
	h.Set("RateLimit-Policy", strings.Join(pol, ", "))
	h.Set("RateLimit", strings.Join(cur, ", "))
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
