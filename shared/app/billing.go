package app

import (
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/config"
)

// newBilling wires the money and abuse controls (T-10): Stripe checkout and
// card checks, the webhook, and (through newPipeline) the payment gate,
// spend reservations and their settlement. The rate limiter is attached to
// the expensive routes of the table by billing.ApplyLimits.
func (a *App) newBilling(cfg config.Config) {
	a.Billing = billing.NewService(billing.Config{
		Pool: a.Pool, StripeKey: cfg.StripeKey, StripeURL: cfg.StripeURL, WebhookSecret: cfg.StripeWebhookSecret,
		Mail: mailer(cfg), PublicURL: cfg.PublicURL,
	})
}
