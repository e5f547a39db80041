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

// TestFunctionWiringMatchesTable: each per-function constructor (what
// functions/<fn> links) serves exactly the routes — same policies, same
// rate limits — the full router table gives that function, so linking less
// never drops or changes a route.
func TestFunctionWiringMatchesTable(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	for fn, wire := range map[string]app.Wire{"auth": app.Auth, "ledger": app.Ledger, "releases": app.Releases, "assets": app.Assets} {
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
