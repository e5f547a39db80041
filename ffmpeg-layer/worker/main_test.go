package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/mediatest"
)

// TestWorkerNeverFollowsReferences runs the worker on each hostile file of
// the issue-11 corpus, served as its presigned input, and asserts that the
// loopback listener the files point at received nothing and that no output
// was uploaded.
func TestWorkerNeverFollowsReferences(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed (scripts/install.sh installs it)")
	}
	var mu sync.Mutex
	var puts []string
	listener := mediatest.NewListener(t)
	attacks := media.Attacks(listener.URL)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			puts = append(puts, r.URL.Path)
			mu.Unlock()
			return
		}
		for _, a := range attacks {
			if r.URL.Path == "/in/"+strings.ReplaceAll(a.Name, " ", "-") {
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(a.Body)))
				return
			}
		}
		http.NotFound(w, r)
	}))
	defer store.Close()
	for _, a := range attacks {
		t.Run(a.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := run(ctx, []string{"--preset", "mp4-h264-720p", "--duration", "1",
				"--input", store.URL + "/in/" + strings.ReplaceAll(a.Name, " ", "-") + "?X-Amz-Signature=secret",
				"--output", "output.mp4=" + store.URL + "/out/output.mp4?X-Amz-Signature=secret"})
			if err == nil {
				t.Fatalf("worker encoded a %s", a.Name)
			}
			argv := strings.Join(rep.FFmpegArgv, " ")
			if !strings.Contains(argv, "-protocol_whitelist http,tcp -format_whitelist ") || strings.Contains(argv, "secret") {
				t.Fatalf("ffmpeg argv not confined or not redacted: %s", argv)
			}
		})
	}
	listener.RequireSilent(t)
	mu.Lock()
	defer mu.Unlock()
	if len(puts) != 0 {
		t.Fatalf("outputs were uploaded: %v", puts)
	}
}
