// Package appfn holds the mains of the functions that serve the app's
// domain routes (everything but health, the authorizer and migrate): the
// cold start (lambdafn/coldstart), then the app wired on its pool, then the
// function's routes from the router table.
package appfn

import (
	"context"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
	"github.com/framebroker/framebroker/shared/lambdafn/cronrules"
)

// pipelineFunction is the state machine's step Lambda (not in the router
// table: it serves Step Functions tasks, not routes).
const pipelineFunction = "pipeline"

// start runs the cold start for function and wires the app with wire, or
// logs the failure as JSON and exits non-zero.
func start(function string, wire app.Wire) *app.App {
	ctx := context.Background()
	lambdafn.SetupLogging("info")
	st, err := coldstart.LoadEnv(ctx, coldstart.Options{Function: function, Keyring: lambdafn.NeedsKeyring(function)})
	if err != nil {
		lambdafn.Fatal("cold start", err, "function", function)
	}
	a, err := wire(ctx, st.Config, st.Pool)
	if err != nil {
		lambdafn.Fatal("wire app", err, "function", function)
	}
	// The due-only crons' rules, for the functions that commit due work.
	sw, err := cronrules.FromEnv(ctx, cron.DueOnlyJobs(cron.Schedule))
	if err != nil {
		lambdafn.Fatal("cron rules", err, "function", function)
	}
	if sw != nil {
		a.Waker.Set(sw)
	} else {
		// It was not granted any wake (infra/stack FunctionAccess Wakes):
		// work it commits for a due-only job waits for the daily sweep,
		// which is a wiring bug worth a log line.
		a.Waker.Set(cronrules.Ungranted{Function: function})
	}
	return a
}

// Main runs the Lambda serving function's routes, wired by wire (the
// function's own constructor, e.g. app.Ledger): API Gateway v2
// requests, and CronEvents from EventBridge for the function serving the
// cron route.
func Main(function string, wire app.Wire) {
	a := start(function, wire)
	h, err := a.FunctionHandler(function)
	if err != nil {
		lambdafn.Fatal("function handler", err, "function", function)
	}
	lambdafn.Serve(h, a.Config.CronSecret)
}
