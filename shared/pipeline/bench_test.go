package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/preset"
)

// BenchmarkPipelineVsFFmpeg encodes a generated 60 s 1080p clip to
// mp4-h264-720p end to end through the local stack (API submission, the
// synthesized state machine, probe, presign, the credential-less worker
// streaming from and to versitygw, verification and registration), and the
// same ffmpeg command on local files, in the same run. It reports both wall
// times and their ratio (goal ≤ 1.10).
func BenchmarkPipelineVsFFmpeg(b *testing.B) {
	e := env(b)
	tok, _ := e.User("bench@example.com")
	ws := e.Workspace(tok, "Bench")
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
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
	p, _ := preset.Lookup("mp4-h264-720p")

	var pipe, raw time.Duration
	fixed := map[string]time.Duration{} // summed over runs, per span name
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r := submit(b, e, tok, ws, "", map[string]any{"inputs": []string{in}, "preset": "mp4-h264-720p"})
		if r.Status != 202 {
			b.Fatalf("submit %d %s", r.Status, r.Body)
		}
		var jid id.JobID
		_ = jid.UnmarshalText([]byte(r.Str("id")))
		var exe string
		if err := e.DB.Owner.QueryRow(context.Background(), `SELECT execution_id FROM jobs WHERE id = $1`, jid).Scan(&exe); err != nil {
			b.Fatal(err)
		}
		res, err := e.App.Pipeline.Local.Wait(context.Background(), exe)
		if err != nil || res.Status != "SUCCEEDED" {
			b.Fatalf("execution %v %v", res, err)
		}
		pipe += time.Since(t0)
		for _, sp := range timeline(b, e, ws, jid.String()) {
			fixed[sp.Name] += sp.Duration
		}

		out := b.TempDir()
		t0 = time.Now()
		cmd := exec.Command("ffmpeg", p.Args(src, out, 60)...)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("raw ffmpeg: %v %s", err, o)
		}
		raw += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(pipe.Seconds()/n, "pipeline-s")
	b.ReportMetric(raw.Seconds()/n, "ffmpeg-s")
	b.ReportMetric(pipe.Seconds()/raw.Seconds(), "ratio")
	// Where the rest went (the job's trail, see pipeline.Timeline): the
	// fixed cost is everything but the worker's encode.
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	var total time.Duration
	for name, d := range fixed {
		if name != "encode" {
			total += d
		}
	}
	b.ReportMetric(ms(total), "fixed-ms")
	b.ReportMetric(ms(fixed["dispatch"]), "dispatch-ms")
	b.ReportMetric(ms(fixed["runner start"]), "runner-start-ms")
	b.ReportMetric(ms(fixed["transition"]), "transitions-ms")
	b.ReportMetric(ms(fixed["probe"]+fixed["presign"]+fixed["verify and record"]+fixed["notify"]), "steps-ms")
	b.ReportMetric(ms(fixed["worker start"]), "worker-start-ms")
	b.ReportMetric(ms(fixed["encode"]), "encode-ms")
}
