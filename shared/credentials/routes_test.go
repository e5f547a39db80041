package credentials_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
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
)

// TestCustomerCertificate: a workspace declares its digital source type,
// fetches a CSR for its signing key, has its own CA certify it and uploads
// the chain; outputs are then signed with that chain, so a reader trusting
// the customer's CA (and not Framebroker's root) reports Trusted. A chain
// for another key is refused; deleting the chain goes back to the root.
func TestCustomerCertificate(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	tok, _ := e.User("cert@example.com")
	ws := e.Workspace(tok, "W")
	base := "/v1/workspaces/" + ws + "/content-credentials"

	e.Must(400, "PUT", base, tok, map[string]any{"digital_source_type": "http://example.com/made-up"})
	var st credentials.Settings
	json.Unmarshal(e.Must(200, "PUT", base, tok, map[string]any{"digital_source_type": c2pa.SourceTrainedAlgorithmic}).Body, &st)
	if st.DigitalSourceType == nil || *st.DigitalSourceType != c2pa.SourceTrainedAlgorithmic || st.Certificate != nil {
		t.Fatalf("settings %+v", st)
	}

	blk, _ := pem.Decode(e.Must(200, "GET", base+"/csr", tok, nil).Body)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		t.Fatal("no CSR")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	customer, err := c2pa.NewCA(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)), "Customer CA", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	der, err := customer.Issue(csr.PublicKey, csr.Subject, time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chainPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	// A certificate for another key is refused.
	otherKey, _ := c2pa.DeriveP256(bytes.Repeat([]byte{6}, 32), "other")
	otherDER, _ := customer.Issue(otherKey.Public(), csr.Subject, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	e.Must(400, "PUT", base+"/certificate", tok, map[string]any{"chain_pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherDER}))})
	json.Unmarshal(e.Must(200, "PUT", base+"/certificate", tok, map[string]any{"chain_pem": chainPEM}).Body, &st)
	if st.Certificate == nil || st.Certificate.Issuer != customer.Cert.Subject.String() {
		t.Fatalf("settings after upload %+v", st.Certificate)
	}

	var w id.WorkspaceID
	w.UnmarshalText([]byte(ws))
	issuer := &credentials.Issuer{Keys: e.App.Keys, Pool: e.DB.App}
	signer, err := issuer.Signer(ctx, w)
	if err != nil || !bytes.Equal(signer.Chain[0], der) {
		t.Fatalf("the signer does not use the uploaded chain: %v", err)
	}
	signed := sealJPEG(t, signer)
	roots := x509.NewCertPool()
	roots.AddCert(customer.Cert)
	rep, err := c2pa.Verify(bytes.NewReader(signed), int64(len(signed)), c2pa.VerifyOptions{Roots: roots})
	if err != nil || !rep.Valid || !rep.Trusted {
		t.Fatalf("verifier with the customer's CA: %v %+v", err, rep.Checks)
	}
	if ref := c2patest.Read(t, "image/jpeg", signed, customer.PEM()); ref.ValidationState != "Trusted" {
		t.Fatalf("reference reader with the customer's CA: %q\n%s", ref.ValidationState, ref.Raw)
	}

	e.Must(200, "DELETE", base+"/certificate", tok, nil)
	if signer, err = issuer.Signer(ctx, w); err != nil || bytes.Equal(signer.Chain[0], der) {
		t.Fatalf("after delete the signer still uses the uploaded chain (%v)", err)
	}
}

func sealJPEG(t *testing.T, s c2pa.Signer) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.jpg")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=1:duration=1", "-frames:v", "1", f).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	src, _ := os.ReadFile(f)
	var out bytes.Buffer
	m := c2pa.TranscodeManifest("x.jpg", credentials.Agent(), c2pa.SourceTrainedAlgorithmic, c2pa.Ingredient{Title: "in.mp4", Format: "video/mp4"}, c2pa.JobAssertion{Job: "j"})
	if _, err := c2pa.EmbedJPEG(bytes.NewReader(src), int64(len(src)), &out, m, s); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestReadIngredientThroughTheStore reads inputs as the Verify step does
// (presigned range GETs): a sealed JPEG's credentials come back verified
// and trusted by the keyring's keys; a tampered one comes back with its
// failure in the report; an input deleted since the worker read it (404)
// yields none rather than failing the job.
func TestReadIngredientThroughTheStore(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	sealer := e.App.Pipeline.Steps.Credentials
	keys, err := e.App.Keys.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sealer.Issuer.Signer(ctx, id.New[id.WorkspaceID]())
	if err != nil {
		t.Fatal(err)
	}
	signed := sealJPEG(t, signer)
	bad := bytes.Clone(signed)
	bad[len(bad)-10] ^= 1
	put := func(key string, b []byte) {
		t.Helper()
		url, err := sealer.Store.PresignPut(ctx, key, "image/jpeg", int64(len(b)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("PUT", url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "image/jpeg")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("put %s: %v %v", key, err, res)
		}
		res.Body.Close()
	}
	put("test/signed.jpg", signed)
	put("test/bad.jpg", bad)

	ic, err := sealer.ReadIngredient(ctx, "test/signed.jpg", int64(len(signed)), keys)
	if err != nil || ic == nil || !ic.Report.Valid || !ic.Report.Trusted {
		t.Fatalf("sealed input: %v %+v", err, ic)
	}
	ic, err = sealer.ReadIngredient(ctx, "test/bad.jpg", int64(len(bad)), keys)
	if err != nil || ic == nil || ic.Report.Valid || len(c2pa.IngredientFailures(ic.Report)) == 0 {
		t.Fatalf("tampered input: %v %+v", err, ic)
	}
	if ic, err := sealer.ReadIngredient(ctx, "test/gone.jpg", 1000, keys); err != nil || ic != nil {
		t.Fatalf("deleted input: %v %+v", err, ic)
	}
}
