package app

import (
	"fmt"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/webhook"
)

// record is the ledger seam for the webhook, settings and deletion events:
// replace webhook.LogRecorder with an adapter over ledger.Append when the
// ledger lands (one line).
var record webhook.Recorder = webhook.LogRecorder

// mailer is the transactional mail sender cfg configures.
func mailer(cfg config.Config) mail.Sender {
	if cfg.SMTPAddr == "" {
		return mail.Discard{}
	}
	return mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.MailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
}

// newWebhooks wires the webhook service from cfg. Without a webhook key the
// service runs but refuses to create endpoints (503).
func (a *App) newWebhooks(cfg config.Config) error {
	var key []byte
	if cfg.WebhookKey != "" {
		k, err := webhook.ParseKey(cfg.WebhookKey)
		if err != nil {
			return fmt.Errorf("app: %s: %w", config.EnvWebhookKey, err)
		}
		key = k
	}
	ciph, err := webhook.NewCipher(key)
	if err != nil {
		return err
	}
	allow, err := webhook.ParseAllow(cfg.WebhookAllowCIDRs)
	if err != nil {
		return fmt.Errorf("app: %s: %w", config.EnvWebhookAllow, err)
	}
	a.Webhooks = webhook.NewService(webhook.Config{
		Pool: a.Pool, Cipher: ciph, Addresses: webhook.AddressPolicy{Allow: allow},
		Mail: mailer(cfg), Record: record,
	})
	return nil
}
