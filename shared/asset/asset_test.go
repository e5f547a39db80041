package asset_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob/s3test"
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

// decode reads a reply into the API's Asset.
func decode(t *testing.T, r apptest.Response) asset.Asset {
	t.Helper()
	var as asset.Asset
	if err := json.Unmarshal(r.Body, &as); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	return as
}

// send PUTs body to url with headers; drop removes some of them first.
func send(t *testing.T, url string, headers map[string]string, body []byte, drop ...string) int {
	t.Helper()
	return s3test.Send(t, blob.Presigned{URL: url, Headers: headers}, body, drop...)
}

func download(t *testing.T, url string) [32]byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return sha256.Sum256(b)
}

// TestUploadCompleteDownload runs the asset flow against versitygw and real
// ffprobe: the presigned PUT signs the declared checksum, complete records
// the checksum the store verified and the probe, the download hashes the same.
func TestUploadCompleteDownload(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	media := clip(t)
	sum := sha256.Sum256(media)

	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody("clip.mp4", "video/mp4", media)))
	if !strings.Contains(created.UploadURL, "X-Amz-Signature=") || created.Status != asset.Pending || created.DeclaredSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("created: %+v", created)
	}
	if created.UploadHeaders["If-None-Match"] != "*" || created.UploadHeaders["X-Amz-Checksum-Sha256"] == "" {
		t.Fatalf("upload headers %v: want the signed checksum and If-None-Match", created.UploadHeaders)
	}
	if d := time.Until(*created.ExpiresAt); d <= 0 || d > time.Hour {
		t.Fatalf("expires_at %v: TTL must be within (0, 1h]", created.ExpiresAt)
	}
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	e.Must(409, "POST", base+"/complete", tok, nil)

	h := created.UploadHeaders
	other := bytes.Clone(media)
	other[len(other)/2] ^= 0xff
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    []byte
		drop    []string
		want    int
	}{
		{"other bytes, same length", h, other, nil, 400},
		{"longer body", h, append(bytes.Clone(media), 0), nil, 403},
		{"no checksum header", h, media, []string{"X-Amz-Checksum-Sha256"}, 403},
		{"no If-None-Match", h, media, []string{"If-None-Match"}, 403},
		{"other content type", map[string]string{"Content-Type": "text/html", "X-Amz-Checksum-Sha256": h["X-Amz-Checksum-Sha256"], "If-None-Match": "*"}, media, nil, 403},
	} {
		if code := send(t, created.UploadURL, tc.headers, tc.body, tc.drop...); code != tc.want {
			t.Fatalf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if code := send(t, strings.Replace(created.UploadURL, "X-Amz-Signature=", "X-Amz-Signature=0", 1), h, media); code != 403 {
		t.Fatalf("tampered signature: %d, want 403", code)
	}
	if code := send(t, created.UploadURL, h, media); code != 200 {
		t.Fatalf("PUT: %d", code)
	}

	done := decode(t, e.Must(200, "POST", base+"/complete", tok, nil))
	if done.SHA256 != hex.EncodeToString(sum[:]) || done.Status != asset.Complete || done.Size != int64(len(media)) {
		t.Fatalf("complete: %+v", done)
	}
	var probe struct{ Streams []json.RawMessage }
	if json.Unmarshal(done.Probe, &probe); len(probe.Streams) != 2 {
		t.Fatalf("probe: want 2 streams (h264, aac), got %s", done.Probe)
	}
	again := decode(t, e.Must(200, "POST", base+"/complete", tok, nil))
	if again.SHA256 != done.SHA256 {
		t.Fatal("second complete changed the hash")
	}
	got := decode(t, e.Must(200, "GET", base, tok, nil))
	if download(t, got.DownloadURL) != sum {
		t.Fatal("downloaded bytes hash differently")
	}
}

// TestUploadURLAfterComplete (issue 11, observed 2): the upload URL used
// again after complete cannot change the stored bytes — other bytes are
// refused by the signed checksum, the same bytes by If-None-Match — and the
// download still hashes to the recorded SHA-256.
func TestUploadURLAfterComplete(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := []byte("original bytes of the master file")
	sum := sha256.Sum256(data)
	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody("m.bin", "application/octet-stream", data)))
	if code := send(t, created.UploadURL, created.UploadHeaders, data); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	e.Must(200, "POST", base+"/complete", tok, nil)
	evil := []byte("EVIL bytes of the same length!!!!")
	if len(evil) != len(data) {
		t.Fatal("test data lengths differ")
	}
	if code := send(t, created.UploadURL, created.UploadHeaders, evil); code < 400 {
		t.Fatalf("PUT of other bytes after complete: %d, want refusal", code)
	}
	if code := send(t, created.UploadURL, created.UploadHeaders, data); code != 412 {
		t.Fatalf("PUT of the same bytes after complete: %d, want 412", code)
	}
	got := decode(t, e.Must(200, "GET", base, tok, nil))
	if got.SHA256 != hex.EncodeToString(sum[:]) || download(t, got.DownloadURL) != sum {
		t.Fatalf("served bytes changed: %+v", got)
	}
}

// TestUploadURLAfterDelete (issue 11, observed 2): a PUT to a deleted
// asset's URL re-creates an object nobody owns; nothing serves it and the
// asset-sweep cron deletes it (and aborts multipart uploads nobody owns).
func TestUploadURLAfterDelete(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := []byte("short-lived")
	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody("x.bin", "application/octet-stream", data)))
	send(t, created.UploadURL, created.UploadHeaders, data)
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	e.Must(200, "POST", base+"/complete", tok, nil)
	keep := e.UploadAsset(tok, ws, "keep.bin", "application/octet-stream", []byte("kept"))
	e.Must(204, "DELETE", base, tok, nil)
	key := asset.ObjectKey(created.Workspace, created.ID)
	if _, err := e.App.Blob.Head(t.Context(), key); err == nil {
		t.Fatal("object still there after delete")
	}
	if code := send(t, created.UploadURL, created.UploadHeaders, data); code != 200 {
		t.Fatalf("PUT to the deleted asset's URL: %d (the test expects the store to accept it)", code)
	}
	e.Must(404, "GET", base, tok, nil)
	// A multipart upload nobody owns.
	orphanUp, err := e.App.Blob.StartMultipart(t.Context(), "ws/"+ws+"/assets/ast_orphan", "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	// Only this workspace's folder: other packages' tests share the bucket.
	res, err := e.App.Assets.SweepUnder(t.Context(), "ws/"+ws+"/")
	if err != nil || res.Objects < 1 || res.Uploads < 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if _, err := e.App.Blob.Head(t.Context(), key); err == nil {
		t.Fatal("the orphan object survived the sweep")
	}
	if _, err := e.App.Blob.ListParts(t.Context(), "ws/"+ws+"/assets/ast_orphan", orphanUp); err == nil {
		t.Fatal("the orphan multipart upload survived the sweep")
	}
	kept := decode(t, e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+keep, tok, nil))
	if download(t, kept.DownloadURL) != sha256.Sum256([]byte("kept")) {
		t.Fatal("the sweep touched an owned object")
	}
}

// TestNotMediaIsStoredWithoutProbe: complete records a file ffprobe cannot
// read, with no probe.
func TestNotMediaIsStoredWithoutProbe(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	id := e.UploadAsset(tok, ws, "notes.bin", "application/octet-stream", []byte("definitely not a video"))
	done := decode(t, e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+id, tok, nil))
	if done.Probe != nil || done.Status != asset.Complete {
		t.Fatalf("non-media: %+v", done)
	}
}

// TestExpiredUploadURL: a presigned URL is refused once its TTL has passed.
func TestExpiredUploadURL(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	body := []byte("abc")
	sum := sha256.Sum256(body)
	p, err := e.App.Blob.PresignCreate(t.Context(), "ws/"+ws+"/assets/expired", "video/mp4", 3, sum[:], time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if code := send(t, p.URL, p.Headers, body); code != 403 {
		t.Fatalf("expired URL: %d, want 403", code)
	}
}

func TestCreateValidation(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		body any
	}{
		{"html type", map[string]any{"filename": "x.html", "content_type": "text/html", "size": 1, "sha256": sum}},
		{"svg", map[string]any{"filename": "x.svg", "content_type": "image/svg+xml", "size": 1, "sha256": sum}},
		{"type params", map[string]any{"filename": "x", "content_type": "video/mp4; codecs=avc1", "size": 1, "sha256": sum}},
		{"slash in name", map[string]any{"filename": "../x.mp4", "content_type": "video/mp4", "size": 1, "sha256": sum}},
		{"control char", map[string]any{"filename": "x\n.mp4", "content_type": "video/mp4", "size": 1, "sha256": sum}},
		{"zero size", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 0, "sha256": sum}},
		{"over 5 TiB", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": int64(5)<<40 + 1, "sha256": sum}},
		{"no sha256", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 1}},
		{"short sha256", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 1, "sha256": "abcd"}},
		{"part too small", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 100 << 20, "sha256": sum, "part_size": 1 << 20}},
		{"too many parts", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": int64(5) << 40, "sha256": sum, "part_size": 5 << 20}},
		{"unknown field", map[string]any{"filename": "x.mp4", "content_type": "video/mp4", "size": 1, "sha256": sum, "key": "ws/other"}},
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
	created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, apptest.AssetBody(name, ct, body))
	if code := e.PutUpload(created, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	return created.Str("id")
}
