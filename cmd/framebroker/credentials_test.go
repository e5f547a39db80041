package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509/pkix"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

	// A file made from the flipped one: intact itself (exit 0), and the
	// failure recorded for its ingredient is printed, not swallowed.
	ic, err := c2pa.ReadIngredient(bytes.NewReader(bad), int64(len(bad)), c2pa.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	m2 := c2pa.TranscodeManifest("second.jpg", c2pa.Generator{Name: "Framebroker"}, "", c2pa.Ingredient{Title: "flipped.jpg", Format: "image/jpeg", Credentials: ic}, c2pa.JobAssertion{})
	if _, err := c2pa.EmbedJPEG(bytes.NewReader(raw), int64(len(raw)), &second, m2, c2pa.Signer{Key: key, Chain: [][]byte{der}}); err != nil {
		t.Fatal(err)
	}
	fromFlipped := filepath.Join(dir, "from-flipped.jpg")
	os.WriteFile(fromFlipped, second.Bytes(), 0o600)
	code, stderr := captureStderr(t, func() int { return runProvenance([]string{"verify", fromFlipped, "--roots", roots}) })
	if code != 0 || !strings.Contains(stderr, "INGREDIENT flipped.jpg") || !strings.Contains(stderr, "assertion.dataHash.mismatch") {
		t.Errorf("output of a tampered input: exit %d, stderr %q", code, stderr)
	}

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

// captureStderr runs fn with os.Stderr sent to a pipe and returns what it
// wrote there.
func captureStderr(t *testing.T, fn func() int) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	code := fn()
	os.Stderr = saved
	w.Close()
	return code, <-done
}
