package provenance_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// jpeg makes a small real JPEG.
func jpeg(t *testing.T) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.jpg")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=1:duration=1", "-frames:v", "1", f).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seal(t *testing.T, src []byte, s c2pa.Signer) []byte {
	t.Helper()
	var out bytes.Buffer
	m := c2pa.TranscodeManifest("sprite.jpg", credentials.Agent(), "", c2pa.Ingredient{Title: "in.mp4", Format: "video/mp4"}, c2pa.JobAssertion{Job: "job_x"})
	if _, err := c2pa.EmbedJPEG(bytes.NewReader(src), int64(len(src)), &out, m, s); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVerifyCredentialsRoute: the public route checks a file's embedded
// credentials and trusts certificates issued under the keyring's published
// keys; a flipped byte is invalid, another CA's signer is valid but not
// trusted, a file without credentials is refused with its own type. The
// root served as PEM is the issuer of the workspace certificates.
func TestVerifyCredentialsRoute(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	issuer := &credentials.Issuer{Keys: e.App.Keys}
	signer, err := issuer.Signer(ctx, id.New[id.WorkspaceID]())
	if err != nil {
		t.Fatal(err)
	}
	src := jpeg(t)
	signed := seal(t, src, signer)
	verify := func(body []byte, want int) c2pa.Report {
		t.Helper()
		var rep c2pa.Report
		r := e.Must(want, "POST", "/v1/provenance/credentials/verify", "", string(body))
		if want == 200 {
			if err := json.Unmarshal(r.Body, &rep); err != nil {
				t.Fatal(err)
			}
		}
		return rep
	}
	if rep := verify(signed, 200); !rep.Valid || !rep.Trusted || rep.Framebroker == nil || rep.Framebroker.Job != "job_x" {
		t.Fatalf("signed file: %+v", rep)
	}
	bad := bytes.Clone(signed)
	bad[len(bad)-10] ^= 1
	if rep := verify(bad, 200); rep.Valid {
		t.Fatalf("a flipped media byte verified: %+v", rep.Checks)
	}
	// A signer under another root: intact, but not trusted.
	other, err := c2pa.NewCA(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), "Someone else", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := c2pa.DeriveP256(bytes.Repeat([]byte{4}, 32), "x")
	der, err := other.Issue(key.Public(), pkix.Name{CommonName: "impostor"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep := verify(seal(t, src, c2pa.Signer{Key: key, Chain: [][]byte{der}}), 200); !rep.Valid || rep.Trusted {
		t.Fatalf("another CA's signer: valid %v trusted %v", rep.Valid, rep.Trusted)
	}
	r := e.Must(422, "POST", "/v1/provenance/credentials/verify", "", string(src))
	if !bytes.Contains(r.Body, []byte("no-content-credentials")) {
		t.Fatalf("no credentials: %s", r.Body)
	}
	if r := e.Must(422, "POST", "/v1/provenance/credentials/verify", "", "hello"); !bytes.Contains(r.Body, []byte("media-unreadable")) {
		t.Fatalf("not media: %s", r.Body)
	}

	res := e.Must(200, "GET", "/v1/provenance/credentials/root.pem", "", nil)
	blk, _ := pem.Decode(res.Body)
	root, err := issuer.Root(ctx)
	if err != nil || blk == nil || !bytes.Equal(blk.Bytes, root.Cert.Raw) {
		t.Fatalf("root.pem does not hold the issuer's root: %v %s", err, res.Body)
	}
	leaf, _ := x509.ParseCertificate(signer.Chain[0])
	if err := leaf.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatalf("the workspace certificate is not issued by the served root: %v", err)
	}
}

// TestCredentialsRootsAfterRotation: after a keyring rotation root.pem
// serves the new root first and the root over the retired key after it, so
// a file signed before the rotation is still Trusted by the reference
// reader with the served bundle as its anchors (and by Framebroker's
// verifier with it as roots), as is a file signed after it.
func TestCredentialsRootsAfterRotation(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(keyring.EnvDir, dir)
	e := apptest.New(t)
	ctx := context.Background()
	ws := id.New[id.WorkspaceID]()
	src := jpeg(t)
	served := func() []*x509.Certificate {
		t.Helper()
		body := e.Must(200, "GET", "/v1/provenance/credentials/root.pem", "", nil).Body
		var out []*x509.Certificate
		for {
			var blk *pem.Block
			if blk, body = pem.Decode(body); blk == nil {
				break
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	before, err := (&credentials.Issuer{Keys: e.App.Keys}).Signer(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	oldRoots := served()
	if len(oldRoots) != 1 {
		t.Fatalf("before any rotation: %d roots served", len(oldRoots))
	}
	oldFile := seal(t, src, before)

	if err := keyring.NewDir(dir).Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	after, err := (&credentials.Issuer{Keys: e.App.Keys}).Signer(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	newFile := seal(t, src, after)
	roots := served()
	cur, err := (&credentials.Issuer{Keys: e.App.Keys}).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 || !roots[0].Equal(cur.Cert) || !roots[1].Equal(oldRoots[0]) || roots[0].Equal(roots[1]) {
		t.Fatalf("after a rotation: %d roots; want the new root then the old one", len(roots))
	}
	var bundle []byte
	pool := x509.NewCertPool()
	for _, c := range roots {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		pool.AddCert(c)
	}
	onlyNew := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: roots[0].Raw})
	for name, f := range map[string][]byte{"signed before the rotation": oldFile, "signed after it": newFile} {
		if ref := c2patest.Read(t, "image/jpeg", f, bundle); ref.ValidationState != "Trusted" {
			t.Errorf("%s: the reference reader with the served roots: %q %v", name, ref.ValidationState, ref.Failures())
		}
		if rep, err := c2pa.Verify(bytes.NewReader(f), int64(len(f)), c2pa.VerifyOptions{Roots: pool}); err != nil || !rep.Trusted {
			t.Errorf("%s: Framebroker's verifier with the served roots: %v %+v", name, err, rep.Checks)
		}
	}
	// Without the old root the old file is not trusted: the bundle matters.
	if ref := c2patest.Read(t, "image/jpeg", oldFile, onlyNew); ref.ValidationState == "Trusted" {
		t.Error("the pre-rotation file is trusted by the new root alone: the test proves nothing")
	}
}
