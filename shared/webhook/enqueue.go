package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/id"
)

// eventTypeRE is an event type: dot-separated lower-case words, e.g.
// "job.completed".
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// ValidEventType reports whether t is a well-formed event type.
func ValidEventType(t string) bool { return len(t) <= 100 && eventTypeRE.MatchString(t) }

// Envelope is the body of every delivery.
type Envelope struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// notifyChannel is the Postgres channel Enqueue notifies on commit, which
// wakes a long-running dispatcher at once.
const notifyChannel = "webhook_outbox"

// matchSQL is true when endpoint e's filters admit event type $t: no
// filter, the exact type, or a "prefix.*" pattern.
const matchSQL = `(cardinality(e.event_types) = 0 OR EXISTS (
	SELECT 1 FROM unnest(e.event_types) p
	WHERE p = @t OR (right(p, 2) = '.*' AND starts_with(@t, left(p, -1)))))`

// Enqueue records an event for delivery to every enabled endpoint of ws whose
// filters admit eventType, in tx: the caller's own transaction, scoped to ws,
// so the delivery exists exactly when the event does (the outbox pattern:
// nothing is lost if the process dies after commit, and nothing is sent for
// a rolled-back event). The body is frozen now (payload is marshalled to
// JSON as the envelope's "data"), so every attempt sends the same bytes.
// It returns the message id (the webhook-id header), or the zero id when no
// endpoint wants the event. Delivery starts after commit.
func Enqueue(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, eventType string, payload any) (id.MessageID, error) {
	if !ValidEventType(eventType) {
		return id.MessageID{}, fmt.Errorf("webhook: invalid event type %q", eventType)
	}
	rows, err := tx.Query(ctx, `SELECT e.id FROM webhook_endpoints e
		WHERE e.workspace_id = @ws AND e.enabled AND `+matchSQL+` ORDER BY e.id`,
		pgx.NamedArgs{"ws": ws, "t": eventType})
	if err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	endpoints, err := pgx.CollectRows(rows, pgx.RowTo[id.WebhookID])
	if err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	return enqueueTo(ctx, tx, ws, endpoints, eventType, payload)
}

// enqueueTo records an event for delivery to the given endpoints of ws.
func enqueueTo(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, endpoints []id.WebhookID, eventType string, payload any) (id.MessageID, error) {
	if len(endpoints) == 0 {
		return id.MessageID{}, nil
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: payload: %w", err)
	}
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	body, err := json.Marshal(Envelope{Type: eventType, Timestamp: now.UTC(), Data: data})
	if err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	msg := id.New[id.MessageID]()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO webhook_messages (id, workspace_id, event_type, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		msg, ws, eventType, body, now)
	for _, ep := range endpoints {
		b.Queue(`INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, message_id, next_attempt_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, id.New[id.DeliveryID](), ws, ep, msg, now)
	}
	b.Queue(`SELECT pg_notify($1, '')`, notifyChannel)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	// The deliveries are due now: the webhook-retries schedule runs once
	// they are committed (it is off while nothing is pending).
	if err := wake.AfterCommit(ctx, tx, wake.WebhookRetries); err != nil {
		return id.MessageID{}, fmt.Errorf("webhook: enqueue: %w", err)
	}
	return msg, nil
}

// Pending reports whether any delivery may still be attempted (pending, to
// an enabled endpoint), due now or later: while one is, the due-only
// webhook-retries schedule stays on.
func (s *Service) Pending(ctx context.Context) (bool, error) {
	var p bool
	if err := s.pool.QueryRow(ctx, `SELECT webhook_pending()`).Scan(&p); err != nil {
		return false, fmt.Errorf("webhook: pending: %w", err)
	}
	return p, nil
}

// NextDue is when the earliest pending delivery falls due (the zero time
// when none is pending; now while one is in flight): a webhook-retries run
// whose only work left is a retry hours away switches its schedule off
// until then.
func (s *Service) NextDue(ctx context.Context) (time.Time, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT webhook_next_due()`).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("webhook: next due: %w", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}
