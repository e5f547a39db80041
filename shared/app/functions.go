package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/app/identitywire"
	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/pages"
	"github.com/framebroker/framebroker/shared/provenance"
	"github.com/framebroker/framebroker/shared/tenancy"
	"github.com/framebroker/framebroker/shared/webhook"
)

// newBase is what every function has: the configuration, the pool, the
// keys, the mail outbox and the waker of the due-only crons.
func newBase(cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	a := &App{Config: cfg, Pool: pool, Waker: &wake.Late{}}
	if cfg.Keyring != "" {
		k, err := keyring.ParseKeyring([]byte(cfg.Keyring))
		if err != nil {
			return nil, err
		}
		a.Keys = k
	} else {
		a.Keys = keyring.Default()
	}
	a.Mail = &mail.Outbox{Pool: pool, Sender: identitywire.MailerFromConfig(cfg), Immediate: true}
	return a, nil
}

// newCore is what every function serving routes has: newBase and the
// identity service (the guard's authenticator).
func newCore(cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	a, err := newBase(cfg, pool)
	if err != nil {
		return nil, err
	}
	a.Identity = identity.NewService(pool, identitywire.FromConfig(cfg)...)
	a.Identity.Use(identity.WithMail(a.Mail))
	return a, nil
}

// Wire builds the App a Lambda function serves from: Full for every route,
// or one of the per-function constructors, which wire only what that
// function's routes (or, for the pipeline, its steps) need, so its binary
// links only those packages (a function's main names its constructor; the
// linker keeps what it reaches). TestFunctionWiringMatchesTable checks each
// serves exactly the routes the full table gives its function;
// lambdafn.TestFunctionImports checks what each links.
type Wire func(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error)

// Full wires every route (NewWith on the configured media store).
func Full(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	store, err := s3blob.FromConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	prober, err := proberFromConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return NewWith(cfg, pool, store, prober)
}

// single wires one function: the core, then the routes groups builds (of
// which only function's are kept). A function with a rate-limited route
// attaches the limits the full table does (limited);
// TestFunctionWiringMatchesTable fails on a limit missing.
func single(cfg config.Config, pool *pgxpool.Pool, function string, groups func(a *App) ([]guard.Route, error)) (*App, error) {
	a, err := newCore(cfg, pool)
	if err != nil {
		return nil, err
	}
	rs, err := groups(a)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Function == function {
			a.routes = append(a.routes, r)
		}
	}
	if len(a.routes) == 0 {
		return nil, fmt.Errorf("app: no routes for function %q", function)
	}
	return a, nil
}

// limited is rs with billing's rate limits attached (billing.ApplyLimits,
// as the full table has them), billing wired without Stripe unless the
// function already wired it. Only functions that have a rate-limited route
// call it: the limiter reaches the billing service, and with it whatever
// reflection can reach from there.
func (a *App) limited(cfg config.Config, rs []guard.Route) []guard.Route {
	if a.Billing == nil {
		a.newBilling(cfg, nil)
	}
	return a.Billing.ApplyLimits(rs)
}

// withPages adds the pages (HTML and their assets) to rs; single keeps
// those of its function. Only the functions serving pages (auth,
// provenance) call it.
func withPages(rs []guard.Route) ([]guard.Route, error) {
	ps, err := pages.Routes()
	return concat(rs, ps), err
}

// Auth wires the auth function: identity's routes and the pages it serves.
func Auth(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, identity.Function, func(a *App) ([]guard.Route, error) { return withPages(a.Identity.Routes()) })
}

// Ledger wires the ledger function.
func Ledger(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, ledger.Function, func(a *App) ([]guard.Route, error) {
		return ledger.NewService(pool, a.Keys).Routes(), nil
	})
}

// Releases wires the releases function (publishing, shot outputs).
func Releases(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, provenance.ReleaseFunction, func(a *App) ([]guard.Route, error) { return a.provenanceRoutes(pool), nil })
}

// Provenance wires the provenance function: the public keys, manifests and
// verification, the verify page, and the API document (the committed one,
// see openapidoc).
func Provenance(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, provenance.Function, func(a *App) ([]guard.Route, error) {
		return withPages(append(a.provenanceRoutes(pool), openAPIRoute()))
	})
}

// Assets wires the assets function: uploads, completion (with ffprobe) and
// downloads on the media store.
func Assets(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, asset.Function, func(a *App) ([]guard.Route, error) {
		var err error
		if a.Blob, err = s3blob.FromConfig(ctx, cfg); err != nil {
			return nil, err
		}
		prober, err := proberFromConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		a.Assets = asset.NewService(pool, a.Blob, prober, cfg.UploadTTL)
		return a.Assets.Routes(), nil
	})
}

// Checkout wires the checkout function: the billing routes, with the
// Stripe client (the only function that links it) and Stripe's webhook.
func Checkout(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, billing.Function, func(a *App) ([]guard.Route, error) {
		a.newBilling(cfg, billing.NewStripeClient(cfg.StripeKey, cfg.StripeURL))
		return a.limited(cfg, a.Billing.Routes()), nil
	})
}

// Webhooks wires the webhooks function: endpoints (sealed secrets),
// deliveries and the rate-limited resend.
func Webhooks(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, webhook.Function, func(a *App) ([]guard.Route, error) {
		if err := a.newWebhooks(cfg); err != nil {
			return nil, err
		}
		return a.limited(cfg, a.Webhooks.Routes()), nil
	})
}

// Workspaces wires the workspaces function: workspaces, memberships and
// invitations (tenancy), Content Credentials settings, and the privacy
// settings and deletion requests, whose spend ceilings billing owns. The
// media store is not wired: only the purge (cron) deletes objects.
func Workspaces(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, tenancy.Function, func(a *App) ([]guard.Route, error) {
		a.newBilling(cfg, nil)
		return concat(a.tenancyRoutes(cfg), a.credentialsRoutes(), a.newPrivacy(cfg, nil).Routes()), nil
	})
}

// Jobs wires the jobs function: submission (verified email, billing's
// payment gate and reservation), reads, trails and cancellation, with the
// Step Functions provider. It has no step handlers: the pipeline function
// runs those.
func Jobs(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, job.Function, func(a *App) ([]guard.Route, error) {
		var err error
		if a.Blob, err = s3blob.FromConfig(ctx, cfg); err != nil {
			return nil, err
		}
		a.newBilling(cfg, nil)
		a.newLifecycle()
		a.addProviders(cfg)
		a.newJobService(cfg, a.Blob)
		return a.limited(cfg, a.Pipeline.Jobs.Routes()), nil
	})
}

// Cron wires the cron function (and the purge function, which runs its
// bootstrap): the cron route with every job of cron.Schedule — webhook
// retries, retention, workspace purge, job reconcile (Step Functions
// provider and step handlers), mail outbox, asset verify and sweep.
func Cron(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, cron.Function, func(a *App) ([]guard.Route, error) {
		var err error
		if a.Blob, err = s3blob.FromConfig(ctx, cfg); err != nil {
			return nil, err
		}
		if err := a.newWebhooks(cfg); err != nil {
			return nil, err
		}
		prober, err := proberFromConfig(ctx, cfg) // asset verify probes
		if err != nil {
			return nil, err
		}
		a.newBilling(cfg, nil)
		a.Assets = asset.NewService(pool, a.Blob, prober, cfg.UploadTTL)
		a.newLifecycle()
		a.newSteps(a.Blob, prober)
		a.addProviders(cfg)
		a.newPrivacy(cfg, a.Blob)
		return a.cronRoutes(cfg), nil
	})
}

// Steps wires the pipeline function (the state machine's Lambda tasks): the
// step handlers on the media store with the prober (proberFromConfig), the job lifecycle and its
// listeners (ledger, webhook message, billing settlement, provider
// health). It serves no route: no identity, no dispatcher.
func Steps(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	a, err := newBase(cfg, pool)
	if err != nil {
		return nil, err
	}
	if a.Blob, err = s3blob.FromConfig(ctx, cfg); err != nil {
		return nil, err
	}
	prober, err := proberFromConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.newBilling(cfg, nil)
	a.newLifecycle()
	a.newSteps(a.Blob, prober)
	return a, nil
}
