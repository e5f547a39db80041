package asset_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// clip makes a real one-second H.264/AAC MP4 with ffmpeg.
func clip(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, url, contentType string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestUploadCompleteDownload runs the asset flow against versitygw and real
// ffprobe: presigned PUT, complete (server-side SHA-256 and probe), then a
// presigned download whose bytes hash the same.
func TestUploadCompleteDownload(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	media := clip(t)
	sum := sha256.Sum256(media)

	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, map[string]any{
		"filename": "clip.mp4", "content_type": "video/mp4", "size": len(media)}).JSON()
	id, url := created["id"].(string), created["upload_url"].(string)
	if !strings.Contains(url, "X-Amz-Signature=") {
		t.Fatalf("upload url %q: want a presigned URL", url)
	}
	exp, _ := time.Parse(time.RFC3339, created["expires_at"].(string))
	if d := time.Until(exp); d <= 0 || d > time.Hour {
		t.Fatalf("expires_at %v: TTL must be within (0, 1h]", exp)
	}
	e.Must(409, "POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", tok, nil)

	// The signature binds size and type: other bytes or another type are refused.
	if code := put(t, url, "video/mp4", append(media, 0)); code < 400 {
		t.Fatalf("PUT of a longer body: %d, want refusal", code)
	}
	if code := put(t, url, "text/html", media); code < 400 {
		t.Fatalf("PUT with another content type: %d, want refusal", code)
	}
	tampered := strings.Replace(url, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	if code := put(t, tampered, "video/mp4", media); code != 403 {
		t.Fatalf("PUT with a tampered signature: %d, want 403", code)
	}
	if code := put(t, url, "video/mp4", media); code != 200 {
		t.Fatalf("PUT: %d", code)
	}

	done := e.Must(200, "POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", tok, nil).JSON()
	if done["sha256"] != hex.EncodeToString(sum[:]) || done["status"] != "complete" || int(done["size"].(float64)) != len(media) {
		t.Fatalf("complete: %v", done)
	}
	probe, _ := done["probe"].(map[string]any)
	streams, _ := probe["streams"].([]any)
	if len(streams) != 2 {
		t.Fatalf("probe: want 2 streams (h264, aac), got %v", probe)
	}
	// Completing again answers the same record.
	again := e.Must(200, "POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", tok, nil).JSON()
	if again["sha256"] != done["sha256"] {
		t.Fatal("second complete changed the hash")
	}

	got := e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+id, tok, nil).JSON()
	res, err := http.Get(got["download_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if dl := sha256.Sum256(b); dl != sum {
		t.Fatalf("downloaded bytes hash %x, want %x", dl, sum)
	}
}

// TestNotMediaIsStoredWithoutProbe: complete still hashes a file ffprobe
// cannot read, and records no probe.
func TestNotMediaIsStoredWithoutProbe(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := []byte("definitely not a video")
	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, map[string]any{
		"filename": "notes.bin", "content_type": "application/octet-stream", "size": len(data)}).JSON()
	if code := put(t, created["upload_url"].(string), "application/octet-stream", data); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	done := e.Must(200, "POST", "/v1/workspaces/"+ws+"/assets/"+created["id"].(string)+"/complete", tok, nil).JSON()
	if _, ok := done["probe"]; ok {
		t.Fatalf("probe recorded for non-media: %v", done["probe"])
	}
}

// TestExpiredUploadURL: a presigned URL is refused once its TTL has passed.
func TestExpiredUploadURL(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	// A one-second URL minted straight from the store, as the handler does.
	url, err := e.App.Blob.PresignPut(t.Context(), "ws/"+ws+"/assets/expired", "video/mp4", 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if code := put(t, url, "video/mp4", []byte("abc")); code != 403 {
		t.Fatalf("expired URL: %d, want 403", code)
	}
}

func TestCreateValidation(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	for _, tc := range []struct {
		name string
		body any
	}{
		{"html type", map[string]any{"filename": "x.html", "content_type": "text/html", "size": 1}},
		{"svg", map[string]any{"filename": "x.svg", "content_type": "image/svg+xml", "size": 1}},
		{"type params", map[string]any{"filename": "x", "content_type": "video/mp4; codecs=avc1", "size": 1}},
		{"slash in name", map[string]any{"filename": "../x.mp4", "content_type": "video/mp4", "size": 1}},
		{"control char", map[string]any{"filename": "x\n.mp4", "content_type": "video/mp4", "size": 1}},
		{"zero size", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 0}},
		{"huge", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": int64(6) << 30}},
		{"unknown field", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 1, "key": "ws/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do("POST", "/v1/workspaces/"+ws+"/assets", tok, tc.body)
			if r.Status != 400 || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d %s", r.Status, r.Body)
			}
		})
	}
}

// uploadOnly creates an asset and PUTs body to its upload URL.
func uploadOnly(t *testing.T, e *apptest.Env, tok, ws, name, ct string, body []byte) string {
	t.Helper()
	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, map[string]any{
		"filename": name, "content_type": ct, "size": len(body)}).JSON()
	if code := put(t, created["upload_url"].(string), ct, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	return created["id"].(string)
}
