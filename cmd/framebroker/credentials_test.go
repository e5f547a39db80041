package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa"
)

// TestProvenanceVerifyMedia: `framebroker provenance verify FILE` checks a
// media file's Content Credentials: intact and trusted → 0; a flipped byte
// or an untrusted signer (when a trust source is given) → 1; no
// credentials → 2.
func TestProvenanceVerifyMedia(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.jpg")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=1:duration=1", "-frames:v", "1", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	raw, _ := os.ReadFile(src)
	ca, err := c2pa.NewCA(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), "Test root", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := c2pa.DeriveP256(bytes.Repeat([]byte{2}, 32), "cli")
	der, err := ca.Issue(key.Public(), pkix.Name{CommonName: "ws"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m := c2pa.Manifest{Title: "in.jpg", Generator: c2pa.Generator{Name: "Framebroker"}}
	if _, err := c2pa.EmbedJPEG(bytes.NewReader(raw), int64(len(raw)), &out, m, c2pa.Signer{Key: key, Chain: [][]byte{der}}); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed.jpg")
	os.WriteFile(signed, out.Bytes(), 0o600)
	flipped := filepath.Join(dir, "flipped.jpg")
	bad := bytes.Clone(out.Bytes())
	bad[len(bad)-10] ^= 1
	os.WriteFile(flipped, bad, 0o600)
	roots := filepath.Join(dir, "root.pem")
	os.WriteFile(roots, ca.PEM(), 0o600)
	other, _ := c2pa.NewCA(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), "Other root", time.Now().Add(-time.Hour))
	otherRoots := filepath.Join(dir, "other.pem")
	os.WriteFile(otherRoots, other.PEM(), 0o600)

	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"trusted", []string{"verify", signed, "--roots", roots}, 0},
		{"intact, no trust source", []string{"verify", signed}, 0},
		{"flipped byte", []string{"verify", flipped, "--roots", roots}, 1},
		{"other root", []string{"verify", signed, "--roots", otherRoots}, 1},
		{"no credentials", []string{"verify", src}, 2},
	} {
		if got := runProvenance(tc.args); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}
