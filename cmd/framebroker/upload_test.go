package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
)

// TestUploadResumes: an upload interrupted after one part resumes from the
// state file (uploading only the missing parts), completes, and verifies
// to the file's SHA-256.
func TestUploadResumes(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("cli@example.com")
	ws := e.Workspace(tok, "W")
	path := filepath.Join(t.TempDir(), "master.mxf")
	data := make([]byte, 11<<20)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	u := uploader{base: e.Server.URL, token: tok, ws: ws, partSize: 5 << 20, out: io.Discard, failAfter: 1}
	if _, err := u.upload(t.Context(), path); err == nil {
		t.Fatal("interrupted upload reported success")
	}
	if _, err := os.Stat(path + ".fbupload"); err != nil {
		t.Fatalf("no resume state: %v", err)
	}
	u.failAfter = 2 // a resume that re-sent part 1 would stop before part 3
	id, err := u.upload(t.Context(), path)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, err := os.Stat(path + ".fbupload"); err == nil {
		t.Fatal("resume state left after complete")
	}
	if res, err := e.App.Assets.Verify(t.Context()); err != nil || res.Ready != 1 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	sum := sha256.Sum256(data)
	got := e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+id, tok, nil)
	if got.Str("status") != "complete" || got.Str("sha256") != hex.EncodeToString(sum[:]) {
		t.Fatalf("asset: %s", got.Body)
	}
}
