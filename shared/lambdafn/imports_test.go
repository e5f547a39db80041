package lambdafn_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/framebroker/framebroker/"

// domain packages: each pulls its own SQL, the AWS SDK clients or Stripe.
var domains = []string{
	"shared/app", "shared/asset", "shared/billing", "shared/blob", "shared/broker", "shared/job", "shared/ledger",
	"shared/media", "shared/pipeline", "shared/privacy", "shared/provenance", "shared/reconcile", "shared/tenancy",
	"shared/webhook",
}

var heavyModules = []string{"github.com/stripe/stripe-go", "github.com/aws/aws-sdk-go-v2/service/s3", "github.com/aws/aws-sdk-go-v2/service/sfn"}

// TestFunctionImports is the per-function linking of issue 12 (observed
// #7): the health and authorizer bootstraps link no domain package (their
// size budget: well under 15 MB), health not even the identity service, the
// configuration or the AWS SDK (pgx comes with the guard, which runs each
// route's transaction), and the light lambdafn package that every
// function links stays light. `go list -deps` is the import graph the
// linker starts from, so this is deterministic where a size check is not.
// The functions built on shared/app import the whole app; what each of
// them links is checked on the built binaries by TestFunctionLinks.
func TestFunctionImports(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string
	}{
		{"shared/lambdafn", append(append([]string{"shared/identity", "shared/config", "shared/keyring", "github.com/aws/aws-sdk-go-v2"}, domains...), heavyModules...)},
		{"functions/health", append(append([]string{"shared/identity", "shared/config", "shared/keyring", "github.com/aws/aws-sdk-go-v2"}, domains...), heavyModules...)},
		{"functions/authorizer", append(append([]string{}, domains...), heavyModules...)},
		{"functions/migrate", append(append([]string{"shared/identity"}, domains...), heavyModules...)},
	} {
		t.Run(c.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+c.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range c.forbidden {
					full := f
					if strings.HasPrefix(f, "shared/") {
						full = module + f
					}
					// shared/app's own wiring subpackages (identitywire) are
					// light; the composition root itself is not.
					sub := f != "shared/app" && strings.HasPrefix(dep, full+"/")
					if dep == full || sub {
						t.Errorf("%s links %s", c.pkg, dep)
					}
				}
			}
		})
	}
}
