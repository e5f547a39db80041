package credentials

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509/pkix"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
)

const rung = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="r.mp4",BYTERANGE="1352@0"
#EXTINF:4.000000,
#EXT-X-BYTERANGE:82531@1352
r.mp4
#EXTINF:4.000000,
#EXT-X-BYTERANGE:73749@83883
r.mp4
#EXT-X-ENDLIST
`

func TestRewritePlaylist(t *testing.T) {
	names := map[string]bool{"r.mp4": true, "r.m3u8": true, "master.m3u8": true}
	moved := map[string]c2pa.Insertion{"r.mp4": {At: 28, Len: 1000}}
	for _, tc := range []struct {
		name    string
		in      string
		want    string // "" : refused
		changed bool
	}{
		{"ffmpeg rung", rung, strings.NewReplacer(`"1352@0"`, `"2352@0"`, "82531@1352", "82531@2352", "73749@83883", "73749@84883").Replace(rung), true},
		{"implicit offsets", "#EXTM3U\n#EXT-X-MAP:URI=\"r.mp4\",BYTERANGE=\"100\"\n#EXT-X-BYTERANGE:50@100\nr.mp4\n#EXT-X-BYTERANGE:60\nr.mp4\n",
			"#EXTM3U\n#EXT-X-MAP:URI=\"r.mp4\",BYTERANGE=\"1100@0\"\n#EXT-X-BYTERANGE:50@1100\nr.mp4\n#EXT-X-BYTERANGE:60@1150\nr.mp4\n", true},
		{"crlf", "#EXTM3U\r\n#EXT-X-BYTERANGE:5@28\r\nr.mp4\r\n", "#EXTM3U\r\n#EXT-X-BYTERANGE:5@1028\r\nr.mp4\r\n", true},
		{"range before the insertion stays", "#EXTM3U\n#EXT-X-BYTERANGE:28@0\nr.mp4\n", "#EXTM3U\n#EXT-X-BYTERANGE:28@0\nr.mp4\n", false},
		{"master: names only siblings, unchanged", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\"\nr.m3u8\n",
			"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\"\nr.m3u8\n", false},
		{"unsealed file untouched", "#EXTM3U\n#EXT-X-BYTERANGE:5@28\nmaster.m3u8\n", "#EXTM3U\n#EXT-X-BYTERANGE:5@28\nmaster.m3u8\n", false},
		// A worker cannot make the ladder point anywhere but its own outputs.
		{"absolute URL", "#EXTM3U\n#EXTINF:4,\nhttp://169.254.169.254/latest/meta-data\n", "", false},
		{"parent path", "#EXTM3U\n#EXTINF:4,\n../other/r.mp4\n", "", false},
		{"map elsewhere", "#EXTM3U\n#EXT-X-MAP:URI=\"https://evil.example/init.mp4\"\n", "", false},
		{"key URI", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://evil.example/k\"\n", "", false},
		{"media URI", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"/etc/passwd\"\n", "", false},
		{"session data", "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"r.mp4\"\n", "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"r.mp4\"\n", false},
		{"not a playlist", "r.mp4\n", "", false},
		{"dangling range", "#EXTM3U\n#EXT-X-BYTERANGE:5@28\n", "", false},
		{"implicit offset without a previous range", "#EXTM3U\n#EXT-X-BYTERANGE:5\nr.mp4\n", "", false},
		{"negative range", "#EXTM3U\n#EXT-X-BYTERANGE:-5@28\nr.mp4\n", "", false},
		{"huge range", "#EXTM3U\n#EXT-X-BYTERANGE:99999999999999999999@0\nr.mp4\n", "", false},
		{"unterminated attribute", "#EXTM3U\n#EXT-X-MAP:URI=\"r.mp4\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := RewritePlaylist([]byte(tc.in), names, moved)
			if tc.want == "" {
				if !errors.Is(err, ErrPlaylist) {
					t.Fatalf("accepted (%v): %q", err, out)
				}
				return
			}
			if err != nil || string(out) != tc.want || changed != tc.changed {
				t.Fatalf("got %v %v\n%s\nwant changed=%v\n%s", err, changed, out, tc.changed, tc.want)
			}
		})
	}
}

// FuzzRewritePlaylist: no panic; what is accepted stays a playlist that
// names only the given outputs, and rewriting with no insertion changes no
// range.
func FuzzRewritePlaylist(f *testing.F) {
	f.Add([]byte(rung))
	f.Add([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"r.mp4\",BYTERANGE=\"100\"\n#EXT-X-BYTERANGE:50\nr.mp4\n"))
	names := map[string]bool{"r.mp4": true}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := RewritePlaylist(b, names, map[string]c2pa.Insertion{"r.mp4": {At: 28, Len: 77}})
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte("#EXTM3U")) {
			t.Fatalf("output %q", out)
		}
		if _, changed, err := RewritePlaylist(b, names, nil); err != nil || changed {
			t.Fatalf("no insertion: changed=%v err=%v", changed, err)
		}
	})
}

// TestSealedLadderPlays encodes a two-rung ladder as the hls-ladder preset
// does (CMAF, single_file), seals each rung and rewrites the playlists:
// the reference reader validates every rung, and ffmpeg plays the master
// playlist through every segment's byte range without a message — which it
// does not with the worker's unrewritten playlists (the ranges are stale).
func TestSealedLadderPlays(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.mp4")
	run(t, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6", "-f", "lavfi", "-i", "sine=duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", src)
	run(t, "ffmpeg", "-v", "error", "-i", src, "-map", "0:v:0", "-map", "0:a:0", "-map", "0:v:0", "-map", "0:a:0",
		"-filter:v:0", "scale=-2:240", "-filter:v:1", "scale=-2:120", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-ac", "2",
		"-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_flags", "single_file",
		"-hls_segment_filename", filepath.Join(dir, "%v.mp4"), "-master_pl_name", "master.m3u8",
		"-var_stream_map", "v:0,a:0,name:hi v:1,a:1,name:lo", filepath.Join(dir, "%v.m3u8"))

	signer := testSigner(t)
	names := map[string]bool{"master.m3u8": true, "hi.m3u8": true, "lo.m3u8": true, "hi.mp4": true, "lo.mp4": true}
	moved := map[string]c2pa.Insertion{}
	sealed := filepath.Join(dir, "sealed")
	if err := os.Mkdir(sealed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"hi", "lo"} {
		b := read(t, filepath.Join(dir, r+".mp4"))
		var out bytes.Buffer
		emb, err := c2pa.EmbedBMFF(bytes.NewReader(b), int64(len(b)), &out, c2pa.TranscodeManifest(r+".mp4", Agent(), "",
			c2pa.Ingredient{Title: "in.mp4", Format: "video/mp4", Asset: "ast_1", SHA256: strings.Repeat("00", 32)}, c2pa.JobAssertion{Output: r + ".mp4"}), signer)
		if err != nil {
			t.Fatal(err)
		}
		moved[r+".mp4"] = emb.Inserted
		if rep := c2patest.Read(t, "video/mp4", out.Bytes(), nil); !rep.OK() || !rep.Succeeded("assertion.bmffHash.match") {
			t.Fatalf("%s: reference reader %q %v", r, rep.ValidationState, rep.Failures())
		}
		write(t, filepath.Join(sealed, r+".mp4"), out.Bytes())
	}
	stale := filepath.Join(dir, "stale")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, pl := range []string{"master.m3u8", "hi.m3u8", "lo.m3u8"} {
		b := read(t, filepath.Join(dir, pl))
		out, changed, err := RewritePlaylist(b, names, moved)
		if err != nil || changed != (pl != "master.m3u8") {
			t.Fatalf("%s: changed=%v %v", pl, changed, err)
		}
		write(t, filepath.Join(sealed, pl), out)
		write(t, filepath.Join(stale, pl), b)
	}
	for _, r := range []string{"hi", "lo"} {
		os.Link(filepath.Join(sealed, r+".mp4"), filepath.Join(stale, r+".mp4"))
	}
	// Every segment decodes, through the master playlist and per rung.
	for _, pl := range []string{"master.m3u8", "hi.m3u8", "lo.m3u8"} {
		out, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(sealed, pl), "-map", "0", "-f", "null", "-").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Fatalf("ffmpeg playing the sealed %s: %v %s", pl, err, out)
		}
	}
	frames := func(d string) string {
		out, _ := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
			"-of", "csv=p=0", filepath.Join(d, "hi.m3u8")).CombinedOutput()
		// one line per program and per stream: all must agree
		f := strings.Fields(string(out))
		for _, n := range f[1:] {
			if n != f[0] {
				return string(out)
			}
		}
		return strings.Join(f[:min(len(f), 1)], "")
	}
	if got := frames(sealed); got != "150" {
		t.Fatalf("ffprobe counts %q frames in the sealed rung; want 150 (6 s at 25 fps)", got)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", filepath.Join(stale, "hi.m3u8"), "-f", "null", "-").CombinedOutput(); err == nil && len(out) == 0 && frames(stale) == "150" {
		t.Fatal("the unrewritten playlist plays the sealed rung too: the test proves nothing")
	}
}

func testSigner(t testing.TB) c2pa.Signer {
	t.Helper()
	ca, err := c2pa.NewCA(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), "test root", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, err := c2pa.DeriveP256(bytes.Repeat([]byte{4}, 32), "ws")
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.Issue(key.Public(), pkix.Name{CommonName: "test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c2pa.Signer{Key: key, Chain: [][]byte{der}}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", name, err, out)
	}
}

func read(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, f string, b []byte) {
	t.Helper()
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
