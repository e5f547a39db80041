package app

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/framebroker/framebroker/shared/app/openapidoc"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/guard"
)

// pendingTypes are routes still without typed request/reply schemas. The
// list may only shrink: a route missing from the table or already typed
// fails the test, and so does any new untyped route (issue 15).
var pendingTypes = map[string]bool{}

// TestEveryRouteIsTyped: every route names its success reply (a JSON type,
// a non-JSON media type, or 204), and every route with an example body
// names its request type, so the generated document describes it and the
// harness validates it.
func TestEveryRouteIsTyped(t *testing.T) {
	a, err := NewWith(config.Config{UploadTTL: 1}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range a.Routes() {
		key := r.Method + " " + r.Pattern
		seen[key] = true
		var missing []string
		if r.Reply == nil && r.ReplyType == "" && r.SuccessStatus() != 204 {
			missing = append(missing, "Reply")
		}
		if r.Request == nil && r.Example != "" {
			missing = append(missing, "Request")
		}
		switch {
		case len(missing) > 0 && !pendingTypes[key]:
			t.Errorf("%s has no typed %v in the router table: give it guard.Route.Request/Reply (named structs with json tags) so the API document describes it", key, missing)
		case len(missing) == 0 && pendingTypes[key]:
			t.Errorf("%s is typed now: remove it from pendingTypes", key)
		}
	}
	for k := range pendingTypes {
		if !seen[k] {
			t.Errorf("pendingTypes names %s, which is not in the table", k)
		}
	}
}

// tableDocument is the API document generated from the full router table.
func tableDocument(t *testing.T) []byte {
	t.Helper()
	a, err := NewWith(config.Config{UploadTTL: 1}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.OpenAPI().JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var update = flag.Bool("update", false, "rewrite openapidoc/openapi.json from the router table")

// TestOpenAPIDocumentIsCurrent: the document every function serves (the
// committed openapidoc.JSON) is the one generated from the full router
// table, byte for byte. After changing a route, regenerate it with
// go test ./shared/app -run TestOpenAPIDocumentIsCurrent -update.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	b := append(tableDocument(t), '\n')
	if *update {
		if err := os.WriteFile(filepath.Join("openapidoc", "openapi.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(b, openapidoc.JSON) {
		t.Fatalf("shared/app/openapidoc/openapi.json is not the document of the router table (%d bytes, generated %d): "+
			"regenerate it with go test ./shared/app -run TestOpenAPIDocumentIsCurrent -update", len(openapidoc.JSON), len(b))
	}
}

// TestOpenAPIDocumentLints runs the pinned @redocly/cli (scripts/install.sh)
// over the generated document.
func TestOpenAPIDocumentLints(t *testing.T) {
	bin := findUp(t, ".local/redocly/node_modules/.bin/redocly")
	b := tableDocument(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redocly.yaml"), []byte(redoclyConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--config", filepath.Join(dir, "redocly.yaml"), "--format", "stylish", file)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_UPDATE_NOTIFIER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint: %v\n%s", err, out)
	}
}

// redoclyConfig is the recommended ruleset; the exceptions are choices of
// this API, each explained.
const redoclyConfig = `extends:
  - recommended
rules:
  # Public routes (signup, provenance verify, pages) declare security: [].
  security-defined: error
  # Errors are one shared problem+json response (default); 4xx vary by route.
  operation-4xx-response: off
  # Deployments choose their own host; the document names the relative server.
  no-server-example.com: off
`

// findUp finds rel in the checkout (walking up from the package directory),
// skipping the test when the tool is not installed outside `make test`.
func findUp(t *testing.T, rel string) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if os.Getenv("FRAMEBROKER_REQUIRE_STACK") == "1" {
		t.Fatalf("%s not found: run scripts/install.sh", rel)
	}
	t.Skipf("%s not found: run scripts/install.sh", rel)
	return ""
}

var _ = guard.Public
