package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v85"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
)

// Function is the Lambda that serves the billing routes.
const Function = "checkout"

// Config wires a Service.
type Config struct {
	Pool *pgxpool.Pool
	// Stripe is the Stripe API client (NewStripeClient); nil disables
	// checkout and card checks (503). Only the checkout function's wiring
	// builds one, so the functions that use billing for limits, ceilings or
	// job hooks do not link Stripe's client.
	Stripe *stripe.Client
	// WebhookSecret verifies Stripe-Signature; empty refuses every event.
	WebhookSecret string
	// Mail queues the owners' spend alerts (nil: none are sent).
	Mail mail.Queue
	// PublicURL is the web app's base URL (Checkout's return pages).
	PublicURL string
}

// Service serves the billing routes and provides the job hooks.
type Service struct {
	pool          *pgxpool.Pool
	stripe        *stripe.Client
	webhookSecret string
	mail          mail.Queue
	publicURL     string
	// Plans are the plans by name; DefaultPlans unless replaced.
	Plans map[string]Plan
	// RateClock, when set, is the instant the route rate limits are
	// evaluated at instead of the database clock. Nil in production (the
	// database clock is shared by every instance); tests set a fixed clock
	// so the limits' arithmetic does not depend on the machine's speed.
	RateClock func() time.Time
	// plans caches workspaces' plan names for the rate limiter.
	plans sync.Map
}

// NewService returns a Service.
func NewService(c Config) *Service {
	s := &Service{pool: c.Pool, stripe: c.Stripe, webhookSecret: c.WebhookSecret, mail: c.Mail, publicURL: c.PublicURL, Plans: DefaultPlans()}
	if s.mail == nil {
		s.mail = mail.NoQueue{}
	}
	return s
}

// NewStripeClient is the Stripe client for Config.Stripe: secret key key
// (empty: nil, checkout and card checks answer 503), API base URL url when
// set (stripe-mock), one network retry, Stripe's own logging off.
func NewStripeClient(key, url string) *stripe.Client {
	if key == "" {
		return nil
	}
	bc := &stripe.BackendConfig{
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(1),
	}
	if url != "" {
		bc.URL = stripe.String(url)
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))
}

// Routes are the billing routes.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/checkout", Policy: guard.Member(guard.Admin), Handler: s.checkout, NoTx: true,
			Example: `{"credits":25}`,
			Summary: "Buy credits: a Stripe Checkout session", Request: checkoutInput{}, Reply: checkoutReply{}, Status: http.StatusCreated},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/billing/card-check", Policy: guard.Member(guard.Admin), Handler: s.cardCheck, NoTx: true,
			Summary: "Check a card on file (SetupIntent, never charged)", Reply: cardCheckReply{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/billing", Policy: guard.Member(guard.Viewer), Handler: s.summary,
			Summary: "Plan, credits, ceilings and spend windows", Reply: summaryReply{}},
		{Method: "POST", Pattern: "/v1/stripe/webhook", Policy: guard.Public(), Handler: s.webhook,
			Summary: "Stripe's events (Stripe-Signature), applied once per event id", Reply: webhookReply{}},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}

// ApplyLimits returns routes with the rate limiter attached to every
// expensive route (see limitedRoutes); the other routes are unchanged.
func (s *Service) ApplyLimits(routes []guard.Route) []guard.Route {
	out := make([]guard.Route, len(routes))
	for i, r := range routes {
		if name, ok := limitedRoutes[r.Method+" "+r.Pattern]; ok {
			r.Limit = &Limiter{s: s, name: name}
		}
		out[i] = r
	}
	return out
}

// account is a workspace's billing state.
type account struct {
	Plan         string
	Customer     string
	CardVerified bool
	Credits      Micros
	Ceilings     Ceilings
}

// accountSQL reads a workspace's account ($1; $2 the default plan).
const accountSQL = `SELECT coalesce(b.plan, $2), coalesce(b.stripe_customer, ''), b.card_verified_at IS NOT NULL,
	b.hourly_ceiling, b.daily_ceiling, b.monthly_ceiling,
	coalesce((SELECT sum(amount_micros) FROM credit_ledger WHERE workspace_id = $1), 0)::bigint
	FROM (SELECT 1) one LEFT JOIN billing_accounts b ON b.workspace_id = $1`

// scanAccount reads an accountSQL row, filling ceilings from the plan.
func (s *Service) scanAccount(row pgx.Row) (account, error) {
	var a account
	var h, d, m *int64
	if err := row.Scan(&a.Plan, &a.Customer, &a.CardVerified, &h, &d, &m, &a.Credits); err != nil {
		return a, fmt.Errorf("billing: account: %w", err)
	}
	a.Ceilings = s.plan(a.Plan).Ceilings
	for _, o := range []struct {
		v   *int64
		dst *Micros
	}{{h, &a.Ceilings.Hour}, {d, &a.Ceilings.Day}, {m, &a.Ceilings.Month}} {
		if o.v != nil {
			*o.dst = *o.v
		}
	}
	return a, nil
}

// loadAccount reads ws's account (defaults when it has none) inside tx,
// which must be scoped to ws.
func (s *Service) loadAccount(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (account, error) {
	return s.scanAccount(tx.QueryRow(ctx, accountSQL, ws, DefaultPlan))
}

// plan returns the named plan, or the default plan for an unknown name.
func (s *Service) plan(name string) Plan {
	if p, ok := s.Plans[name]; ok {
		return p
	}
	return s.Plans[DefaultPlan]
}

// SetAccount sets ws's plan and ceilings (nil keeps the plan's), creating
// its billing account if needed. tx must be scoped to ws.
func SetAccount(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, plan string, c *Ceilings) error {
	var h, d, m *int64
	if c != nil {
		h, d, m = &c.Hour, &c.Day, &c.Month
	}
	_, err := tx.Exec(ctx, `INSERT INTO billing_accounts (workspace_id, plan, hourly_ceiling, daily_ceiling, monthly_ceiling)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id) DO UPDATE
		SET plan = $2, hourly_ceiling = $3, daily_ceiling = $4, monthly_ceiling = $5, updated_at = now()`, ws, plan, h, d, m)
	if err != nil {
		return fmt.Errorf("billing: set account: %w", err)
	}
	return nil
}

// MarkCardVerified records that ws has a verified card on file (what the
// setup_intent.succeeded webhook does). tx must be scoped to ws.
func MarkCardVerified(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) error {
	_, err := tx.Exec(ctx, `INSERT INTO billing_accounts (workspace_id, card_verified_at) VALUES ($1, now())
		ON CONFLICT (workspace_id) DO UPDATE SET card_verified_at = coalesce(billing_accounts.card_verified_at, now()), updated_at = now()`, ws)
	if err != nil {
		return fmt.Errorf("billing: mark card verified: %w", err)
	}
	return nil
}

// errNoStripe is answered when no Stripe key is configured.
var errNoStripe = errors.New("billing: no Stripe key configured")
