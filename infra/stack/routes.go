package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/guard"
)

// Lambdas that serve no route of the table but always exist.
const (
	// AuthorizerFunction is the HTTP API's Lambda authorizer.
	AuthorizerFunction = "authorizer"
	// PipelineFunction runs every non-encode step of the state machine.
	PipelineFunction = "pipeline"
	// MigrateFunction applies the schema on deploy (a custom resource).
	MigrateFunction = "migrate"
)

// Route is one HTTP API route, derived from a row of the router table.
type Route struct {
	Method string
	// Path is the API Gateway route path ({param} and {param+}).
	Path     string
	Function string
	// Public routes are served without the authorizer.
	Public bool
}

// Key is the API Gateway route key, "METHOD /path".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Table is what the stack needs from the router table.
type Table struct {
	// Routes are exposed on the HTTP API.
	Routes []Route
	// Internal routes (shared-secret, /internal/...) are NOT exposed: their
	// Lambdas are invoked directly (EventBridge → cron Lambda).
	Internal []Route
}

// Functions is every Lambda the table names, sorted.
func (t Table) Functions() []string {
	seen := map[string]bool{}
	for _, r := range append(append([]Route{}, t.Routes...), t.Internal...) {
		seen[r.Function] = true
	}
	return sortedKeys(seen)
}

// TableFromApp builds the router table without a database (the same call
// the route-table tests make) and converts it.
func TableFromApp() (Table, error) {
	a, err := app.NewWith(config.Config{UploadTTL: time.Minute}, nil, nil, nil)
	if err != nil {
		return Table{}, fmt.Errorf("stack: router table: %w", err)
	}
	return FromRoutes(a.Routes())
}

// FromRoutes converts router-table rows to API routes.
func FromRoutes(rs []guard.Route) (Table, error) {
	var t Table
	seen := map[string]bool{}
	for _, r := range rs {
		path, err := APIPath(r.Pattern)
		if err != nil {
			return Table{}, err
		}
		if r.Function == "" {
			return Table{}, fmt.Errorf("stack: %s %s: no function", r.Method, r.Pattern)
		}
		rt := Route{Method: r.Method, Path: path, Function: r.Function, Public: r.Policy.Level == guard.LevelPublic}
		if seen[rt.Key()] {
			return Table{}, fmt.Errorf("stack: route key %s appears twice", rt.Key())
		}
		seen[rt.Key()] = true
		if r.Policy.Level == guard.LevelInternal || strings.HasPrefix(path, "/internal/") {
			t.Internal = append(t.Internal, rt)
			continue
		}
		t.Routes = append(t.Routes, rt)
	}
	return t, nil
}

// APIPath turns a Go 1.22 ServeMux pattern into an API Gateway v2 path:
// {x} stays, {x...} becomes {x+}, a trailing {$} is dropped, and a trailing
// slash (a subtree) becomes {proxy+}.
func APIPath(pattern string) (string, error) {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p // "GET /x" patterns: the method is in Route.Method
	}
	if !strings.HasPrefix(pattern, "/") {
		return "", fmt.Errorf("stack: pattern %q has a host or no leading slash", pattern)
	}
	exact := strings.HasSuffix(pattern, "/{$}")
	pattern = strings.TrimSuffix(pattern, "{$}")
	if !exact && pattern != "/" && strings.HasSuffix(pattern, "/") {
		pattern += "{proxy+}"
	}
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}") {
			segs[i] = strings.TrimSuffix(s, "...}") + "+}"
		}
	}
	return strings.Join(segs, "/"), nil
}

// Functions lists every Lambda to deploy: the table's, the directories
// under functionsDir that hold a main.go, and the ones that serve no route
// (authorizer, pipeline, migrate, cron).
func Functions(t Table, functionsDir string) ([]string, error) {
	seen := map[string]bool{AuthorizerFunction: true, PipelineFunction: true, MigrateFunction: true, cron.Function: true}
	for _, f := range t.Functions() {
		seen[f] = true
	}
	entries, err := os.ReadDir(functionsDir)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(functionsDir, e.Name(), "main.go")); e.IsDir() && err == nil {
			seen[e.Name()] = true
		}
	}
	return sortedKeys(seen), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
