package app

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v85"

	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/privacy"
)

// newBilling wires the money and abuse controls (T-10): Stripe checkout and
// card checks, the webhook, and (through newPipeline) the payment gate,
// spend reservations and their settlement. The rate limiter is attached to
// the expensive routes of the table by billing.ApplyLimits. Only the
// wirings that serve the billing routes (Full, Checkout) pass a Stripe
// client (billing.NewStripeClient); the others use billing for limits,
// ceilings and job hooks and pass nil, so they do not link Stripe's client.
func (a *App) newBilling(cfg config.Config, sc *stripe.Client) {
	a.Billing = billing.NewService(billing.Config{
		Pool: a.Pool, Stripe: sc, WebhookSecret: cfg.StripeWebhookSecret,
		Mail: a.Mail, PublicURL: cfg.PublicURL,
	})
}

// ceilingSettings lets the settings route (privacy) read and change the
// spend ceilings billing owns, without either package importing the other.
type ceilingSettings struct{ b *billing.Service }

func usdCeilings(c billing.Ceilings) privacy.SpendCeilings {
	return privacy.SpendCeilings{Hourly: billing.DecimalUSD(c.Hour), Daily: billing.DecimalUSD(c.Day), Monthly: billing.DecimalUSD(c.Month)}
}

func (c ceilingSettings) SpendCeilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (privacy.SpendCeilings, error) {
	v, err := c.b.Ceilings(ctx, tx, ws)
	return usdCeilings(v), err
}

func (c ceilingSettings) SetSpendCeilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, in privacy.SpendCeilings) (privacy.SpendCeilings, error) {
	v, err := c.b.SetCeilingsUSD(ctx, tx, ws, in.Hourly, in.Daily, in.Monthly)
	return usdCeilings(v), err
}
