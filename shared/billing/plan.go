// Package billing is Framebroker's money and abuse controls (T-10): plans
// (spend ceilings and per-route rate limits), the pricing model, Stripe
// Checkout for credits with a signature-verified, idempotent webhook
// feeding an append-only credit ledger, the card-on-file check by
// SetupIntent, the payment gate and spend reservations on job submission,
// settlement when jobs finish, and owner alerts at 80 % and 100 % of a
// ceiling.
package billing

import "github.com/framebroker/framebroker/shared/ratelimit"

// Micros are millionths of a US dollar: every amount of money here.
type Micros = int64

// USD is one US dollar in Micros.
const USD Micros = 1_000_000

// Ceilings are a workspace's spend ceilings per window, in Micros.
type Ceilings struct {
	Hour, Day, Month Micros
}

// Quota is one rate limit: Burst requests at once, then Rate.
type Quota struct {
	Rate  ratelimit.Rate
	Burst int
}

// RouteLimit is a route's rate limit, per user and per workspace.
type RouteLimit struct {
	User, Workspace Quota
}

// Limit names (the expensive routes share them by kind).
const (
	LimitJobSubmit     = "jobs.submit"
	LimitCheckout      = "billing.checkout"
	LimitCardCheck     = "billing.card_check"
	LimitWebhookResend = "webhooks.resend"
)

// Plan is what a workspace's plan allows: default ceilings (a workspace may
// have lower or higher ones of its own, up to Max) and rate limits by limit
// name.
type Plan struct {
	Name     string
	Ceilings Ceilings
	// Max bounds the ceilings a workspace may set itself (nil: no bound).
	Max    *Ceilings
	Limits map[string]RouteLimit
}

// DefaultPlan is the plan of a workspace without a billing account.
const DefaultPlan = "standard"

func perMinute(n int) Quota { return Quota{Rate: ratelimit.PerMinute(n), Burst: n} }
func perHour(n int) Quota   { return Quota{Rate: ratelimit.PerHour(n), Burst: n} }

// DefaultPlans are the plans; tests and deployments may replace
// Service.Plans.
func DefaultPlans() map[string]Plan {
	return map[string]Plan{
		"standard": {Name: "standard", Ceilings: Ceilings{Hour: 50 * USD, Day: 200 * USD, Month: 2000 * USD},
			Max: &Ceilings{Hour: 500 * USD, Day: 2000 * USD, Month: 20000 * USD},
			Limits: map[string]RouteLimit{
				LimitJobSubmit:     {User: perMinute(30), Workspace: perMinute(120)},
				LimitCheckout:      {User: perHour(10), Workspace: perHour(20)},
				LimitCardCheck:     {User: perHour(5), Workspace: perHour(10)},
				LimitWebhookResend: {User: perMinute(20), Workspace: perMinute(60)},
			}},
		"studio": {Name: "studio", Ceilings: Ceilings{Hour: 500 * USD, Day: 2000 * USD, Month: 20000 * USD},
			Limits: map[string]RouteLimit{
				LimitJobSubmit:     {User: perMinute(120), Workspace: perMinute(600)},
				LimitCheckout:      {User: perHour(20), Workspace: perHour(40)},
				LimitCardCheck:     {User: perHour(10), Workspace: perHour(20)},
				LimitWebhookResend: {User: perMinute(60), Workspace: perMinute(240)},
			}},
	}
}

// limitedRoutes maps each expensive route ("METHOD pattern") to its limit.
// Service.ApplyLimits attaches the limiter to these routes of the table.
var limitedRoutes = map[string]string{
	"POST /v1/workspaces/{ws}/jobs":                   LimitJobSubmit,
	"POST /v1/workspaces/{ws}/checkout":               LimitCheckout,
	"POST /v1/workspaces/{ws}/billing/card-check":     LimitCardCheck,
	"POST /v1/workspaces/{ws}/webhooks/{hook}/resend": LimitWebhookResend,
}

// windowNames are the windows as the problem details name them.
var windowNames = map[string]string{"hour": "hourly", "day": "daily", "month": "monthly"}
