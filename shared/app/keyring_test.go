package app

import (
	"context"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/keyring"
)

// TestKeyringFromConfig: in AWS the signing keys come from the keyring
// document in the configuration (resolved from Secrets Manager), not from a
// local file; a malformed document stops the app from starting.
func TestKeyringFromConfig(t *testing.T) {
	doc, err := keyring.NewKeyring(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := keyring.ParseKeyring(doc)
	ws, _ := want.Signer(context.Background())
	a, err := NewWith(config.Config{UploadTTL: time.Minute, Keyring: string(doc)}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Keys.Signer(context.Background())
	if err != nil || got.ID != ws.ID {
		t.Fatalf("signer %q (%v), want %q from the configured keyring", got.ID, err, ws.ID)
	}
	if _, err := NewWith(config.Config{UploadTTL: time.Minute, Keyring: `{"ed25519":[]}`}, nil, nil, nil); err == nil {
		t.Fatal("a malformed keyring was accepted")
	}
}
