package webhook

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Delivery is the record of one event's delivery to one endpoint.
type Delivery struct {
	ID             id.DeliveryID `json:"id"`
	Message        id.MessageID  `json:"message_id"`
	EventType      string        `json:"event_type"`
	Status         string        `json:"status"` // pending, delivered, failed
	Attempts       int           `json:"attempts"`
	NextAttemptAt  *time.Time    `json:"next_attempt_at,omitempty"`
	LastAttemptAt  *time.Time    `json:"last_attempt_at,omitempty"`
	ResponseStatus *int          `json:"response_status,omitempty"`
	LatencyMS      *int          `json:"latency_ms,omitempty"`
	LastError      string        `json:"last_error,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	FinishedAt     *time.Time    `json:"finished_at,omitempty"`
}

func (s *Service) deliveries(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.ListDeliveries"
	p, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", "pending", "delivered", "failed":
	default:
		return problem.Field(op, "status", "must be pending, delivered or failed")
	}
	rows, err := a.Tx.Query(r.Context(), `SELECT d.id, d.message_id, m.event_type, d.status, d.attempts,
			CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.last_attempt_at, d.response_status,
			d.latency_ms, coalesce(d.last_error, ''), d.created_at, d.finished_at
		FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
		WHERE d.workspace_id = $1 AND d.endpoint_id = $2 AND d.id > $3 AND ($4 = '' OR d.status = $4)
		ORDER BY d.id LIMIT $5`, a.Workspace, a.Webhook(), p.After, status, p.Limit+1)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := row.Scan(&d.ID, &d.Message, &d.EventType, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.LastAttemptAt,
			&d.ResponseStatus, &d.LatencyMS, &d.LastError, &d.CreatedAt, &d.FinishedAt)
		return d, err
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, httpx.NewList(p, items, func(d Delivery) uuid.UUID { return d.ID.UUID() }))
	return nil
}

// resend schedules a delivery again at once, whatever its state: a new
// series of attempts with the same webhook-id (receivers deduplicate on it).
// resendInput names the delivery to send again.
type resendInput struct {
	Delivery id.DeliveryID `json:"delivery"`
}

// resendReply is the delivery, pending again.
type resendReply struct {
	ID     id.DeliveryID `json:"id"`
	Status string        `json:"status"`
}

func (s *Service) resend(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.Resend"
	var in resendInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	var st string
	err := a.Tx.QueryRow(r.Context(), `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, last_error = NULL,
			next_attempt_at = now(), lease_until = NULL, finished_at = NULL
		WHERE workspace_id = $1 AND endpoint_id = $2 AND id = $3 RETURNING status`,
		a.Workspace, a.Webhook(), in.Delivery).Scan(&st)
	if err != nil {
		return guard.NotFoundOr(op, err)
	}
	if _, err := a.Tx.Exec(r.Context(), `SELECT pg_notify($1, '')`, notifyChannel); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := wake.AfterCommit(r.Context(), a.Tx, wake.WebhookRetries); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusAccepted, resendReply{ID: in.Delivery, Status: st})
	return nil
}

// TestEvent is the type of the event the test route sends.
const TestEvent = "webhook.test"

// testReply is the test route's answer.
type testReply struct {
	Message id.MessageID `json:"message"`
	Type    string       `json:"type"`
}

// test sends a webhook.test event to this endpoint only (whatever its
// event filter), signed and delivered like any other, so an integration
// can be checked end to end; its delivery shows in the endpoint's list.
func (s *Service) test(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "webhook.Test"
	msg, err := enqueueTo(r.Context(), a.Tx, a.Workspace, []id.WebhookID{a.Webhook()}, TestEvent, map[string]any{
		"endpoint": a.Webhook(), "message": "a test event from Framebroker",
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusAccepted, testReply{Message: msg, Type: TestEvent})
	return nil
}
