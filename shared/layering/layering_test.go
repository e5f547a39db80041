// Package layering holds the test that keeps Framebroker's dependencies
// pointing inward: foundation packages know nothing of the domain, and the
// domain knows nothing of how it is wired, configured or deployed.
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/framebroker/framebroker/shared/"

// Layers, by package path under shared/ (a package's subpackages are in
// its layer unless listed themselves).
var (
	// Foundation: storage, HTTP, identity of resources, errors, crypto,
	// transport of mail, media tools. They must not import the domain.
	foundation = []string{"blob", "c2pa", "config", "cron", "db", "guard", "health", "httpx", "id",
		"keyring", "mail", "media", "pipeline/spec", "preset", "problem", "ratelimit", "seal"}
	// Domain: the business. It must not import the wiring (app), the
	// runtimes (lambdafn, localstack) or the configuration (config).
	domain = []string{"asset", "billing", "broker", "credentials", "event", "identity", "job", "ledger", "pipeline", "privacy",
		"provenance", "reconcile", "tenancy", "webhook"}
	// Forbidden to the domain.
	outer = []string{"app", "lambdafn", "localstack", "config"}
)

// layerOf is the most specific listed prefix of pkg in list, or "".
func layerOf(pkg string, list []string) string {
	best := ""
	for _, l := range list {
		if (pkg == l || strings.HasPrefix(pkg, l+"/")) && len(l) > len(best) {
			best = l
		}
	}
	return best
}

// imports lists, per package under root, the shared/ packages its non-test
// files import.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(p, module) {
				out[pkg] = append(out[pkg], strings.TrimPrefix(p, module))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// violations applies the two rules to an import graph.
func violations(graph map[string][]string) []string {
	var bad []string
	for pkg, ims := range graph {
		// The most specific listing decides: pipeline/spec is foundation
		// although pipeline is domain.
		f, d := layerOf(pkg, foundation), layerOf(pkg, domain)
		isFoundation := f != "" && len(f) >= len(d)
		isDomain := d != "" && len(d) > len(f)
		for _, im := range ims {
			imF, imD := layerOf(im, foundation), layerOf(im, domain)
			imDomain := imD != "" && len(imD) > len(imF)
			switch {
			case isFoundation && imDomain:
				bad = append(bad, "foundation package "+pkg+" imports domain package "+im)
			case isDomain && layerOf(im, outer) != "" && im != pkg:
				bad = append(bad, "domain package "+pkg+" imports "+im)
			}
		}
	}
	return bad
}

// TestLayering: the rules hold for every package under shared/.
func TestLayering(t *testing.T) {
	graph := imports(t, "..")
	if len(graph["job"]) == 0 || len(graph["app"]) == 0 {
		t.Fatalf("import graph looks empty: %v", graph)
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// TestLayeringCatches: the rules do refuse the imports they name.
func TestLayeringCatches(t *testing.T) {
	for _, tc := range []struct {
		graph map[string][]string
		bad   bool
	}{
		{map[string][]string{"db": {"job"}}, true},
		{map[string][]string{"guard": {"tenancy"}}, true},
		{map[string][]string{"pipeline/spec": {"pipeline"}}, true},
		{map[string][]string{"job": {"config"}}, true},
		{map[string][]string{"billing": {"app"}}, true},
		{map[string][]string{"pipeline": {"lambdafn/coldstart"}}, true},
		{map[string][]string{"pipeline/sfnlocal": {"localstack"}}, true},
		{map[string][]string{"job": {"ledger", "webhook", "db"}}, false},
		{map[string][]string{"pipeline": {"pipeline/spec"}}, false},
		{map[string][]string{"app": {"config", "job"}}, false},
		{map[string][]string{"blob/s3blob": {"config"}}, false},
	} {
		if got := len(violations(tc.graph)) > 0; got != tc.bad {
			t.Errorf("%v: violation %v, want %v", tc.graph, got, tc.bad)
		}
	}
}
