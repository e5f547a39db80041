package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/tenancy"
	"github.com/framebroker/framebroker/shared/webhook"
)

// record appends the webhook, settings and deletion events to the
// workspace's ledger, in the caller's transaction.
var record webhook.Recorder = func(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, actor, typ, subject string, payload any) error {
	_, err := ledger.Append(ctx, tx, ws, actor, typ, subject, payload)
	return err
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
		Mail: a.Mail, Owners: tenancy.OwnerEmails, Record: record,
	})
	return nil
}

// cronRoutes is the /internal/cron/{name} route with the jobs of
// cron.Schedule.
func (a *App) cronRoutes(cfg config.Config) []guard.Route {
	fullLedger := ledger.NewService(a.Pool, a.Keys)
	jobs := map[string]cron.JobFunc{
		cron.WebhookRetries: func(ctx context.Context) (any, error) {
			n, err := a.Webhooks.NewDispatcher().RunOnce(ctx)
			return map[string]int{"attempts": n}, err
		},
		cron.Retention: a.retention,
		cron.WorkspacePurge: func(ctx context.Context) (any, error) {
			return a.Privacy.Purge(ctx)
		},
		cron.JobReconcile: a.reconcileJobs,
		cron.MailOutbox: func(ctx context.Context) (any, error) {
			return a.Mail.Deliver(ctx, 200)
		},
		cron.AssetVerify: func(ctx context.Context) (any, error) {
			return a.Assets.Verify(ctx)
		},
		cron.AssetSweep: func(ctx context.Context) (any, error) {
			return a.Assets.Sweep(ctx)
		},
		cron.LedgerFull: func(ctx context.Context) (any, error) {
			return fullLedger.RunRequestedFull(ctx)
		},
	}
	// The due-only jobs' pending checks (cron.Entry.DueOnly): a run that
	// leaves nothing pending switches its schedule off.
	pending := map[string]cron.PendingFunc{
		cron.WebhookRetries: a.Webhooks.Pending,
		cron.MailOutbox:     a.Mail.Pending,
		cron.AssetVerify:    a.Assets.VerifyPending,
		cron.JobReconcile:   a.reconcilePending,
		cron.LedgerFull:     fullLedger.FullPending,
	}
	// Retries can be due hours ahead: with a wake.Timer the schedule is off
	// until the earliest one.
	next := map[string]cron.NextFunc{cron.WebhookRetries: a.Webhooks.NextDue, cron.MailOutbox: a.Mail.NextDue}
	return cron.NewRunner(a.Pool, cfg.CronSecret, jobs).WithPending(pending).WithNext(next).Routes()
}
