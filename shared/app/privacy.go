package app

import (
	"context"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/privacy"
	"github.com/framebroker/framebroker/shared/reconcile"
)

// newPrivacy wires the settings, deletion, purge and retention service.
func (a *App) newPrivacy(cfg config.Config, store blob.Store) *privacy.Service {
	a.Privacy = &privacy.Service{Pool: a.Pool, Store: store, Keys: a.Keys, Grace: cfg.DeletionGrace,
		Ceilings: ceilingSettings{a.Billing}}
	return a.Privacy
}

// retention is the retention cron: expired identity rows and spent
// rate-limit rows, webhook delivery records, the spend-window roll, then
// job trails and ledger events per workspace.
func (a *App) retention(ctx context.Context) (any, error) {
	auth, err := a.sweepAuth(ctx)
	if err != nil {
		return nil, err
	}
	hooks, err := a.Webhooks.Trim(ctx)
	if err != nil {
		return nil, err
	}
	windows, err := a.Billing.RollWindows(ctx)
	if err != nil {
		return nil, err
	}
	sum, err := a.Privacy.Retain(ctx)
	return map[string]any{"auth": auth, "webhook_deliveries_deleted": hooks, "spend_windows_deleted": windows, "workspaces": sum}, err
}

// reconcileJobs is the job-reconcile cron (see shared/reconcile).
func (a *App) reconcileJobs(ctx context.Context) (any, error) {
	r := reconcile.Reconciler{Pool: a.Pool, Starter: a.Pipeline.Dispatcher, Steps: a.Pipeline.Steps}
	return r.Run(ctx)
}

// reconcilePending is the job-reconcile cron's pending check: any open job.
func (a *App) reconcilePending(ctx context.Context) (bool, error) {
	r := reconcile.Reconciler{Pool: a.Pool}
	return r.Pending(ctx)
}
