package app

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/app/identitywire"
	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/pages"
	"github.com/framebroker/framebroker/shared/provenance"
)

// newCore is what every function has: the configuration, the pool, the
// identity service (the guard's authenticator), the keys and the mail
// outbox.
func newCore(cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	a := &App{Config: cfg, Pool: pool, Identity: identity.NewService(pool, identitywire.FromConfig(cfg)...), Waker: &wake.Late{}}
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
	a.Identity.Use(identity.WithMail(a.Mail))
	return a, nil
}

// Wire builds the App a Lambda function serves from: Full for every route,
// or one of the per-function constructors, which wire only what that
// function's routes need, so its binary links only those packages (a
// function's main names its constructor; the linker keeps what it reaches).
// TestFunctionWiringMatchesTable checks each serves exactly the routes the
// full table gives its function.
type Wire func(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error)

// Full wires every route (the functions whose routes need most of the app:
// jobs, checkout, workspaces, webhooks, provenance with the OpenAPI
// document, cron, pipeline).
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

// only keeps the routes of function.
func only(function string, groups ...[]guard.Route) []guard.Route {
	var out []guard.Route
	for _, r := range concat(groups...) {
		if r.Function == function {
			out = append(out, r)
		}
	}
	return out
}

// single wires one function: the core, then the routes groups builds (of
// which, with the pages, only function's are kept).
func single(cfg config.Config, pool *pgxpool.Pool, function string, groups func(a *App) ([]guard.Route, error)) (*App, error) {
	a, err := newCore(cfg, pool)
	if err != nil {
		return nil, err
	}
	rs, err := groups(a)
	if err != nil {
		return nil, err
	}
	ps, err := pages.Routes()
	if err != nil {
		return nil, err
	}
	if a.routes = only(function, rs, ps); len(a.routes) == 0 {
		return nil, fmt.Errorf("app: no routes for function %q", function)
	}
	return a, nil
}

// Auth wires the auth function: identity's routes and the pages it serves.
func Auth(_ context.Context, cfg config.Config, pool *pgxpool.Pool) (*App, error) {
	return single(cfg, pool, identity.Function, func(a *App) ([]guard.Route, error) { return a.Identity.Routes(), nil })
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
