package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
)

// BenchmarkContentCredentials measures what Content Credentials add to a
// job: the 60 s 1080p clip of BenchmarkPipelineVsFFmpeg encoded to
// mp4-h264-1080p end to end through the local stack, once without and once
// with credentials, and the sealing alone (download, embed and sign, upload
// through the presigned PUT, re-hash) on that job's output. It reports the
// three times and sealing as a percentage of the job without credentials
// (goal < 5 %); the end-to-end difference is noisier than the sealing time.
func BenchmarkContentCredentials(b *testing.B) {
	e := env(b)
	ctx := context.Background()
	tok, _ := e.User("ccbench@example.com")
	ws := e.Workspace(tok, "Bench")
	src := filepath.Join(b.TempDir(), "src.mp4")
	gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=60",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac", "-shortest", src)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("generate: %v %s", err, out)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	in := upload(b, e, tok, ws, "src.mp4", "video/mp4", data)
	sealer := e.App.Pipeline.Steps.Credentials
	run := func(s *credentials.Sealer) (time.Duration, job.Job) {
		e.App.Pipeline.Steps.Credentials = s
		t0 := time.Now()
		r := submit(b, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "mp4-h264-1080p"})
		if r.Status != 202 {
			b.Fatalf("submit %d %s", r.Status, r.Body)
		}
		var jid id.JobID
		_ = jid.UnmarshalText([]byte(r.Str("id")))
		var exe string
		if err := e.DB.Owner.QueryRow(ctx, `SELECT execution_id FROM jobs WHERE id = $1`, jid).Scan(&exe); err != nil {
			b.Fatal(err)
		}
		res, err := e.App.Pipeline.Local.Wait(ctx, exe)
		if err != nil || res.Status != "SUCCEEDED" {
			b.Fatalf("execution %v %v", res, err)
		}
		d := time.Since(t0)
		var j job.Job
		if err := json.Unmarshal(e.Must(200, "GET", "/v1/workspaces/"+ws+"/jobs/"+jid.String(), tok, nil).Body, &j); err != nil {
			b.Fatal(err)
		}
		return d, j
	}
	defer func() { e.App.Pipeline.Steps.Credentials = sealer }()
	var without, with, seal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, plain := run(nil)
		without += d
		d, _ = run(sealer)
		with += d

		var key string
		if err := e.DB.Owner.QueryRow(ctx, `SELECT object_key FROM assets WHERE id = $1`, plain.Outputs[0].Asset).Scan(&key); err != nil {
			b.Fatal(err)
		}
		var w id.WorkspaceID
		_ = w.UnmarshalText([]byte(ws))
		m := c2pa.TranscodeManifest("output.mp4", credentials.Agent(), "", c2pa.Ingredient{Title: "src.mp4", Format: "video/mp4"}, c2pa.JobAssertion{Job: plain.ID.String()})
		t0 := time.Now()
		if _, err := sealer.Seal(ctx, w, key, pipeline.SignedKey(w, plain.ID, 1, "bench-"+time.Now().Format("150405.000000")), "video/mp4", m); err != nil {
			b.Fatal(err)
		}
		seal += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(without.Seconds()/n, "without-s")
	b.ReportMetric(with.Seconds()/n, "with-s")
	b.ReportMetric(seal.Seconds()*1000/n, "seal-ms")
	b.ReportMetric(100*seal.Seconds()/without.Seconds(), "seal-%")
}
