package credentials

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/preset"
)

// BenchmarkSealLadder measures what Content Credentials add to an HLS
// ladder: a 10 s 1080p clip is encoded once (for all runs of the benchmark) with the hls-ladder preset's
// own ffmpeg arguments (timed: the reference), then each iteration seals
// the three fragmented MP4 rungs (embed and sign, hashing every byte) and
// rewrites the three rung playlists, in memory. It reports both times and
// sealing as a percentage of the encode (the object-store transfers the
// Verify step adds around it are measured for MP4 by
// BenchmarkContentCredentials in shared/pipeline).
func BenchmarkSealLadder(b *testing.B) {
	p, _ := preset.Lookup("hls-ladder")
	ladderOnce.Do(func() { ladderEncode, ladderFiles, ladderErr = encodeLadder(p) })
	if ladderErr != nil {
		b.Fatal(ladderErr)
	}
	encode, files := ladderEncode, ladderFiles
	names := map[string]bool{}
	for n := range files {
		names[n] = true
	}
	signer := testSigner(b)
	m := c2pa.TranscodeManifest("rung.mp4", Agent(), "", c2pa.Ingredient{Title: "src.mp4", Format: "video/mp4", Asset: "a", SHA256: strings.Repeat("00", 32)}, c2pa.JobAssertion{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		moved := map[string]c2pa.Insertion{}
		for _, o := range p.Outputs {
			if o.ContentType != "video/mp4" {
				continue
			}
			data := files[o.Name]
			emb, err := c2pa.EmbedBMFF(bytes.NewReader(data), int64(len(data)), io.Discard, m, signer)
			if err != nil {
				b.Fatal(err)
			}
			moved[o.Name] = emb.Inserted
		}
		for _, o := range p.Outputs {
			if o.ContentType == Playlist {
				if _, _, err := RewritePlaylist(files[o.Name], names, moved); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	seal := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(encode.Milliseconds()), "encode-ms")
	b.ReportMetric(float64(seal.Microseconds())/1000, "seal-ms")
	b.ReportMetric(100*seal.Seconds()/encode.Seconds(), "seal-%")
}

var (
	ladderOnce   sync.Once
	ladderEncode time.Duration
	ladderFiles  map[string][]byte
	ladderErr    error
)

// encodeLadder encodes a 10 s 1080p clip with preset p and returns the
// encode's wall time and the outputs by name.
func encodeLadder(p preset.Preset) (time.Duration, map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "fb-ladder-bench")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=10",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac", "-shortest", src).CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("generate: %v %s", err, out)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	if o, err := exec.Command("ffmpeg", p.Args(src, out, 10)...).CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("encode: %v %s", err, o)
	}
	encode := time.Since(t0)
	files := map[string][]byte{}
	for _, o := range p.Outputs {
		data, err := os.ReadFile(filepath.Join(out, o.Name))
		if err != nil {
			return 0, nil, err
		}
		files[o.Name] = data
	}
	return encode, files, nil
}
