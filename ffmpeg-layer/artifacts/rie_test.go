package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/lambdafn/rietest"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/probefn/invoke"
)

// probeUnderRIE runs the image's probe bootstrap (arm64, under qemu-user,
// from the unpacked image root) as the Lambda Runtime Interface Emulator's
// function and invokes it the way the assets and pipeline functions do:
// through the AWS SDK's Lambda client (probefn/invoke), pointed at the
// emulator. The bootstrap runs the image's ffprobe (also under qemu: a
// host without binfmt cannot exec arm64 directly, so FRAMEBROKER_FFPROBE
// names a wrapper) on media served over HTTP like a presigned URL.
func probeUnderRIE(t *testing.T, q, root, clipPath string) {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ffprobe")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+q+" -L "+root+" "+filepath.Join(root, "usr/bin/ffprobe")+` "$@"`+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	clipBytes, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "clip.mp4", time.Unix(0, 0), bytes.NewReader(clipBytes))
	})
	mux.HandleFunc("/list.mp4", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	em := rietest.Start(t, t, []string{"PATH=/usr/bin:/bin", "FRAMEBROKER_FFPROBE=" + wrapper, "HOME=/nonexistent"},
		q, "-L", root, filepath.Join(root, "usr/local/bin/probe"))
	logs := em.Output

	// The SDK client of the calling functions, at the emulator (whose only
	// function is "function").
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", "http://"+em.Addr)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := invoke.New(ctx, "function")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.Probe(ctx, srv.URL+"/clip.mp4", "video/mp4")
	if err != nil {
		t.Fatalf("probe through the emulator: %v\n%s", err, logs.String())
	}
	var doc struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Streams) != 1 || doc.Streams[0].CodecName != "h264" || doc.Streams[0].Width != 320 {
		t.Fatalf("probe reply %s (%v)", raw, err)
	}
	// A playlist declared as MP4 is refused inside the function, and the
	// refusal reaches the caller as the same typed error as in process.
	_, err = client.Probe(ctx, srv.URL+"/list.mp4", "video/mp4")
	var refused *media.RefusedError
	if !errors.As(err, &refused) || refused.Format != "hls" {
		t.Fatalf("playlist through the emulator: %v\n%s", err, logs.String())
	}
	// A local path is not probed (the function's own files stay private).
	if _, err := client.Probe(ctx, "/etc/passwd", "video/mp4"); err == nil {
		t.Fatal("the probe function probed a local path")
	}
}
