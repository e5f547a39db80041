package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/preset"
)

// TestOutputsCarryContentCredentials runs one job per preset through the
// real pipeline and reads every output back: each MP4 and JPEG carries a
// manifest the C2PA reference implementation validates (untrusted signer
// only; Trusted once Framebroker's root is its anchor) and Framebroker's
// verifier accepts; the manifest binds the job, its trail before the
// verified entry and the ledger head; the trail records each output's
// manifest hash. The HLS ladder's rungs (fragmented MP4) carry credentials
// and the ladder, as downloaded, still plays through every byte range;
// playlists carry none but are recorded as rewritten.
func TestOutputsCarryContentCredentials(t *testing.T) {
	e := env(t)
	ctx := context.Background()
	tok, _ := e.User("cc@example.com")
	ws := e.Workspace(tok, "W")
	in := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 2))
	// The workspace declares AI-generated media: every action says so.
	e.Must(200, "PUT", "/v1/workspaces/"+ws+"/content-credentials", tok, map[string]any{"digital_source_type": c2pa.SourceTrainedAlgorithmic})
	root, err := (&credentials.Issuer{Keys: e.App.Keys}).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)

	for _, name := range preset.Names() {
		t.Run(name, func(t *testing.T) {
			r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": name})
			if r.Status != 202 {
				t.Fatalf("submit: %d %s", r.Status, r.Body)
			}
			var jobID id.JobID
			if err := jobID.UnmarshalText([]byte(r.Str("id"))); err != nil {
				t.Fatal(err)
			}
			wait(t, e, tok, ws, jobID.String())
			var j job.Job
			if err := json.Unmarshal(e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+jobID.String(), tok, nil).Body, &j); err != nil {
				t.Fatal(err)
			}
			if j.Status != job.Completed {
				t.Fatalf("job %s: %s", j.Status, j.Error)
			}
			verified, before := verifiedEntry(t, e, ws, jobID)
			sealed := 0
			dir := t.TempDir() // the outputs as a customer downloads them
			for _, o := range j.Outputs {
				data := download(t, o.DownloadURL)
				if err := os.WriteFile(filepath.Join(dir, o.Name), data, 0o600); err != nil {
					t.Fatal(err)
				}
				rep, err := c2pa.Verify(bytes.NewReader(data), int64(len(data)), c2pa.VerifyOptions{Roots: roots})
				if !credentials.Supported(o.ContentType) {
					if err == nil {
						t.Errorf("%s (%s) carries a manifest", o.Name, o.ContentType)
					}
					// A rung's playlist was rewritten (its byte ranges moved
					// with the C2PA box) and is hashed as rewritten.
					got := verified[o.Name]
					if rewritten := o.Name != "master.m3u8"; got.SHA256 != o.SHA256 || rewritten != (got.WorkerSHA256 != "" && got.WorkerSHA256 != o.SHA256) {
						t.Errorf("%s: trail records %+v; want sha256 %s, rewritten %v", o.Name, got, o.SHA256, rewritten)
					}
					continue
				}
				sealed++
				if err != nil || !rep.Valid || !rep.Trusted {
					t.Fatalf("%s: Framebroker's verifier: %v %+v", o.Name, err, rep.Checks)
				}
				ref := c2patest.Read(t, o.ContentType, data, nil)
				if ref.ValidationState != "Valid" || !ref.OK() {
					t.Fatalf("%s: reference reader: %q %v\n%s", o.Name, ref.ValidationState, ref.Failures(), ref.Raw)
				}
				if !strings.Contains(ref.Raw, c2pa.SourceTrainedAlgorithmic) || !strings.Contains(ref.Raw, "c2pa.transcoded") {
					t.Errorf("%s: the actions lack c2pa.transcoded with the declared digital source type", o.Name)
				}
				if tr := c2patest.Read(t, o.ContentType, data, root.PEM()); tr.ValidationState != "Trusted" {
					t.Errorf("%s: with Framebroker's root as anchor: %q", o.Name, tr.ValidationState)
				}
				fb := rep.Framebroker
				if fb == nil || fb.Job != jobID.String() || fb.Workspace != ws || fb.Output != o.Name || fb.TrailSHA256 != before ||
					len(fb.Inputs) != 1 || fb.Inputs[0].Asset != in || fb.LedgerHead == "" {
					t.Errorf("%s: job assertion %+v; want job %s, trail sha256 %s", o.Name, fb, jobID, before)
				}
				if rep.Generator.Name != "Framebroker" {
					t.Errorf("claim generator %+v", rep.Generator)
				}
				if got := verified[o.Name]; got.ContentCredentials.ManifestSHA256 != rep.StoreSHA256 || got.SHA256 != o.SHA256 || got.WorkerSHA256 == "" || got.WorkerSHA256 == o.SHA256 {
					t.Errorf("%s: trail records %+v; want manifest %s, sha256 %s", o.Name, got, rep.StoreSHA256, o.SHA256)
				}
			}
			want := 1 // one MP4 or one JPEG sprite
			if name == "hls-ladder" {
				want = 3 // the fragmented MP4 rungs (not the playlists)
				ladderPlays(t, dir)
				tamperedRungFails(t, filepath.Join(dir, "480p.mp4"), roots)
			}
			if sealed != want {
				t.Errorf("%d outputs carry credentials, want %d", sealed, want)
			}
		})
	}
}

type verifiedOutput struct {
	Name               string `json:"name"`
	SHA256             string `json:"sha256"`
	WorkerSHA256       string `json:"worker_sha256"`
	ContentCredentials struct {
		Label              string `json:"label"`
		ManifestSHA256     string `json:"manifest_sha256"`
		IngredientManifest struct {
			Label    string   `json:"label"`
			Valid    bool     `json:"valid"`
			Failures []string `json:"failures"`
		} `json:"ingredient_manifest"`
	} `json:"content_credentials"`
}

// verifiedEntry returns the outputs the trail's verified entry lists and the
// SHA-256 of the trail before that entry (what the manifests bind),
// computed as job.TrailSHA256 does.
func verifiedEntry(t *testing.T, e *apptest.Env, ws string, j id.JobID) (map[string]verifiedOutput, string) {
	t.Helper()
	var w id.WorkspaceID
	if err := w.UnmarshalText([]byte(ws)); err != nil {
		t.Fatal(err)
	}
	events, err := job.LoadTrail(context.Background(), e.DB.Owner, w, j, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, ev := range events {
		if ev.Stage != "verified" {
			line, err := job.CanonicalEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(append(line, '\n'))
			continue
		}
		var d struct {
			Outputs []verifiedOutput `json:"outputs"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		out := map[string]verifiedOutput{}
		for _, o := range d.Outputs {
			out[o.Name] = o
		}
		return out, hex.EncodeToString(h.Sum(nil))
	}
	t.Fatal("no verified entry in the trail")
	return nil, ""
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("download: %d %v", res.StatusCode, err)
	}
	return b
}

// ladderPlays fails the test unless ffmpeg plays the downloaded ladder's
// master playlist through every segment of every rung without a message.
func ladderPlays(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(dir, "master.m3u8"), "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("ffmpeg playing the sealed ladder: %v %s", err, out)
	}
	for _, r := range []string{"1080p", "720p", "480p"} {
		out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0",
			filepath.Join(dir, r+".m3u8")).CombinedOutput()
		if err != nil || len(strings.Fields(string(out))) == 0 || strings.Contains(string(out), "N/A") {
			t.Fatalf("ffprobe %s.m3u8: %v %s", r, err, out)
		}
	}
}

// tamperedRungFails flips one byte in the last media byte of a sealed rung:
// the reference reader and Framebroker's verifier report a failure.
func tamperedRungFails(t *testing.T, file string, roots *x509.CertPool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	if ref := c2patest.Read(t, "video/mp4", b, nil); ref.OK() || (ref.Error == "" && len(ref.Failures()) == 0) {
		t.Errorf("tampered rung: the reference reader says %q", ref.ValidationState)
	}
	if rep, err := c2pa.Verify(bytes.NewReader(b), int64(len(b)), c2pa.VerifyOptions{Roots: roots}); err == nil && rep.Valid {
		t.Error("tampered rung: Framebroker's verifier says valid")
	}
}

// TestInputCredentialsCarried submits a Framebroker-sealed output as the
// input of a second job, untouched and with one media byte flipped: each
// second output's store carries the input's manifest, referenced from the
// ingredient assertion, and the reference reader validates that reference
// (ingredient.manifest.validated). The tampered input's failure
// (assertion.bmffHash.mismatch) is recorded in the ingredient's validation
// results — shown by the reference reader and Framebroker's verifier — and
// in the trail's verified entry, not dropped.
func TestInputCredentialsCarried(t *testing.T) {
	e := env(t)
	tok, _ := e.User("chain@example.com")
	ws := e.Workspace(tok, "W")
	first := runJob(t, e, tok, ws, upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 2)), "mp4-h264-720p")
	sealed := download(t, first.Outputs[0].DownloadURL)
	firstRep, err := c2pa.Verify(bytes.NewReader(sealed), int64(len(sealed)), c2pa.VerifyOptions{})
	if err != nil || !firstRep.Valid {
		t.Fatalf("first output: %v %+v", err, firstRep.Checks)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1

	for _, tc := range []struct {
		name    string
		input   []byte
		failure string
	}{
		{"sealed input", sealed, ""},
		{"tampered input", flipped, "assertion.bmffHash.mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := upload(t, e, tok, ws, "first.mp4", "video/mp4", tc.input)
			j := runJob(t, e, tok, ws, in, "mp4-h264-720p")
			out := download(t, j.Outputs[0].DownloadURL)
			rep, err := c2pa.Verify(bytes.NewReader(out), int64(len(out)), c2pa.VerifyOptions{})
			if err != nil || !rep.Valid || len(rep.Ingredients) != 1 {
				t.Fatalf("Framebroker's verifier: %v %v %+v", err, rep.Valid, rep.Ingredients)
			}
			ing := rep.Ingredients[0]
			var recorded []string
			for _, f := range ing.Recorded {
				recorded = append(recorded, f.Code)
			}
			if ing.Label != firstRep.Label || !ing.ManifestMatches || (tc.failure == "") != (len(recorded) == 0) || (tc.failure != "" && !slices.Contains(recorded, tc.failure)) {
				t.Fatalf("ingredient %+v; want the first output's manifest %s, failure %q", ing, firstRep.Label, tc.failure)
			}
			ref := c2patest.Read(t, "video/mp4", out, nil)
			if ref.ValidationState != "Valid" || !ref.OK() || len(ref.Manifests) != 2 || !strings.Contains(ref.Raw, `"ingredient.manifest.validated"`) {
				t.Fatalf("reference reader: %q %v, %d manifests\n%s", ref.ValidationState, ref.Failures(), len(ref.Manifests), ref.Raw)
			}
			if tc.failure != "" && !strings.Contains(ref.Raw, `"`+tc.failure+`"`) {
				t.Errorf("the reference reader's report does not show the ingredient's %s\n%s", tc.failure, ref.Raw)
			}
			var jobID id.JobID
			if err := jobID.UnmarshalText([]byte(j.ID.String())); err != nil {
				t.Fatal(err)
			}
			verified, _ := verifiedEntry(t, e, ws, jobID)
			tm := verified["output.mp4"].ContentCredentials.IngredientManifest
			if tm.Label != firstRep.Label || tm.Valid != (tc.failure == "") || (tc.failure != "" && !slices.Contains(tm.Failures, tc.failure)) {
				t.Errorf("trail records the ingredient manifest as %+v", tm)
			}
		})
	}
}

// runJob runs preset on input and returns the completed job.
func runJob(t *testing.T, e *apptest.Env, tok, ws, input, preset string) job.Job {
	t.Helper()
	r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{input}, "preset": preset})
	if r.Status != 202 {
		t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	wait(t, e, tok, ws, r.Str("id"))
	var j job.Job
	if err := json.Unmarshal(e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+r.Str("id"), tok, nil).Body, &j); err != nil {
		t.Fatal(err)
	}
	if j.Status != job.Completed || len(j.Outputs) == 0 {
		t.Fatalf("job %s: %s", j.Status, j.Error)
	}
	return j
}
