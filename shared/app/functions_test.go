package app_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/guard"
)

func routeKeys(rs []guard.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s %s limit=%v fn=%s", r.Method, r.Pattern, r.Policy, r.Limit != nil, r.Function))
	}
	sort.Strings(out)
	return out
}

// wirings is what functions/<fn>/main.go passes to appfn.Main.
var wirings = map[string]app.Wire{
	"auth": app.Auth, "ledger": app.Ledger, "releases": app.Releases, "assets": app.Assets,
	"checkout": app.Checkout, "cron": app.Cron, "jobs": app.Jobs, "provenance": app.Provenance,
	"webhooks": app.Webhooks, "workspaces": app.Workspaces,
}

// TestFunctionWiringMatchesTable: each per-function constructor (what
// functions/<fn> links) serves exactly the routes — same policies, same
// rate limits — the full table gives that function, so linking less
// never drops or changes a route; every function of the table but health
// (lambdafn.ServeRoutes, no app) has one.
func TestFunctionWiringMatchesTable(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	for _, fn := range e.App.Functions() {
		if _, ok := wirings[fn]; !ok && fn != app.HealthFunction {
			t.Errorf("function %s of the router table has no per-function constructor", fn)
		}
	}
	for fn, wire := range wirings {
		t.Run(fn, func(t *testing.T) {
			var want []guard.Route
			for _, r := range e.App.Routes() {
				if r.Function == fn {
					want = append(want, r)
				}
			}
			a, err := wire(ctx, e.Config, e.DB.App)
			if err != nil {
				t.Fatal(err)
			}
			got, w := routeKeys(a.Routes()), routeKeys(want)
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("%s serves\n%v\nthe table gives it\n%v", fn, got, w)
			}
			if _, err := a.FunctionHandler(fn); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStepsWiring: the pipeline function's constructor wires the step
// handlers as the full app does (store, prober, broker, Content
// Credentials sealer, the job lifecycle: both build it with newLifecycle)
// and no route.
func TestStepsWiring(t *testing.T) {
	e := apptest.New(t)
	a, err := app.Steps(context.Background(), e.Config, e.DB.App)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Routes()) != 0 {
		t.Errorf("pipeline serves %d routes, want none", len(a.Routes()))
	}
	got, want := a.Pipeline.Steps, e.App.Pipeline.Steps
	if got == nil || got.Store == nil || got.Prober == nil || got.Credentials == nil || got.Jobs == nil || got.Pool == nil {
		t.Fatalf("steps not fully wired: %+v", got)
	}
	if got.Broker.TTL != want.Broker.TTL || got.Backoff == nil {
		t.Errorf("broker TTL %v, backoff set %v; full app: TTL %v", got.Broker.TTL, got.Backoff != nil, want.Broker.TTL)
	}
}
