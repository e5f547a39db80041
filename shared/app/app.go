// Package app is the composition root: it turns a Config into the wired
// services, the router table, and the HTTP handler that both the Lambdas and
// the local server serve. Local and AWS differ only in the Config.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/health"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/openapi"
	"github.com/framebroker/framebroker/shared/pages"
	"github.com/framebroker/framebroker/shared/privacy"
	"github.com/framebroker/framebroker/shared/tenancy"
	"github.com/framebroker/framebroker/shared/webhook"
)

// HealthFunction is the Lambda serving /healthz.
const HealthFunction = health.Function

// App holds the process-wide dependencies.
type App struct {
	Config   config.Config
	Pool     *pgxpool.Pool
	Blob     *s3blob.Store
	Identity *identity.Service
	Webhooks *webhook.Service
	// Keys sign ledger checkpoints and provenance manifests (local: a
	// keyring file under keyring.DefaultDir; AWS: a Secrets Manager adapter).
	Keys keyring.Provider
	// credIssuer issues Content Credentials signers (see credentialsIssuer).
	credIssuer *credentials.Issuer
	// Pipeline runs encode jobs.
	Pipeline *Pipeline
	// Billing is checkout, credits, spend ceilings and rate limits.
	Billing *billing.Service
	// Privacy serves settings and deletion and runs purge and retention.
	Privacy *privacy.Service
	// Mail is the transactional mail outbox: domains queue mail in their
	// transactions; it is delivered after commit and by the mail-outbox cron.
	Mail *mail.Outbox
	// Assets serves uploads and runs their verify and sweep crons.
	Assets *asset.Service
	// Waker switches on the due-only crons' schedules when work for them
	// commits (package wake): every request's context and every pipeline
	// step's carries it. Its target is set by the runtime: EventBridge
	// rules in a Lambda (lambdafn/appfn), the local cron.Scheduler in
	// `framebroker dev`; until then it wakes nothing.
	Waker   *wake.Late
	routes  []guard.Route
	handler http.Handler

	openAPI openapi.Document
}

// New wires every dependency from cfg.
func New(ctx context.Context, cfg config.Config) (*App, error) {
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	store, err := s3blob.FromConfig(ctx, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	a, err := NewWith(cfg, pool, store, media.FFprobe{})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return a, nil
}

// NewWith wires the services on already-open dependencies (tests use it to
// point at a per-test database). This is the full app: every route, the
// local encode provider, the generated API document. A Lambda serves from
// its function's constructor (functions.go), which wires only what that
// function's routes need.
func NewWith(cfg config.Config, pool *pgxpool.Pool, store *s3blob.Store, prober asset.Prober) (*App, error) {
	a, err := newCore(cfg, pool)
	if err != nil {
		return nil, err
	}
	a.Blob = store
	var bs blob.Store = store
	if err := a.newWebhooks(cfg); err != nil {
		return nil, err
	}
	a.newBilling(cfg, billing.NewStripeClient(cfg.StripeKey, cfg.StripeURL))
	a.Assets = asset.NewService(pool, store, prober, cfg.UploadTTL)
	a.routes = a.Billing.ApplyLimits(concat(
		health.Routes(),
		a.Identity.Routes(),
		a.tenancyRoutes(cfg),
		a.Assets.Routes(),
		a.newPipeline(cfg, bs, prober),
		a.Webhooks.Routes(),
		ledger.NewService(pool, a.Keys).Routes(),
		a.provenanceRoutes(pool),
		a.credentialsRoutes(),
		a.newPrivacy(cfg, bs).Routes(),
		a.cronRoutes(cfg),
		a.Billing.Routes(),
	))
	pageRoutes, err := pages.Routes()
	if err != nil {
		return nil, err
	}
	a.routes = append(append(a.routes, pageRoutes...), openAPIRoute())
	if err := a.buildOpenAPI(); err != nil {
		return nil, err
	}
	h, err := a.FunctionHandler("")
	if err != nil {
		return nil, err
	}
	a.handler = h
	return a, nil
}

// tenancyRoutes are the workspace, membership and invitation routes.
func (a *App) tenancyRoutes(cfg config.Config) []guard.Route {
	return tenancy.NewService(a.Pool, a.Identity).WithMail(a.Mail, cfg.PublicURL).Routes()
}

// credentialsRoutes are the Content Credentials settings routes.
func (a *App) credentialsRoutes() []guard.Route {
	return (&credentials.Service{Issuer: a.credentialsIssuer()}).Routes()
}

func concat(groups ...[]guard.Route) []guard.Route {
	var out []guard.Route
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// Routes is the router table: every route of the API with its guard policy.
func (a *App) Routes() []guard.Route { return a.routes }

// Functions lists the Lambda functions the table's routes are served by.
func (a *App) Functions() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range a.routes {
		if !seen[r.Function] {
			seen[r.Function] = true
			out = append(out, r.Function)
		}
	}
	sort.Strings(out)
	return out
}

// Handler serves every route of the API (the local server).
func (a *App) Handler() http.Handler { return a.handler }

// FunctionHandler serves the routes of one Lambda function ("" for all).
func (a *App) FunctionHandler(function string) (http.Handler, error) {
	var rs []guard.Route
	for _, r := range a.routes {
		if function == "" || r.Function == function {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("app: no routes for function %q", function)
	}
	mux, err := guard.NewMux(rs, a.Identity, a.Pool)
	if err != nil {
		return nil, err
	}
	waker := a.Waker
	return httpx.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(wake.With(r.Context(), waker)))
	})), nil
}

// Close releases the pool.
func (a *App) Close() { a.Pool.Close() }

// SetupLogging installs the JSON slog handler (with request ids) as default.
func SetupLogging(level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	slog.SetDefault(slog.New(httpx.LogHandler{Handler: slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})}))
}
