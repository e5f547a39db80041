package c2pa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the checkout holding this package.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// readerReport is the part of c2pa-wasm's Reader JSON the tests check.
type readerReport struct {
	Error            string `json:"error"`
	ActiveManifest   string `json:"active_manifest"`
	ValidationState  string `json:"validation_state"`
	ValidationStatus []struct {
		Code        string `json:"code"`
		URL         string `json:"url"`
		Explanation string `json:"explanation"`
	} `json:"validation_status"`
	ValidationResults struct {
		ActiveManifest struct {
			Success []struct {
				Code string `json:"code"`
			} `json:"success"`
			Failure []struct {
				Code        string `json:"code"`
				Explanation string `json:"explanation"`
			} `json:"failure"`
		} `json:"activeManifest"`
	} `json:"validation_results"`
	Manifests map[string]json.RawMessage `json:"manifests"`
}

// failures are the reader's failure codes, apart from the expected
// signingCredential.untrusted (the root is not on a trust list).
func (r readerReport) failures() []string {
	var out []string
	for _, f := range r.ValidationResults.ActiveManifest.Failure {
		if f.Code == "signingCredential.untrusted" {
			continue
		}
		out = append(out, f.Code+": "+f.Explanation)
	}
	return out
}

func (r readerReport) hasSuccess(code string) bool {
	for _, s := range r.ValidationResults.ActiveManifest.Success {
		if s.Code == code {
			return true
		}
	}
	return false
}

// referenceRead reads file with the C2PA reference implementation
// (c2pa-rs in wasm under Node), optionally trusting anchorsPEM.
func referenceRead(t testing.TB, mime string, data []byte, anchorsPEM []byte) (readerReport, string) {
	t.Helper()
	root := repoRoot(t)
	pkg := filepath.Join(root, ".local", "c2pa", "node_modules", "@contentauth", "c2pa-wasm")
	if _, err := os.Stat(filepath.Join(pkg, "pkg", "c2pa_bg.wasm")); err != nil {
		t.Fatalf("the C2PA reference reader is not installed (scripts/install.sh installs it): %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "asset")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(root, "shared", "c2pa", "testdata", "c2pa-read.mjs"), pkg, mime, file}
	if anchorsPEM != nil {
		anchors := filepath.Join(dir, "anchors.pem")
		if err := os.WriteFile(anchors, anchorsPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, anchors)
	}
	out, err := exec.Command("node", args...).Output()
	if err != nil {
		t.Fatalf("node c2pa reader: %v", err)
	}
	var rep readerReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("reader output: %v\n%s", err, out)
	}
	return rep, string(out)
}

var (
	fixtureOnce sync.Once
	fixtureMP4  []byte
	fixtureJPEG []byte
	fixtureErr  error
)

// fixtures makes a small faststart MP4 and a JPEG with real ffmpeg.
func fixtures(t testing.TB) ([]byte, []byte) {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "c2pa-fixture")
		if err != nil {
			fixtureErr = err
			return
		}
		defer os.RemoveAll(dir)
		mp4 := filepath.Join(dir, "in.mp4")
		jpg := filepath.Join(dir, "in.jpg")
		cmds := [][]string{
			{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart", mp4},
			{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1:duration=1", "-frames:v", "1", jpg},
		}
		for _, c := range cmds {
			if b, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, c...)...).CombinedOutput(); err != nil {
				fixtureErr = err
				t.Logf("%s", b)
				return
			}
		}
		fixtureMP4, fixtureErr = os.ReadFile(mp4)
		if fixtureErr == nil {
			fixtureJPEG, fixtureErr = os.ReadFile(jpg)
		}
	})
	if fixtureErr != nil {
		t.Fatalf("ffmpeg fixtures: %v", fixtureErr)
	}
	return fixtureMP4, fixtureJPEG
}

// testSigner is an ES256 workspace signer under an Ed25519 root, as the
// service issues them.
func testSigner(t testing.TB) (Signer, CA) {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	ca, err := NewCA(ed25519.NewKeyFromSeed(seed), "Framebroker Content Credentials test root", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	key, err := DeriveP256(bytes.Repeat([]byte{9}, 32), "test workspace")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := ca.Issue(key.Public(), pkix.Name{CommonName: "Framebroker workspace test", Organization: []string{"Framebroker"}}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var _ *ecdsa.PrivateKey = key
	return Signer{Key: key, Chain: [][]byte{der}}, ca
}

func testManifest() Manifest {
	return Manifest{
		Title:     "output.mp4",
		Generator: Generator{Name: "Framebroker", Version: "test"},
		Assertions: []Assertion{
			{Label: LabelActions, Data: map[string]any{"actions": []map[string]any{
				{"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
					"softwareAgent": map[string]any{"name": "Framebroker", "version": "test"}},
			}}},
		},
	}
}

func TestMP4ReadByReferenceImplementation(t *testing.T) {
	mp4, _ := fixtures(t)
	s, ca := testSigner(t)
	var out bytes.Buffer
	emb, err := EmbedBMFF(bytes.NewReader(mp4), int64(len(mp4)), &out, testManifest(), s)
	if err != nil {
		t.Fatal(err)
	}
	if emb.Size != int64(out.Len()) || !strings.HasPrefix(emb.Label, "urn:c2pa:") {
		t.Fatalf("embedded %+v, wrote %d", emb, out.Len())
	}
	rep, raw := referenceRead(t, "video/mp4", out.Bytes(), nil)
	if rep.ValidationState != "Valid" || len(rep.failures()) > 0 {
		t.Fatalf("reference reader: state %q failures %v\n%s", rep.ValidationState, rep.failures(), raw)
	}
	if !rep.hasSuccess("assertion.bmffHash.match") {
		t.Fatalf("no bmffHash match reported:\n%s", raw)
	}
	trusted, raw := referenceRead(t, "video/mp4", out.Bytes(), ca.PEM())
	if trusted.ValidationState != "Trusted" {
		t.Fatalf("with the root as trust anchor: state %q\n%s", trusted.ValidationState, raw)
	}
	// ffmpeg can still play (decode) it: chunk offsets were moved.
	f := filepath.Join(t.TempDir(), "o.mp4")
	os.WriteFile(f, out.Bytes(), 0o600)
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(b) > 0 {
		t.Fatalf("ffmpeg decoding the signed file: %v %s", err, b)
	}
}
