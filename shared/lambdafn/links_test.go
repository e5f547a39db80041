package lambdafn_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// linkedPackage is the package a symbol of `go tool nm` belongs to:
// "github.com/x/y/z.(*T).M" → "github.com/x/y/z", "slices.Sort[...]" →
// "slices".
func linkedPackage(sym string) string {
	if i := strings.IndexByte(sym, '['); i >= 0 {
		sym = sym[:i]
	}
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return sym
	}
	return sym[:slash+1+dot]
}

// symbols lists the text symbols (code) of the binary at path by package:
// what the linker kept, after dead-code elimination.
func symbols(t *testing.T, path string) map[string]map[string]int {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", "-size", "-type", path).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", path, err)
	}
	pkgs := map[string]map[string]int{}
	add := func(pkg, sym string, size int) {
		if pkgs[pkg] == nil {
			pkgs[pkg] = map[string]int{}
		}
		pkgs[pkg][sym] = size
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// address size type name [symbol type]
		f := strings.Fields(sc.Text())
		if len(f) < 4 || (f[2] != "T" && f[2] != "t") {
			continue
		}
		size, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("go tool nm: %q", sc.Text())
		}
		add(linkedPackage(f[3]), f[3], size)
		if strings.HasPrefix(f[3], "text/template.(*state).evalCall") {
			add(templateExec, "evalCall", size)
		}
	}
	return pkgs
}

// linkedPackages are the packages of which the binary at path reaches
// code beyond what their initialisers reach (base: the symbols of the
// initonly binary, which imports everything and reaches nothing; every
// binary importing a package runs its initialisers, reached or not).
// Exported methods alone do not count: with template execution the linker
// keeps every exported method of the types it cannot rule out (a one-line
// job.Status.Finished in auth does not mean auth uses jobs); a package a
// function uses brings functions, closures or unexported methods.
func linkedPackages(t *testing.T, path string, base map[string]map[string]int) map[string]bool {
	t.Helper()
	linked := map[string]bool{}
	for pkg, syms := range symbols(t, path) {
		for sym := range syms {
			if _, init := base[pkg][sym]; !init && !exportedMethod(pkg, sym) {
				linked[pkg] = true
				break
			}
		}
	}
	return linked
}

// exportedMethod reports whether sym is an exported method of a type of
// pkg ("pkg.(*T).M", "pkg.T.M" with M exported).
func exportedMethod(pkg, sym string) bool {
	rest := strings.TrimPrefix(sym, pkg+".")
	recv, method, ok := strings.Cut(rest, ").")
	if ok && strings.HasPrefix(recv, "(*") {
		return !strings.Contains(method, ".") && method != "" && unicode.IsUpper(rune(method[0]))
	}
	parts := strings.Split(rest, ".")
	return len(parts) == 2 && parts[1] != "" && unicode.IsUpper(rune(parts[0][0])) && unicode.IsUpper(rune(parts[1][0]))
}

// watched are the packages whose presence in a function is decided by its
// wiring: Framebroker's domain and wiring packages, and the heavy
// third-party clients. A package not listed here (id, problem, guard,
// httpx, db, …) is not checked.
var watched = []string{
	"shared/app", "shared/app/identitywire", "shared/asset", "shared/billing", "shared/blob/s3blob", "shared/broker",
	"shared/c2pa", "shared/config", "shared/credentials", "shared/cron", "shared/identity", "shared/job",
	"shared/keyring", "shared/ledger", "shared/mail", "shared/media", "shared/openapi", "shared/pages",
	"shared/pipeline", "shared/pipeline/sfnlocal", "shared/privacy", "shared/provenance",
	"shared/reconcile", "shared/tenancy", "shared/webhook", "shared/lambdafn/coldstart",
	stripe, s3, stepFunctions, secretsManager, awsDefaultChain, oidc,
	templateExec,
}

// templateExec stands for executing templates (text/template's evaluator,
// which html/template uses): it calls methods by name through reflection,
// so the linker keeps every exported method of every type it cannot rule
// out, and a binary that executes templates is several MiB larger.
const templateExec = "template execution"

// Package sets shared by several functions below.
var (
	// appBase is every app function's: the cold start (config, secrets,
	// keyring check, pool) and the app's composition root with its keys.
	appBase = []string{"shared/app", "shared/config", "shared/keyring", "shared/lambdafn/coldstart", secretsManager}
	// routed adds the guard's authenticator (identity, wired from config).
	routed = append([]string{"shared/identity", "shared/app/identitywire"}, appBase...)
	// signing is publishing: manifests bind job trails, content
	// credentials, the ledger, and the webhook message of each event.
	signing = []string{"shared/provenance", "shared/credentials", "shared/c2pa", "shared/ledger", "shared/job", "shared/webhook"}
	// steps are the state machine's step handlers on the media store.
	steps = []string{"shared/pipeline", "shared/job", "shared/billing", "shared/ledger", "shared/webhook", "shared/asset",
		"shared/media", "shared/broker", "shared/credentials", "shared/c2pa", "shared/provenance", "shared/blob/s3blob", s3,
		awsDefaultChain}
)

const (
	secretsManager = "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	s3             = "github.com/aws/aws-sdk-go-v2/service/s3"
	stepFunctions  = "github.com/aws/aws-sdk-go-v2/service/sfn"
	stripe         = "github.com/stripe/stripe-go/v85"
	// awsDefaultChain is the SDK's default configuration (shared config
	// files, SSO, STS, IMDS): only where a media store, Step Functions or
	// the probe Lambda client is built; Secrets Manager and EventBridge
	// clients use the Lambda environment (lambdafn/awsenv).
	awsDefaultChain = "github.com/aws/aws-sdk-go-v2/config"
	// oidc is the OAuth providers' discovery (auth only).
	oidc = "github.com/coreos/go-oidc/v3/oidc"
)

func set(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// linkedSets is, per function, exactly which watched packages its binary
// reaches. A function serving routes links only the services of its
// routes (shared/app's per-function constructors); Stripe's client only in
// checkout; the S3 client only where the media store is used; Step
// Functions only where executions are started or stopped (jobs, cron);
// the local encode provider nowhere; template execution only with the
// pages (auth, provenance).
var linkedSets = map[string][]string{
	"health":       {},
	"authorizer":   set([]string{"shared/identity", "shared/config", "shared/keyring", "shared/lambdafn/coldstart", secretsManager}),
	"migrate":      set([]string{"shared/lambdafn/coldstart", secretsManager}),
	"keyring-init": set([]string{"shared/keyring", "shared/lambdafn/coldstart", secretsManager}),
	"auth":         set(routed, []string{"shared/mail", "shared/pages", templateExec, oidc}),
	"ledger":       set(routed, []string{"shared/ledger"}),
	"releases":     set(routed, signing),
	// oidc: template execution keeps the providers' exported methods; its
	// API document handler (shared/openapi) is built by shared/app's
	// initialiser, so it counts as init code.
	"provenance": set(routed, signing, []string{"shared/mail", "shared/pages", templateExec, oidc}),
	"assets":     set(routed, []string{"shared/asset", "shared/media", "shared/blob/s3blob", s3, awsDefaultChain, "shared/ledger", "shared/webhook"}),
	"checkout":   set(routed, []string{"shared/billing", "shared/ledger", stripe}),
	"webhooks":   set(routed, []string{"shared/webhook", "shared/billing", "shared/ledger", "shared/tenancy"}),
	"workspaces": set(routed, []string{"shared/tenancy", "shared/credentials", "shared/c2pa", "shared/privacy", "shared/billing",
		"shared/ledger", "shared/mail", "shared/webhook"}),
	"jobs": set(routed, []string{"shared/job", "shared/billing", "shared/ledger", "shared/tenancy", "shared/webhook", "shared/mail",
		"shared/pipeline", "shared/blob/s3blob", s3, stepFunctions, awsDefaultChain}),
	"pipeline": set(appBase, steps),
	"cron": set(routed, steps, []string{"shared/cron", "shared/tenancy", "shared/privacy", "shared/reconcile", "shared/mail",
		stepFunctions}),
}

// TestFunctionLinks builds every functions/<fn> as `make build` does (for
// the host) and checks, from the symbol table, exactly which watched
// packages each binary links (linkedSets): the per-function linking of
// issue 12 as the linker did it, not as the import graph allows it (the
// import graph of every app function is the whole app; the linker keeps
// what the function's constructor reaches).
func TestFunctionLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", dir+"/", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd = exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", filepath.Join(dir, "initonly.bin"), "./shared/lambdafn/testdata/initonly")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := symbols(t, filepath.Join(dir, "initonly.bin"))
	fns, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		t.Run(fn.Name(), func(t *testing.T) {
			want, ok := linkedSets[fn.Name()]
			if !ok {
				t.Fatalf("functions/%s has no entry in linkedSets", fn.Name())
			}
			linked := linkedPackages(t, filepath.Join(dir, fn.Name()), base)
			var got []string
			for _, w := range watched {
				full := w
				if strings.HasPrefix(w, "shared/") {
					full = module + w
				}
				if linked[full] {
					got = append(got, w)
				}
			}
			slices.Sort(got)
			for _, p := range got {
				if !slices.Contains(want, p) {
					t.Errorf("links %s, which its wiring should not reach", p)
				}
			}
			for _, p := range want {
				if !slices.Contains(got, p) {
					t.Errorf("does not link %s: update linkedSets if the function no longer needs it", p)
				}
			}
		})
	}
}
