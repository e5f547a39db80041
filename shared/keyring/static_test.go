package keyring

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestStaticKeyringRotates(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc, err := NewKeyring(t0)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := ParseKeyring(doc)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := k1.Signer(ctx)
	hid1, sec1, _ := k1.HMAC(ctx, "")
	msg := []byte("manifest")
	sig := s1.Sign(msg)

	doc2, err := RotateKeyring(doc, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := ParseKeyring(doc2)
	s2, _ := k2.Signer(ctx)
	if s2.ID == s1.ID {
		t.Fatal("rotation kept the signing key")
	}
	set, _ := k2.PublicKeys(ctx)
	old, ok := set.Lookup(s1.ID)
	if !ok || old.NotAfter == nil || !old.NotAfter.Equal(t0.Add(24*time.Hour)) || !ed25519.Verify(old.Key, msg, sig) {
		t.Fatalf("retired key not published with its window: %+v", old)
	}
	if _, sec, err := k2.HMAC(ctx, hid1); err != nil || string(sec) != string(sec1) {
		t.Fatal("old HMAC secret lost by rotation")
	}
	if _, _, err := k2.HMAC(ctx, "hmac-nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown hmac id: %v", err)
	}
	for _, bad := range []string{``, `{}`, `{"ed25519":[{"keyid":"x","seed":"AAAA"}],"hmac":[{"keyid":"h","secret":"AAAA"}]}`} {
		if _, err := ParseKeyring([]byte(bad)); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		}
	}
}

func FuzzParseKeyring(f *testing.F) {
	doc, _ := NewKeyring(time.Now())
	f.Add(doc)
	f.Add([]byte(`{"ed25519":[],"hmac":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyring(b)
		if err != nil {
			return
		}
		if _, err := k.Signer(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDefaultNeverGeneratesInLambda: a Lambda container given no keyring
// gets None (every call refused), never a keyring generated per container.
func TestDefaultNeverGeneratesInLambda(t *testing.T) {
	t.Setenv(EnvDir, t.TempDir())
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
	k := Default()
	if _, ok := k.(None); !ok {
		t.Fatalf("Default() in Lambda = %T", k)
	}
	if _, err := k.PublicKeys(context.Background()); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("PublicKeys: %v", err)
	}
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	if _, ok := Default().(*Dir); !ok {
		t.Fatalf("Default() locally = %T", Default())
	}
}
