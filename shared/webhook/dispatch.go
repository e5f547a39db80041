package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
)

// Dispatcher sends due deliveries. Any number may run at once (in Lambdas,
// in `framebroker dev`): a delivery is leased before it is attempted, with
// row locks that skip rows another dispatcher holds, and a dispatcher that
// dies mid-attempt loses its lease, so the delivery is attempted again:
// delivery is at least once (receivers deduplicate on webhook-id).
//
// Isolation: at most PerEndpoint deliveries per endpoint are in flight, each
// in its own goroutine with its own 15 s timeout, and the dispatcher claims
// more work whenever any attempt ends, so a dead or slow endpoint occupies
// its own PerEndpoint slots and nothing else.
type Dispatcher struct {
	s      *Service
	client *http.Client
	// PerEndpoint bounds the attempts in flight to one endpoint.
	PerEndpoint int
	// MaxInFlight bounds all attempts in flight in this dispatcher.
	MaxInFlight int
	// Lease is how long a claimed delivery stays reserved; it must exceed
	// the attempt timeout.
	Lease time.Duration
	// Poll is how often Run looks for due retries when nothing wakes it.
	Poll time.Duration
	// Jitter returns a number in [0, 1) scaling each retry's jitter; nil
	// uses math/rand.
	Jitter func() float64
	// UserAgent is sent with every attempt.
	UserAgent string
}

// NewDispatcher returns a Dispatcher on s with an SSRF-guarded client and
// the standard 15 s timeout.
func (s *Service) NewDispatcher() *Dispatcher {
	return &Dispatcher{
		s: s, client: NewClient(s.addrs, Timeout),
		PerEndpoint: 4, MaxInFlight: 256, Lease: Timeout + 45*time.Second, Poll: time.Second,
		Jitter: defaultJitter, UserAgent: "Framebroker-Webhooks/1",
	}
}

// WithTimeout replaces the per-attempt timeout (benchmarks and tests).
func (d *Dispatcher) WithTimeout(t time.Duration) *Dispatcher {
	d.client = NewClient(d.s.addrs, t)
	if d.Lease <= t {
		d.Lease = t + 45*time.Second
	}
	return d
}

type claimed struct {
	delivery id.DeliveryID
	ws       id.WorkspaceID
}

// claim leases up to n due deliveries. It runs outside ctx (bounded by
// claimTimeout): a claim cancelled on the wire may still run on the server
// and lease rows nobody attempts until the lease runs out (seen under load
// when a dispatcher stopped mid-claim); waiting for its answer tells the
// caller exactly what it holds.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]claimed, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	rows, err := d.s.pool.Query(ctx, `SELECT delivery_id, workspace_id FROM webhook_claim($1, $2, $3, $4)`,
		d.s.now(), d.Lease, d.PerEndpoint, n)
	if err != nil {
		return nil, fmt.Errorf("webhook: claim: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		return c, row.Scan(&c.delivery, &c.ws)
	})
}

// RunOnce attempts every delivery due now, and those that fall due while it
// runs, and returns when none is due and none is in flight, or when ctx
// ends (in-flight attempts are then abandoned; their leases expire). It
// returns how many attempts it made. The webhook-retries cron calls it.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	return d.loop(ctx, true, nil)
}

// Run dispatches until ctx ends, woken by each committed Enqueue (Postgres
// LISTEN/NOTIFY) and every Poll for due retries.
func (d *Dispatcher) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go d.listen(ctx, wake)
	_, err := d.loop(ctx, false, wake)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (d *Dispatcher) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := d.s.pool.Acquire(ctx)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+notifyChannel); err == nil {
				for {
					if _, err = conn.Conn().WaitForNotification(ctx); err != nil {
						break
					}
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
			conn.Release()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *Dispatcher) loop(ctx context.Context, untilIdle bool, wake <-chan struct{}) (int, error) {
	done := make(chan struct{}, d.MaxInFlight)
	inflight, attempts := 0, 0
	var lastErr error
	for {
		got := 0
		if room := d.MaxInFlight - inflight; room > 0 && ctx.Err() == nil {
			cs, err := d.claim(ctx, room)
			switch {
			case err == nil || ctx.Err() != nil:
			case db.ConnLost(err):
				// A failover or a terminated session: the claim did not
				// happen (or its leases expire); the next claim runs on a
				// fresh connection.
				d.s.pool.Reset()
				slog.WarnContext(ctx, "webhook claim: database connection lost; claiming again", "cause", err)
			default:
				lastErr = err
				slog.ErrorContext(ctx, "webhook claim failed", "err", err)
			}
			if ctx.Err() != nil && len(cs) > 0 {
				// Stopped during the claim: hand the leases back.
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
				for _, c := range cs {
					d.release(bg, c)
				}
				cancel()
				cs = nil
			}
			got = len(cs)
			for _, c := range cs {
				inflight++
				attempts++
				go func() {
					d.attempt(ctx, c)
					done <- struct{}{}
				}()
			}
		}
		if untilIdle && inflight == 0 && got == 0 {
			return attempts, lastErr
		}
		var tick <-chan time.Time
		if !untilIdle {
			tick = time.After(d.Poll)
		}
		select {
		case <-done:
			inflight--
			// Every attempt that ended meanwhile frees its slot for the
			// same next claim: one claim per wake-up, not one per attempt.
			for more := true; more; {
				select {
				case <-done:
					inflight--
				default:
					more = false
				}
			}
		case <-wake:
		case <-tick:
		case <-ctx.Done():
			if untilIdle || inflight == 0 {
				return attempts, ctx.Err()
			}
			<-done
			inflight--
		}
	}
}

// target is what one attempt needs, read in the workspace's scope.
type target struct {
	endpoint  id.WebhookID
	url       string
	secrets   []Secret
	msg       id.MessageID
	body      []byte
	attempts  int
	attemptNo int
}

// load reads what an attempt needs in one round trip (a read-only
// pipeline in the workspace's scope). It returns nil when the delivery is
// no longer to be attempted.
func (d *Dispatcher) load(ctx context.Context, c claimed) (*target, error) {
	var (
		t          target
		sealed     []byte
		prev       []byte
		prevActive bool
		found      bool
	)
	b := &pgx.Batch{}
	b.Queue(`SELECT d.endpoint_id, e.url, e.secret_enc, e.prev_secret_enc, coalesce(e.prev_secret_until > $2, false),
			d.message_id, m.body, d.attempts,
			(SELECT coalesce(max(n), 0) + 1 FROM webhook_attempts a WHERE a.delivery_id = d.id)
		FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id
		JOIN webhook_messages m ON m.id = d.message_id
		WHERE d.id = $1 AND d.status = 'pending' AND e.enabled`, c.delivery, d.s.now()).
		QueryRow(func(row pgx.Row) error {
			err := row.Scan(&t.endpoint, &t.url, &sealed, &prev, &prevActive, &t.msg, &t.body, &t.attempts, &t.attemptNo)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
	if err := db.ReadPipeline(ctx, d.s.pool, c.ws.UUID().String(), b); err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	cur, err := d.s.cipher.Open(sealed, adFor(t.endpoint))
	if err != nil {
		return nil, err
	}
	t.secrets = []Secret{cur}
	if prevActive && prev != nil {
		if p, err := d.s.cipher.Open(prev, adFor(t.endpoint)); err == nil {
			t.secrets = append(t.secrets, p)
		}
	}
	return &t, nil
}

// outcome is the result of one HTTP attempt.
type outcome struct {
	status     int // 0 when no response
	latency    time.Duration
	err        string
	retryAfter time.Duration
}

func (o outcome) ok() bool { return o.status >= 200 && o.status < 300 }

func (d *Dispatcher) attempt(ctx context.Context, c claimed) {
	t, err := d.load(ctx, c)
	if err != nil && ctx.Err() != nil {
		// Shut down before the attempt: free the lease (see below).
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		d.release(bg, c)
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "webhook load failed", "delivery", c.delivery.String(), "err", err)
		return // the lease expires and a later run retries
	}
	if t == nil {
		d.release(ctx, c)
		return
	}
	o := d.send(ctx, t)
	if ctx.Err() != nil {
		// Shut down mid-attempt. An answer that arrived is recorded (else
		// the receiver gets the same delivery again once the lease runs
		// out); an attempt cut short frees its lease, so the next
		// dispatcher attempts it at once instead of after Lease. Either
		// way outside the cancelled context, briefly.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		if o.status != 0 {
			if err := d.record(bg, c, t, o); err != nil {
				slog.WarnContext(bg, "webhook record at shutdown failed; the lease expires and the attempt is made again", "delivery", c.delivery.String(), "err", err)
			}
			return
		}
		d.release(bg, c)
		return
	}
	if err := d.record(ctx, c, t, o); err != nil && ctx.Err() == nil {
		slog.ErrorContext(ctx, "webhook record failed", "delivery", c.delivery.String(), "err", err)
	}
}

// shutdownGrace bounds what an attempt still writes after its dispatcher
// was stopped (its outcome, or the release of its lease); claimTimeout
// bounds a claim.
const (
	shutdownGrace = 5 * time.Second
	claimTimeout  = 30 * time.Second
)

// release drops the lease of a delivery that is no longer to be attempted
// (delivered meanwhile, or its endpoint disabled).
func (d *Dispatcher) release(ctx context.Context, c claimed) {
	_ = db.InWorkspace(ctx, d.s.pool, c.ws.UUID().String(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1`, c.delivery)
		return err
	})
}

func (d *Dispatcher) send(ctx context.Context, t *target) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return outcome{err: "invalid URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.UserAgent)
	SignHeaders(req.Header, t.msg.String(), d.s.now(), t.body, t.secrets...)
	start := time.Now()
	res, err := d.client.Do(req)
	o := outcome{latency: time.Since(start)}
	if err != nil {
		o.err = describe(err)
		return o
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	o.latency = time.Since(start)
	o.status = res.StatusCode
	switch {
	case o.ok():
	case res.StatusCode >= 300 && res.StatusCode < 400:
		o.err = fmt.Sprintf("redirect (%d) not followed", res.StatusCode)
	default:
		o.err = fmt.Sprintf("HTTP %d", res.StatusCode)
		o.retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), d.s.now())
	}
	return o
}

// describe turns a client error into a short reason with no URL in it (a
// URL's query may hold the receiver's token).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "destination address not allowed"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// record stores an attempt's outcome, schedules the next attempt or ends the
// delivery, and runs the circuit breaker, in one transaction; it mails the
// owners (through the mail outbox, in the same transaction) when the
// endpoint was just disabled.
func (d *Dispatcher) record(ctx context.Context, c claimed, t *target, o outcome) error {
	now := d.s.now()
	n := t.attempts + 1
	var (
		disabled bool
		reason   string
	)
	err := db.InWorkspace(ctx, d.s.pool, c.ws.UUID().String(), func(tx pgx.Tx) error {
		var status *int
		if o.status != 0 {
			status = &o.status
		}
		var errText *string
		if o.err != "" {
			errText = &o.err
		}
		ms := int(o.latency.Milliseconds())
		gone := o.status == http.StatusGone
		delay, more := nextDelay(n, o.retryAfter, d.jitter)
		final := o.ok() || gone || !more
		st := "pending"
		switch {
		case o.ok():
			st = "delivered"
		case final:
			st = "failed"
		}
		var next *time.Time
		if !final {
			v := now.Add(delay)
			next = &v
		}
		// The attempt, the delivery and the endpoint's breaker go in one
		// round trip.
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, workspace_id, n, attempted_at, response_status, latency_ms, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.delivery, c.ws, t.attemptNo, now, status, ms, errText)
		b.Queue(`UPDATE webhook_deliveries SET attempts = $2, last_attempt_at = $3, response_status = $4,
				latency_ms = $5, last_error = $6, lease_until = NULL, status = $7, next_attempt_at = $8,
				finished_at = CASE WHEN $7 = 'pending' THEN NULL ELSE $3::timestamptz END
			WHERE id = $1`, c.delivery, n, now, status, ms, errText, st, next)
		if o.ok() {
			b.Queue(`UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0`, t.endpoint)
			return tx.SendBatch(ctx, b).Close()
		}
		reason = fmt.Sprintf("%d consecutive failed attempts (last: %s)", FailuresToDisable, o.err)
		if gone {
			reason = "the endpoint answered 410 Gone"
		}
		var was, is bool
		b.Queue(`UPDATE webhook_endpoints e SET consecutive_failures = e.consecutive_failures + 1,
				enabled = e.enabled AND NOT ($2 OR e.consecutive_failures + 1 >= $3),
				disabled_reason = CASE WHEN e.enabled AND ($2 OR e.consecutive_failures + 1 >= $3) THEN $4 ELSE e.disabled_reason END,
				updated_at = now()
			FROM (SELECT id, enabled FROM webhook_endpoints WHERE id = $1 FOR UPDATE) old
			WHERE e.id = old.id RETURNING old.enabled, e.enabled`, t.endpoint, gone, FailuresToDisable, reason).
			QueryRow(func(row pgx.Row) error { return row.Scan(&was, &is) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !was || is {
			return nil
		}
		disabled = true
		if err := d.s.record(ctx, tx, c.ws, "system:webhooks", "webhook.endpoint_disabled", t.endpoint.String(),
			map[string]any{"reason": reason, "url": redactedURL(t.url)}); err != nil {
			return err
		}
		if d.s.owners == nil {
			return nil
		}
		owners, err := d.s.owners(ctx, tx, c.ws)
		if err != nil || len(owners) == 0 {
			return err
		}
		// The notice is written in the transaction that disables the
		// endpoint and delivered by the mail outbox.
		return d.s.mail.Enqueue(ctx, tx, disabledMail(owners, t.endpoint, redactedURL(t.url), reason))
	})
	if err != nil {
		return err
	}
	if disabled {
		slog.WarnContext(ctx, "webhook endpoint disabled", "endpoint", t.endpoint.String(), "reason", reason)
	}
	return nil
}

func (d *Dispatcher) jitter() float64 {
	if d.Jitter == nil {
		return defaultJitter()
	}
	return d.Jitter()
}

func disabledMail(to []string, hook id.WebhookID, u, reason string) mail.Message {
	text := strings.Join([]string{
		"A webhook endpoint of your Framebroker workspace has been disabled.",
		"",
		"Endpoint: " + hook.String(),
		"URL: " + u,
		"Reason: " + reason,
		"",
		"Deliveries to it are paused. Fix the receiver, then re-enable the endpoint",
		`(PATCH …/webhooks/` + hook.String() + ` {"enabled":true}) and re-send what it missed.`,
	}, "\n")
	return mail.Message{To: to, Subject: "Webhook endpoint disabled", Text: text}
}
