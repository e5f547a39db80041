package c2pa

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/framebroker/framebroker/shared/c2pa/c2patest"
)

var (
	fmp4Once sync.Once
	fmp4     []byte
	fmp4Err  error
)

// fragmented makes one rung of an HLS ladder as the hls-ladder preset
// writes it: fragmented MP4 (CMAF), one file, per-fragment sidx boxes.
func fragmented(t testing.TB) []byte {
	t.Helper()
	fmp4Once.Do(func() {
		dir, err := os.MkdirTemp("", "c2pa-fmp4")
		if err != nil {
			fmp4Err = err
			return
		}
		defer os.RemoveAll(dir)
		b, err := exec.Command("ffmpeg", "-v", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=5", "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-shortest",
			"-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_flags", "single_file",
			"-hls_segment_filename", filepath.Join(dir, "r.mp4"), filepath.Join(dir, "r.m3u8")).CombinedOutput()
		if err != nil {
			t.Logf("%s", b)
			fmp4Err = err
			return
		}
		fmp4, fmp4Err = os.ReadFile(filepath.Join(dir, "r.mp4"))
	})
	if fmp4Err != nil {
		t.Fatalf("ffmpeg fragmented fixture: %v", fmp4Err)
	}
	return fmp4
}

// TestFragmentedMP4ReadByReferenceImplementation seals an HLS rung (CMAF,
// one file): the reference reader validates the whole-file BMFF hash, a
// byte flipped in a fragment's media or in the manifest fails there and in
// Framebroker's verifier, and ffmpeg still decodes every fragment.
func TestFragmentedMP4ReadByReferenceImplementation(t *testing.T) {
	src := fragmented(t)
	s, _ := testSigner(t)
	var out bytes.Buffer
	emb, err := EmbedBMFF(bytes.NewReader(src), int64(len(src)), &out, testManifest(), s)
	if err != nil {
		t.Fatal(err)
	}
	signed := out.Bytes()
	if emb.Inserted.At != 28 && emb.Inserted.At != 32 || emb.Inserted.Len != int64(len(signed)-len(src)) {
		t.Fatalf("insertion %+v for %d → %d bytes", emb.Inserted, len(src), len(signed))
	}
	rep := c2patest.Read(t, "video/mp4", signed, nil)
	if rep.ValidationState != "Valid" || !rep.OK() || !rep.Succeeded("assertion.bmffHash.match") {
		t.Fatalf("reference reader: state %q failures %v\n%s", rep.ValidationState, rep.Failures(), rep.Raw)
	}
	got, err := Verify(bytes.NewReader(signed), int64(len(signed)), VerifyOptions{})
	if err != nil || !got.Valid {
		t.Fatalf("Framebroker verifier: %v %+v", err, got.Checks)
	}
	decodes(t, signed)

	// A byte in the middle fragment's media, and one in the claim.
	top, err := readBoxes(bytes.NewReader(signed), 0, int64(len(signed)))
	if err != nil {
		t.Fatal(err)
	}
	var mdats []box
	for _, b := range top {
		if b.typ == "mdat" {
			mdats = append(mdats, b)
		}
	}
	if len(mdats) < 3 {
		t.Fatalf("%d fragments; want several", len(mdats))
	}
	mid := mdats[len(mdats)/2]
	for _, at := range []struct {
		where string
		off   int
	}{{"fragment media", int(mid.start + mid.size/2)}, {"manifest", bytes.Index(signed, []byte("output.mp4"))}} {
		bad := bytes.Clone(signed)
		bad[at.off] ^= 0x01
		ref := c2patest.Read(t, "video/mp4", bad, nil)
		if ref.OK() || (ref.Error == "" && len(ref.Failures()) == 0) {
			t.Errorf("byte flipped in the %s: the reference reader says %q\n%s", at.where, ref.ValidationState, ref.Raw)
		}
		if got, err := Verify(bytes.NewReader(bad), int64(len(bad)), VerifyOptions{}); err == nil && got.Valid {
			t.Errorf("byte flipped in the %s: Framebroker's verifier says valid", at.where)
		}
	}
}

// TestFragmentBaseDataOffsetsMoved seals a fragmented MP4 whose track
// fragment headers carry explicit (absolute) base data offsets, as ffmpeg
// writes without default-base-is-moof: they are moved with the inserted
// box, so the file still decodes, and the reference reader validates it.
func TestFragmentBaseDataOffsetsMoved(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "frag.mp4")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
		"-movflags", "frag_keyframe+empty_moov", f).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := explicitBaseOffsets(t, src); n == 0 {
		t.Fatal("fixture has no explicit tfhd base data offset; the test would prove nothing")
	}
	s, _ := testSigner(t)
	var out bytes.Buffer
	if _, err := EmbedBMFF(bytes.NewReader(src), int64(len(src)), &out, testManifest(), s); err != nil {
		t.Fatal(err)
	}
	decodes(t, out.Bytes())
	if rep := c2patest.Read(t, "video/mp4", out.Bytes(), nil); !rep.OK() {
		t.Fatalf("reference reader: %q %v", rep.ValidationState, rep.Failures())
	}
}

// explicitBaseOffsets counts tfhd boxes with an explicit base data offset.
func explicitBaseOffsets(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	var walk func(off, end int64)
	walk = func(off, end int64) {
		kids, err := readBoxes(bytes.NewReader(b), off, end)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			switch k.typ {
			case "moof", "traf":
				walk(k.payloadStart(), k.end())
			case "tfhd":
				if b[k.payloadStart()+3]&tfhdBaseDataOffset != 0 {
					n++
				}
			}
		}
	}
	walk(0, int64(len(b)))
	return n
}

// decodes fails the test unless ffmpeg decodes b without a message.
func decodes(t *testing.T, b []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "signed.mp4")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("ffmpeg decoding the signed file: %v %s", err, out)
	}
}
