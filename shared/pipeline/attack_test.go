package pipeline_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/mediatest"
)

// TestProbeStepRefusesReferences: an input whose stored bytes are a
// playlist (an object written before uploads were checked, or by anyone
// holding the bucket's keys) fails the Probe step with Job.InputRefused,
// and neither the Probe step nor the worker ever reaches the listener the
// playlist points at.
func TestProbeStepRefusesReferences(t *testing.T) {
	e := env(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	l := mediatest.NewListener(t)
	for _, a := range media.Attacks(l.URL)[:3] {
		t.Run(a.Name, func(t *testing.T) {
			ast := upload(t, e, tok, ws, "clip.mp4", "video/mp4", clip(t, 1))
			key := "ws/" + ws + "/assets/" + ast
			bucket := e.App.Config.MediaBucket
			if _, err := e.App.Blob.Client().PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key,
				Body: bytes.NewReader(a.Body), ContentType: strPtr("video/mp4")}); err != nil {
				t.Fatal(err)
			}
			r := submit(t, e, tok, ws, "", map[string]any{"inputs": []string{ast}, "preset": "mp4-h264-720p"})
			if r.Status != 202 {
				t.Fatalf("submit: %d %s", r.Status, r.Body)
			}
			j := wait(t, e, tok, ws, r.Str("id"))
			msg, _ := j["error"].(string)
			if j["status"] != "failed" || !strings.Contains(msg, "Job.InputRefused") || !strings.Contains(msg, "hls") {
				t.Fatalf("job %v: want failed with Job.InputRefused naming hls", j)
			}
		})
	}
	l.RequireSilent(t)
}

func strPtr(s string) *string { return &s }
