package coldstart

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// TestLoadRefusesSigningFunctionWithoutKeyring is observed #2 of issue 12:
// a signing function never starts without the keyring (nor with a broken
// one), and says so before any request; it never falls back to generating
// keys.
func TestLoadRefusesSigningFunctionWithoutKeyring(t *testing.T) {
	doc, err := keyring.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		// Unreachable on purpose: the keyring check comes first.
		config.EnvDatabaseURL: "postgres://u@127.0.0.1:1/db", config.EnvMediaBucket: "media",
	}
	for _, c := range []struct {
		name    string
		keyring string
		wantErr string
	}{
		{"missing", "", lambdafn.EnvKeyringSecretArn},
		{"malformed", `{"ed25519":[]}`, "no keys"},
		{"present: reaches the database", string(doc), "did not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{config.EnvKeyring: c.keyring}
			for k, v := range base {
				env[k] = v
			}
			_, err := Load(context.Background(), func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				&fakeSecrets{}, Options{Function: "provenance", Keyring: true, DatabaseWait: 100 * time.Millisecond})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want %q", err, c.wantErr)
			}
			if c.keyring == "" && !errors.Is(err, ErrNoKeyring) {
				t.Fatalf("err %v is not ErrNoKeyring", err)
			}
		})
	}
}
