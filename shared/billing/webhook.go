package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stripe/stripe-go/v85"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// WebhookTolerance is how old a Stripe-Signature timestamp may be.
const WebhookTolerance = 5 * time.Minute

// MaxWebhookBody bounds a Stripe event body.
const MaxWebhookBody = 256 << 10

// ErrBadSignature is returned for an event whose Stripe-Signature is
// missing, malformed, wrong or older than WebhookTolerance.
var ErrBadSignature = errors.New("billing: Stripe-Signature does not verify")

// VerifyEvent checks body's Stripe-Signature header against secret (HMAC-
// SHA256 over "t.body", timestamp within WebhookTolerance of now, in the
// past or the future) with stripe-go's webhook package and parses the
// event. An empty secret verifies nothing.
func VerifyEvent(body []byte, header, secret string) (stripe.Event, error) {
	if secret == "" {
		return stripe.Event{}, ErrBadSignature
	}
	ev, err := stripewebhook.ConstructEventWithOptions(body, header, secret, stripewebhook.ConstructEventOptions{
		Tolerance: WebhookTolerance, IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		if errors.Is(err, stripewebhook.ErrNoValidSignature) || errors.Is(err, stripewebhook.ErrTooOld) ||
			errors.Is(err, stripewebhook.ErrNotSigned) || errors.Is(err, stripewebhook.ErrInvalidHeader) {
			return stripe.Event{}, ErrBadSignature
		}
		return stripe.Event{}, fmt.Errorf("billing: event: %w", err)
	}
	// stripe-go refuses only old signatures; one dated further ahead than
	// the tolerance is no better (a skewed or forged clock) and is refused
	// the same way.
	if signedAt, ok := signatureTime(header); !ok || signedAt.After(time.Now().Add(WebhookTolerance)) {
		return stripe.Event{}, ErrBadSignature
	}
	if ev.ID == "" || ev.Data == nil {
		return stripe.Event{}, errors.New("billing: event without id or data")
	}
	return ev, nil
}

// signatureTime is the t= timestamp of a Stripe-Signature header.
func signatureTime(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "t" {
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(sec, 0), true
		}
	}
	return time.Time{}, false
}

// webhook receives Stripe events: verified, then applied once per event id.
// Events of other types, or naming no workspace of ours, are acknowledged
// and ignored.
// webhookReply acknowledges a Stripe event and says what it did.
type webhookReply struct {
	Received string `json:"received"`
	Outcome  string `json:"outcome"`
}

func (s *Service) webhook(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
	const op = "billing.Webhook"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		return problem.E(op, problem.TooLarge, "event body too large")
	}
	ev, err := VerifyEvent(body, r.Header.Get("Stripe-Signature"), s.webhookSecret)
	if errors.Is(err, ErrBadSignature) {
		return &problem.Error{Op: op, Kind: problem.Invalid, Detail: "Stripe-Signature does not verify", Err: err}
	}
	if err != nil {
		return &problem.Error{Op: op, Kind: problem.Invalid, Detail: "not a Stripe event", Err: err}
	}
	outcome, err := s.apply(r.Context(), ev)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, webhookReply{Received: ev.ID, Outcome: outcome})
	return nil
}

// Event outcomes.
const (
	outcomeApplied   = "applied"
	outcomeDuplicate = "duplicate"
	outcomeIgnored   = "ignored"
)

// apply performs ev's effect once.
func (s *Service) apply(ctx context.Context, ev stripe.Event) (string, error) {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return "", fmt.Errorf("checkout session: %w", err)
		}
		if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid || cs.Currency != stripe.CurrencyUSD || cs.AmountTotal <= 0 {
			return outcomeIgnored, nil
		}
		amount := cs.AmountTotal * (USD / 100) // cents → Micros
		return s.once(ctx, ev, cs.Metadata["workspace_id"], func(tx pgx.Tx, ws id.WorkspaceID) error {
			if _, err := tx.Exec(ctx, `INSERT INTO credit_ledger (workspace_id, amount_micros, reason, stripe_event) VALUES ($1, $2, 'purchase', $3)`,
				ws, amount, ev.ID); err != nil {
				return err
			}
			_, err := ledger.Append(ctx, tx, ws, "system:stripe", "credits.purchased", "stripe:"+cs.ID,
				map[string]any{"amount_micros": amount, "stripe_event": ev.ID, "checkout_session": cs.ID})
			return err
		})
	case "setup_intent.succeeded":
		var si stripe.SetupIntent
		if err := json.Unmarshal(ev.Data.Raw, &si); err != nil {
			return "", fmt.Errorf("setup intent: %w", err)
		}
		return s.once(ctx, ev, si.Metadata["workspace_id"], func(tx pgx.Tx, ws id.WorkspaceID) error {
			if err := MarkCardVerified(ctx, tx, ws); err != nil {
				return err
			}
			_, err := ledger.Append(ctx, tx, ws, "system:stripe", "billing.card_verified", "stripe:"+si.ID,
				map[string]any{"stripe_event": ev.ID, "setup_intent": si.ID})
			return err
		})
	}
	return outcomeIgnored, nil
}

// once runs fn for the workspace named by wsText in a transaction that also
// records ev's id; an event already recorded does nothing.
func (s *Service) once(ctx context.Context, ev stripe.Event, wsText string, fn func(pgx.Tx, id.WorkspaceID) error) (string, error) {
	var ws id.WorkspaceID
	if ws.UnmarshalText([]byte(wsText)) != nil {
		slog.WarnContext(ctx, "stripe event names no workspace", "event", ev.ID, "type", string(ev.Type))
		return outcomeIgnored, nil
	}
	outcome := outcomeApplied
	err := db.InWorkspace(ctx, s.pool, ws.UUID().String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO stripe_events (id, workspace_id, type) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			ev.ID, ws, string(ev.Type))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			outcome = outcomeDuplicate
			return nil
		}
		return fn(tx, ws)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // the workspace is gone
		slog.WarnContext(ctx, "stripe event for a missing workspace", "event", ev.ID, "workspace", ws.String())
		return outcomeIgnored, nil
	}
	if err != nil {
		return "", fmt.Errorf("billing: apply %s: %w", ev.ID, err)
	}
	return outcome, nil
}
