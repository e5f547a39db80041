package main

import (
	"net/http"
	"os"
	"testing"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// TestDevStripeKeyIsAcceptedByStripeMock: the key `framebroker dev` gives
// the API is one the stack's stripe-mock accepts (checkout and card check
// answered 503 in make dev with the old key), and the old key is refused,
// so this test can tell them apart.
func TestDevStripeKeyIsAcceptedByStripeMock(t *testing.T) {
	dbtest.RequireStack(t, config.EnvStripeURL)
	var cfg config.Config
	if err := devSecrets(&cfg, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want int
	}{{cfg.StripeKey, http.StatusOK}, {"sk_test_framebroker_dev", http.StatusUnauthorized}} {
		req, _ := http.NewRequest("GET", os.Getenv(config.EnvStripeURL)+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer "+tc.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("stripe-mock answered key %q with %d, want %d", tc.key, res.StatusCode, tc.want)
		}
	}
}

func TestEnvPort(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want int
	}{{"", 7070}, {"7516", 7516}, {"0", 7070}, {"70000", 7070}, {"x", 7070}} {
		t.Setenv("FRAMEBROKER_DEV_S3_PORT", tc.val)
		if got := envPort("FRAMEBROKER_DEV_S3_PORT", 7070); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.val, got, tc.want)
		}
	}
}
