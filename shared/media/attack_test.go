package media_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/mediatest"
)

// serve serves body as the "store": a plain HTTP server like the local one.
func serve(t testing.TB, body []byte) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(body)))
	}))
	t.Cleanup(s.Close)
	return s.URL + "/ws/x/assets/y?X-Amz-Signature=abc"
}

func TestAttacksNeverReachTheListener(t *testing.T) {
	requireFFprobe(t)
	l := mediatest.NewListener(t)
	ctx := context.Background()
	for _, a := range media.Attacks(l.URL) {
		t.Run(a.Name, func(t *testing.T) {
			for _, ct := range []string{"video/mp4", "application/octet-stream", "audio/mpeg"} {
				_, err := media.FFprobe{Timeout: 30 * time.Second}.Probe(ctx, serve(t, a.Body), ct)
				if err == nil {
					t.Fatalf("%s as %s: probe succeeded", a.Name, ct)
				}
				var rf *media.RefusedError
				if a.Format != "" && errors.As(err, &rf) && rf.Format != a.Format {
					t.Fatalf("%s as %s: refused as %q, want %q", a.Name, ct, rf.Format, a.Format)
				}
				if a.Format != "" && !errors.As(err, &rf) && media.Sniff(a.Body) != a.Format {
					t.Fatalf("%s as %s: %v, and Sniff does not name %q either", a.Name, ct, err, a.Format)
				}
			}
			// The same file as a local copy (file protocol only).
			p := filepath.Join(t.TempDir(), "in.mp4")
			os.WriteFile(p, a.Body, 0o600)
			if _, err := (media.FFprobe{}).Probe(ctx, p, "video/mp4"); err == nil {
				t.Fatalf("%s from a local file: probe succeeded", a.Name)
			}
		})
	}
	l.RequireSilent(t)
}

// TestListenerSeesUnconfinedFFprobe proves the harness can fail: plain
// ffprobe, without the allow-lists, fetches the playlist's segment.
func TestListenerSeesUnconfinedFFprobe(t *testing.T) {
	requireFFprobe(t)
	l := mediatest.NewListener(t)
	a := media.Attacks(l.URL)[0]
	exec.Command("ffprobe", "-v", "error", "-show_format", serve(t, a.Body)).Run()
	if len(l.Hits()) == 0 {
		t.Fatal("unconfined ffprobe did not reach the listener: the attack test proves nothing")
	}
}

func TestRefusedNamesFormat(t *testing.T) {
	requireFFprobe(t)
	l := mediatest.NewListener(t)
	_, err := media.FFprobe{}.Probe(context.Background(), serve(t, media.Attacks(l.URL)[0].Body), "video/mp4")
	var rf *media.RefusedError
	if !errors.As(err, &rf) || rf.Format != "hls" || !strings.Contains(err.Error(), "hls") {
		t.Fatalf("err %v: want a refusal naming hls", err)
	}
}

func TestProbeAcceptsMediaForItsType(t *testing.T) {
	requireFFprobe(t)
	clip := filepath.Join(t.TempDir(), "c.mp4")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5:duration=1",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", clip).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	body, _ := os.ReadFile(clip)
	url := serve(t, body)
	for _, ct := range []string{"video/mp4", "video/quicktime", "application/octet-stream"} {
		raw, err := media.FFprobe{}.Probe(context.Background(), url, ct)
		if err != nil || !strings.Contains(string(raw), `"codec_name":"h264"`) {
			t.Fatalf("%s: %v %s", ct, err, raw)
		}
	}
	// An MP4 declared as FLAC is read by no demuxer FLAC allows.
	_, err := media.FFprobe{}.Probe(context.Background(), url, "audio/flac")
	var rf *media.RefusedError
	if !errors.As(err, &rf) || rf.Format != "mov" {
		t.Fatalf("mp4 as audio/flac: %v, want refusal naming mov", err)
	}
}

func TestProtocols(t *testing.T) {
	for in, want := range map[string]string{
		"https://bucket.s3.amazonaws.com/k?X-Amz-Signature=1": "https,tls,tcp",
		"http://127.0.0.1:7070/b/k":                           "http,tcp",
		"/tmp/in.mp4":                                         "file",
		"in.mp4":                                              "file",
	} {
		if got, err := media.Protocols(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"file:/etc/passwd", "concat:a|b", "subfile,,start,0,end,1,,:x", "tee:x", "ftp://h/x", "rtmp://h/x", "data:,x", "crypto:x"} {
		if got, err := media.Protocols(in); err == nil {
			t.Errorf("%s: allowed as %q", in, got)
		}
	}
}

func TestConfine(t *testing.T) {
	got, err := media.Confine([]string{"-y", "-i", "https://s3/x", "-c", "copy", "out.mp4"}, []string{"mov"})
	want := "-y -protocol_whitelist https,tls,tcp -format_whitelist mov -rw_timeout 30000000 -i https://s3/x -c copy out.mp4"
	if err != nil || strings.Join(got, " ") != want {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := media.Confine([]string{"-i", "concat:a|b", "o.mp4"}, nil); err == nil {
		t.Fatal("concat: input confined without error")
	}
	if _, err := media.Confine([]string{"o.mp4"}, nil); err == nil {
		t.Fatal("argv without input accepted")
	}
	if _, err := media.InputArgs("x.mp4", []string{"hls"}); err == nil {
		t.Fatal("hls allowed")
	}
	for _, f := range media.AllFormats() {
		if media.ReferenceFormat(f) {
			t.Fatalf("%s on the allow-list", f)
		}
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]string{
		"#EXTM3U\n":                    "hls",
		"\xef\xbb\xbf  #EXTM3U\n#EXT":  "hls",
		"ffconcat version 1.0\n":       "concat",
		`<?xml version="1.0"?><MPD a>`: "dash",
		"<smil><body/></smil>":         "smil",
		"\x00\x00\x00\x20ftypisom":     "",
		"":                             "",
		"<html>not a playlist</html>":  "",
	} {
		if got := media.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	for _, a := range media.Attacks("http://127.0.0.1:1") {
		f.Add(a.Body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := media.Sniff(b)
		if got != "" && !media.ReferenceFormat(got) {
			t.Fatalf("Sniff named %q, which is not a reference format", got)
		}
		if got != media.Sniff(append(append([]byte(nil), b...), make([]byte, media.SniffLen)...)) && len(b) <= media.SniffLen {
			t.Fatalf("bytes after the sniffed head changed the answer")
		}
	})
}

func requireFFprobe(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe not installed (scripts/install.sh installs it)")
	}
}

// TestAllowListsAloneStopAttacks runs ffprobe with only InputArgs (no
// Sniff in front, as the worker runs ffmpeg): the allow-lists by themselves
// keep every attack from reaching the listener.
func TestAllowListsAloneStopAttacks(t *testing.T) {
	requireFFprobe(t)
	l := mediatest.NewListener(t)
	for _, a := range media.Attacks(l.URL) {
		url := serve(t, a.Body)
		args, err := media.InputArgs(url, media.Formats("video/mp4"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ffprobe", append(append([]string{"-v", "error"}, args...), "-show_format", "-i", url)...).CombinedOutput()
		if err == nil {
			t.Fatalf("%s: ffprobe read it: %s", a.Name, out)
		}
	}
	l.RequireSilent(t)
}
