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
// manifest hash. Playlists and MPEG-TS rungs carry none (see README).
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
			for _, o := range j.Outputs {
				data := download(t, o.DownloadURL)
				rep, err := c2pa.Verify(bytes.NewReader(data), int64(len(data)), c2pa.VerifyOptions{Roots: roots})
				if !credentials.Supported(o.ContentType) {
					if err == nil {
						t.Errorf("%s (%s) carries a manifest", o.Name, o.ContentType)
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
				want = 0 // playlists and MPEG-TS rungs
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
		Label          string `json:"label"`
		ManifestSHA256 string `json:"manifest_sha256"`
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
