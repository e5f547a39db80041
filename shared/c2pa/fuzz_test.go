package c2pa

import (
	"bytes"
	"testing"
)

// FuzzVerify feeds arbitrary files (seeded with signed MP4 and JPEG
// outputs) to the verifier: it must never panic, and a file it calls valid
// must have passed every check.
func FuzzVerify(f *testing.F) {
	mp4, jpg := fixtures(f)
	s, _ := testSigner(f)
	for _, src := range []struct {
		b     []byte
		embed func([]byte) []byte
	}{
		{mp4, func(b []byte) []byte {
			var out bytes.Buffer
			EmbedBMFF(bytes.NewReader(b), int64(len(b)), &out, testManifest(), s)
			return out.Bytes()
		}},
		{jpg, func(b []byte) []byte {
			var out bytes.Buffer
			EmbedJPEG(bytes.NewReader(b), int64(len(b)), &out, testManifest(), s)
			return out.Bytes()
		}},
	} {
		signed := src.embed(src.b)
		// keep seeds small: the headers and the manifest, not all the media
		f.Add(signed[:min(len(signed), 4<<10)])
	}
	f.Add([]byte("\x00\x00\x00\x08ftyp"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{})
		if err != nil {
			return
		}
		if rep.Valid {
			for _, c := range rep.Checks {
				if !c.OK {
					t.Fatalf("valid with a failed check %+v", c)
				}
			}
		}
	})
}

// FuzzEmbedBMFF embeds into arbitrary "MP4s": refusals are fine, panics
// are not, and whatever is written must verify.
func FuzzEmbedBMFF(f *testing.F) {
	mp4, _ := fixtures(f)
	s, _ := testSigner(f)
	f.Add(mp4[:min(len(mp4), 4<<10)])
	frag := fragmented(f) // an HLS rung: moov, then sidx+moof+mdat fragments
	f.Add(frag[:min(len(frag), 4<<10)])
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		if _, err := EmbedBMFF(bytes.NewReader(b), int64(len(b)), &out, testManifest(), s); err != nil {
			return
		}
		rep, err := Verify(bytes.NewReader(out.Bytes()), int64(out.Len()), VerifyOptions{})
		if err != nil || !rep.Valid {
			t.Fatalf("embedded output does not verify: %v %+v", err, rep.Checks)
		}
	})
}
