package c2pa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
)

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
	agent := Generator{Name: "Framebroker", Version: "test"}
	return TranscodeManifest("output.mp4", agent, SourceTrainedAlgorithmic,
		Ingredient{Title: "in.mov", Format: "video/quicktime", Asset: "ast_1", SHA256: strings.Repeat("ab", 32)},
		JobAssertion{Workspace: "ws_1", Job: "job_1", Attempt: 1, Preset: "mp4-h264-720p", Output: "output.mp4",
			WorkerSHA256: strings.Repeat("cd", 32), TrailSHA256: strings.Repeat("ef", 32), LedgerSeq: 7, LedgerHead: strings.Repeat("01", 32),
			Inputs: []JobInput{{Asset: "ast_1", SHA256: strings.Repeat("ab", 32)}}})
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
	rep := c2patest.Read(t, "video/mp4", out.Bytes(), nil)
	if rep.ValidationState != "Valid" || !rep.OK() {
		t.Fatalf("reference reader: state %q failures %v\n%s", rep.ValidationState, rep.Failures(), rep.Raw)
	}
	if !rep.Succeeded("assertion.bmffHash.match") {
		t.Fatalf("no bmffHash match reported:\n%s", rep.Raw)
	}
	trusted := c2patest.Read(t, "video/mp4", out.Bytes(), ca.PEM())
	if trusted.ValidationState != "Trusted" {
		t.Fatalf("with the root as trust anchor: state %q\n%s", trusted.ValidationState, trusted.Raw)
	}
	// ffmpeg can still play (decode) it: chunk offsets were moved.
	f := filepath.Join(t.TempDir(), "o.mp4")
	os.WriteFile(f, out.Bytes(), 0o600)
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(b) > 0 {
		t.Fatalf("ffmpeg decoding the signed file: %v %s", err, b)
	}
}

func TestJPEGReadByReferenceImplementation(t *testing.T) {
	_, jpg := fixtures(t)
	s, ca := testSigner(t)
	var out bytes.Buffer
	m := testManifest()
	m.Title = "sprite.jpg"
	if _, err := EmbedJPEG(bytes.NewReader(jpg), int64(len(jpg)), &out, m, s); err != nil {
		t.Fatal(err)
	}
	rep := c2patest.Read(t, "image/jpeg", out.Bytes(), nil)
	if rep.ValidationState != "Valid" || !rep.OK() || !rep.Succeeded("assertion.dataHash.match") {
		t.Fatalf("reference reader: state %q failures %v\n%s", rep.ValidationState, rep.Failures(), rep.Raw)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	got, err := Verify(bytes.NewReader(out.Bytes()), int64(out.Len()), VerifyOptions{Roots: roots})
	if err != nil || !got.Valid || !got.Trusted {
		t.Fatalf("Framebroker verifier: %v %+v", err, got)
	}
}

// TestTamperedOutputsFail flips one byte in the media and one in the
// manifest of a signed MP4 and a signed JPEG: the reference reader and
// Framebroker's verifier both report a failure.
func TestTamperedOutputsFail(t *testing.T) {
	mp4, jpg := fixtures(t)
	s, _ := testSigner(t)
	for _, tc := range []struct {
		name  string
		mime  string
		src   []byte
		embed func(io.ReaderAt, int64, io.Writer, Manifest, Signer) (Embedded, error)
	}{
		{"mp4", "video/mp4", mp4, EmbedBMFF},
		{"jpeg", "image/jpeg", jpg, EmbedJPEG},
	} {
		var out bytes.Buffer
		emb, err := tc.embed(bytes.NewReader(tc.src), int64(len(tc.src)), &out, testManifest(), s)
		if err != nil {
			t.Fatal(err)
		}
		signed := out.Bytes()
		rep, err := Verify(bytes.NewReader(signed), int64(len(signed)), VerifyOptions{})
		if err != nil || !rep.Valid || rep.StoreSHA256 != emb.StoreSHA256 || rep.Framebroker == nil || rep.Framebroker.Job != "job_1" {
			t.Fatalf("%s: untampered: %v %+v", tc.name, err, rep)
		}
		// media: the last byte is always media (mdat / entropy-coded data
		// before EOI for JPEG, so take one a little earlier).
		mediaAt := len(signed) - 1
		if tc.name == "jpeg" {
			mediaAt = len(signed) - 10
		}
		// manifest: a byte inside the claim's CBOR (its dc:title).
		manifestAt := bytes.Index(signed, []byte(m2title(tc.name)))
		if manifestAt < 0 {
			t.Fatal("title not found in the manifest")
		}
		for _, at := range []struct {
			where string
			off   int
		}{{"media", mediaAt}, {"manifest", manifestAt}} {
			bad := bytes.Clone(signed)
			bad[at.off] ^= 0x01
			ref := c2patest.Read(t, tc.mime, bad, nil)
			if ref.OK() || (ref.Error == "" && len(ref.Failures()) == 0) {
				t.Errorf("%s, byte flipped in the %s: the reference reader says %q\n%s", tc.name, at.where, ref.ValidationState, ref.Raw)
			}
			got, err := Verify(bytes.NewReader(bad), int64(len(bad)), VerifyOptions{})
			if err == nil && got.Valid {
				t.Errorf("%s, byte flipped in the %s: Framebroker's verifier says valid", tc.name, at.where)
			}
		}
	}
}

func m2title(string) string { return "output.mp4" }
