package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// TestUploadOver5GiB (long: FRAMEBROKER_LONG=1, outside make test): a
// 5.5 GiB file of generated (sparse, zero) bytes goes up as a multipart
// upload through the CLI's uploader, the asset-verify cron computes its
// SHA-256, and the download hashes to the same value.
func TestUploadOver5GiB(t *testing.T) {
	if os.Getenv("FRAMEBROKER_LONG") == "" {
		t.Skip("long test: set FRAMEBROKER_LONG=1 (writes 5.5 GiB to the local store)")
	}
	e := apptest.New(t)
	tok, _ := e.User("big@example.com")
	ws := e.Workspace(tok, "W")
	const size = 5<<30 + 512<<20
	path := filepath.Join(t.TempDir(), "master.mxf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	u := uploader{base: e.Server.URL, token: tok, ws: ws, partSize: 512 << 20, out: io.Discard}
	id, err := u.upload(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		res, err := e.App.Assets.Verify(t.Context())
		if err != nil || res.Failed > 0 {
			t.Fatalf("verify: %+v %v", res, err)
		}
		if res.Ready == 1 {
			break
		}
	}
	h := sha256.New()
	io.Copy(h, io.LimitReader(zeroReader{}, size))
	want := hex.EncodeToString(h.Sum(nil))
	got := e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+id, tok, nil)
	if got.Str("sha256") != want || got.Str("status") != "complete" {
		t.Fatalf("asset: %s, want sha256 %s", got.Body, want)
	}
	res, err := http.Get(got.Str("download_url"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	d := sha256.New()
	n, _ := io.Copy(d, res.Body)
	if n != size || hex.EncodeToString(d.Sum(nil)) != want {
		t.Fatalf("download: %d bytes, sha256 %x", n, d.Sum(nil))
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
