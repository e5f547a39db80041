package appfn

import (
	"testing"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/privacy"
	"github.com/framebroker/framebroker/shared/provenance"
)

// TestKeyringFunctionsAreTheSigners: the functions that refuse to start
// without a keyring are the ones whose routes or jobs sign with it (the
// router table's names for them).
func TestKeyringFunctionsAreTheSigners(t *testing.T) {
	for _, fn := range []string{ledger.Function, provenance.Function, provenance.ReleaseFunction, privacy.Function, pipelineFunction, cron.Function} {
		if !lambdafn.NeedsKeyring(fn) {
			t.Errorf("%s signs with the keyring but may start without it", fn)
		}
	}
	for _, fn := range []string{"health", "authorizer", "auth", "assets", "jobs", "checkout", "webhooks", "migrate"} {
		if lambdafn.NeedsKeyring(fn) {
			t.Errorf("%s does not sign but requires the keyring", fn)
		}
	}
}
