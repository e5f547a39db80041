package mail

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
)

// Queue is where domains put transactional mail: Enqueue writes it in the
// caller's transaction, so mail exists exactly when the decision to send
// it commits.
type Queue interface {
	Enqueue(ctx context.Context, tx pgx.Tx, m Message) error
}

// Outbox is the mail outbox (table mail_outbox): Enqueue writes a message
// in the caller's transaction; Deliver sends what is due, with retries.
type Outbox struct {
	Pool   db.Beginner
	Sender Sender
	// MaxAttempts before a message is given up (5 when zero).
	MaxAttempts int
	// Backoff is the wait after failed attempt n (1 min, 5 min, 25 min…
	// when nil).
	Backoff func(attempt int) time.Duration
	// Lease is how long a claimed message is hidden from other deliverers
	// while it is being sent (2 min when zero).
	Lease time.Duration
	// Immediate delivers a message right after its transaction commits
	// (one attempt, on the committing request; the cron retries). Off,
	// only Deliver sends.
	Immediate bool
}

// Enqueue validates m and writes it to the outbox in tx. With Immediate,
// it also registers an after-commit attempt when tx supports hooks.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	msg := uuid.New()
	if _, err := tx.Exec(ctx, `INSERT INTO mail_outbox (id, recipients, subject, body_text, body_html) VALUES ($1, $2, $3, $4, $5)`,
		msg, m.To, m.Subject, m.Text, m.HTML); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	if !o.Immediate {
		return wake.AfterCommit(ctx, tx, wake.MailOutbox)
	}
	w := wake.From(ctx)
	_ = db.AfterCommit(tx, func(ctx context.Context) error {
		sum, err := o.deliver(ctx, &msg, 1)
		if err != nil {
			slog.WarnContext(ctx, "mail: immediate delivery failed; the outbox cron retries", "err", err.Error())
		}
		if err != nil || sum.Sent == 0 {
			// Still in the outbox: the mail-outbox schedule retries it.
			wake.Now(ctx, w, wake.MailOutbox)
		}
		return nil // the mail is safe in the outbox either way
	})
	return nil
}

// Summary is what one Deliver run did.
type Summary struct {
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
	GaveUp int `json:"gave_up"`
}

// Deliver sends up to limit due messages. Each is claimed (attempts
// counted, hidden for Lease) in a short transaction, sent with no lock
// held, then marked sent, so a message is sent once unless the process
// dies between the send and the mark (then at most once more, after the
// lease). A failure is retried after Backoff, up to MaxAttempts.
func (o *Outbox) Deliver(ctx context.Context, limit int) (Summary, error) {
	return o.deliver(ctx, nil, limit)
}

type claimed struct {
	id       uuid.UUID
	attempts int
	m        Message
}

func (o *Outbox) deliver(ctx context.Context, only *uuid.UUID, limit int) (Summary, error) {
	var sum Summary
	lease := o.Lease
	if lease == 0 {
		lease = 2 * time.Minute
	}
	var batch []claimed
	err := db.Tx(ctx, o.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE mail_outbox o SET attempts = attempts + 1, next_attempt_at = now() + $3::interval
			WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()
			  AND ($1::uuid IS NULL OR id = $1) ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING id, attempts, recipients, subject, body_text, body_html`,
			only, limit, fmt.Sprintf("%d milliseconds", lease.Milliseconds()))
		if err != nil {
			return err
		}
		batch, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			err := r.Scan(&c.id, &c.attempts, &c.m.To, &c.m.Subject, &c.m.Text, &c.m.HTML)
			return c, err
		})
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("mail: claim: %w", err)
	}
	maxAttempts := o.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = 5
	}
	for _, c := range batch {
		sendErr := o.Sender.Send(ctx, c.m)
		var q string
		var args []any
		switch {
		case sendErr == nil:
			sum.Sent++
			q, args = `UPDATE mail_outbox SET sent_at = now(), body_text = '', body_html = '', last_error = NULL WHERE id = $1`, []any{c.id}
		case c.attempts >= maxAttempts:
			sum.GaveUp++
			q, args = `UPDATE mail_outbox SET gave_up_at = now(), body_text = '', body_html = '', last_error = $2 WHERE id = $1`, []any{c.id, truncate(sendErr.Error())}
		default:
			sum.Failed++
			q, args = `UPDATE mail_outbox SET next_attempt_at = now() + $3::interval, last_error = $2 WHERE id = $1`,
				[]any{c.id, truncate(sendErr.Error()), fmt.Sprintf("%d milliseconds", o.backoff(c.attempts).Milliseconds())}
		}
		if err := db.Tx(ctx, o.Pool, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, q, args...); return err }); err != nil {
			return sum, fmt.Errorf("mail: record attempt: %w", err)
		}
		if sendErr != nil {
			slog.WarnContext(ctx, "mail: delivery failed", "attempt", c.attempts, "err", sendErr.Error())
		}
	}
	return sum, nil
}

func (o *Outbox) backoff(attempt int) time.Duration {
	if o.Backoff != nil {
		return o.Backoff(attempt)
	}
	d := time.Minute
	for i := 1; i < attempt; i++ {
		d *= 5
	}
	return d
}

func truncate(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// NoQueue is a Queue that drops every message (services built without
// mail, in tests that do not look at it).
type NoQueue struct{}

// Enqueue implements Queue.
func (NoQueue) Enqueue(context.Context, pgx.Tx, Message) error { return nil }

// Pending reports whether any message is still to be sent (due now or
// after a backoff): while one is, the due-only mail-outbox schedule stays
// on.
func (o *Outbox) Pending(ctx context.Context) (bool, error) {
	var p bool
	err := db.Tx(ctx, o.Pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL)`).Scan(&p)
	})
	if err != nil {
		return false, fmt.Errorf("mail: pending: %w", err)
	}
	return p, nil
}

// NextDue is when the earliest message still to be sent falls due (the
// zero time when none): a mail-outbox run whose only work left is a retry
// far ahead switches its schedule off until then.
func (o *Outbox) NextDue(ctx context.Context) (time.Time, error) {
	var at *time.Time
	err := db.Tx(ctx, o.Pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT min(next_attempt_at) FROM mail_outbox WHERE sent_at IS NULL AND gave_up_at IS NULL`).Scan(&at)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("mail: next due: %w", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}
