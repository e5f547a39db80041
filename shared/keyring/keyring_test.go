package keyring_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/keyring"
)

// TestDirGeneratesOnceAndRotates: concurrent first uses agree on one
// keyring (mode 0600); rotation retires the old key with a window.
func TestDirGeneratesOnceAndRotates(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := keyring.NewDir(dir).Signer(context.Background())
			if err != nil {
				t.Error(err)
			}
			ids[i] = s.ID
		}()
	}
	wg.Wait()
	for _, v := range ids {
		if v != ids[0] {
			t.Fatalf("concurrent first runs made different keys: %v", ids)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "keyring.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", st.Mode(), err)
	}
	d := keyring.NewDir(dir)
	now := time.Now().UTC()
	if err := d.Rotate(now); err != nil {
		t.Fatal(err)
	}
	set, _ := d.PublicKeys(context.Background())
	s, _ := d.Signer(context.Background())
	if len(set.Keys) != 2 || set.Keys[0].ID != ids[0] || set.Keys[0].NotAfter == nil || s.ID == ids[0] {
		t.Fatalf("after rotation: %+v, signer %s", set, s.ID)
	}
	if set.Keys[0].ValidAt(now.Add(time.Second)) || !set.Keys[1].ValidAt(now.Add(time.Second)) {
		t.Fatal("validity windows wrong")
	}
	old, _, err := d.HMAC(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.HMAC(context.Background(), "hmac-unknown"); err != keyring.ErrUnknownKey {
		t.Fatalf("unknown hmac id: %v", err)
	}
	_ = old
}

// TestParseSet reads the forms a --key file may take.
func TestParseSet(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	js, _ := json.Marshal(keyring.Set{Keys: []keyring.PublicKey{{ID: "k1", Algorithm: "ed25519", Key: pub}}})
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"json set", string(js), true},
		{"base64", base64.StdEncoding.EncodeToString(pub) + "\n", true},
		{"hex", hex.EncodeToString(pub), true},
		{"short", base64.StdEncoding.EncodeToString(pub[:31]), false},
		{"empty set", `{"keys":[]}`, false},
		{"wrong algorithm", `{"keys":[{"keyid":"k","algorithm":"rsa","public_key":"` + base64.StdEncoding.EncodeToString(pub) + `"}]}`, false},
		{"unknown field", `{"keys":[],"x":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keyring.ParseSet([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && len(s.Keys) != 1 {
				t.Fatalf("%+v", s)
			}
		})
	}
}

// FuzzParseSet: key files are outside input.
func FuzzParseSet(f *testing.F) {
	f.Add([]byte(`{"keys":[{"keyid":"k","algorithm":"ed25519","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`))
	f.Add([]byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := keyring.ParseSet(b)
		if err == nil {
			for _, k := range s.Keys {
				if len(k.Key) != ed25519.PublicKeySize {
					t.Fatal("accepted a key of the wrong size")
				}
			}
		}
	})
}
