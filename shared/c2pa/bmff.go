package c2pa

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// c2paBoxUUID is the extended type of the C2PA uuid box (C2PA 2.x §11.3.4).
var c2paBoxUUID = mustUUID("D8FEC3D61B0E483C92975828877EC481")

// purposeManifest is the purpose of a uuid box holding a manifest store.
const purposeManifest = "manifest"

// maxMoov bounds the movie box read into memory to fix its chunk offsets.
const maxMoov = 256 << 20

// bmffHash is the c2pa.hash.bmff.v3 assertion (c2pa-rs assertions/bmff_hash.rs).
type bmffHash struct {
	Exclusions []exclusion `cbor:"exclusions"`
	Alg        string      `cbor:"alg,omitempty"`
	Hash       []byte      `cbor:"hash,omitempty"`
	Name       string      `cbor:"name,omitempty"`
	// Fields this package does not produce; a manifest that uses them is
	// reported as unsupported rather than silently misread.
	Merkle any `cbor:"merkle,omitempty"`
}

type exclusion struct {
	XPath   string    `cbor:"xpath"`
	Length  *uint64   `cbor:"length,omitempty"`
	Data    []dataMap `cbor:"data,omitempty"`
	Subset  []any     `cbor:"subset,omitempty"`
	Version *uint8    `cbor:"version,omitempty"`
	Flags   []byte    `cbor:"flags,omitempty"`
	Exact   *bool     `cbor:"exact,omitempty"`
}

type dataMap struct {
	Offset uint64 `cbor:"offset"`
	Value  []byte `cbor:"value"`
}

// defaultExclusions are the mandatory BMFF exclusions c2pa-rs writes
// (set_default_exclusions): the C2PA uuid box, ftyp, mfra, free and skip.
func defaultExclusions() []exclusion {
	return []exclusion{
		{XPath: "/uuid", Data: []dataMap{{Offset: 8, Value: c2paBoxUUID[:]}}},
		{XPath: "/ftyp"}, {XPath: "/mfra"}, {XPath: "/free"}, {XPath: "/skip"},
	}
}

// excluded reports whether top-level box b matches an exclusion. Only
// whole-box exclusions of top-level boxes (optionally with length and data
// matches) are supported.
func excluded(r io.ReaderAt, b box, ex []exclusion) (bool, error) {
	for _, e := range ex {
		if len(e.Subset) > 0 || e.Version != nil || e.Flags != nil {
			return false, formatErr("BMFF exclusion %q uses subset, version or flags, which this verifier does not support", e.XPath)
		}
		if e.XPath != "/"+b.typ {
			continue
		}
		if e.Length != nil && *e.Length != uint64(b.size) {
			continue
		}
		match := true
		for _, d := range e.Data {
			if d.Offset > uint64(b.size) || uint64(len(d.Value)) > uint64(b.size)-d.Offset {
				match = false
				break
			}
			got := make([]byte, len(d.Value))
			if _, err := r.ReadAt(got, b.start+int64(d.Offset)); err != nil {
				return false, err
			}
			if !bytes.Equal(got, d.Value) {
				match = false
				break
			}
		}
		if match {
			return true, nil
		}
	}
	return false, nil
}

// bmffDigest is the BMFF hash (v2 and v3 rules, c2pa-rs
// bmff_to_jumbf_exclusions + hash_stream_by_alg): for each top-level box not
// excluded, in file order, its offset as a big-endian uint64, then its bytes.
func bmffDigest(r io.ReaderAt, top []box, ex []exclusion) ([]byte, error) {
	h := sha256.New()
	for _, b := range top {
		skip, err := excluded(r, b, ex)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		var off [8]byte
		binary.BigEndian.PutUint64(off[:], uint64(b.start))
		h.Write(off[:])
		if err := copySection(h, r, b.start, b.size); err != nil {
			return nil, err
		}
	}
	return h.Sum(nil), nil
}

func copySection(w io.Writer, r io.ReaderAt, off, n int64) error {
	_, err := io.Copy(w, io.NewSectionReader(r, off, n))
	return err
}

// segments is an io.ReaderAt over pieces laid end to end: the output file
// as it will be written, before it is written.
type segments struct {
	parts []segment
	size  int64
}

type segment struct {
	start int64
	r     io.ReaderAt
	off   int64 // offset in r
	n     int64
}

func (s *segments) add(r io.ReaderAt, off, n int64) {
	s.parts = append(s.parts, segment{start: s.size, r: r, off: off, n: n})
	s.size += n
}

func (s *segments) addBytes(b []byte) { s.add(bytes.NewReader(b), 0, int64(len(b))) }

func (s *segments) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for _, seg := range s.parts {
		if len(p) == done {
			break
		}
		if off+int64(done) >= seg.start+seg.n || off+int64(done) < seg.start {
			continue
		}
		in := off + int64(done) - seg.start
		want := min(int64(len(p)-done), seg.n-in)
		n, err := seg.r.ReadAt(p[done:done+int(want)], seg.off+in)
		done += n
		if err != nil && !(err == io.EOF && int64(n) == want) {
			return done, err
		}
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// WriteTo writes every segment in order.
func (s *segments) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, seg := range s.parts {
		n, err := io.Copy(w, io.NewSectionReader(seg.r, seg.off, seg.n))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// c2paBox returns the C2PA uuid box holding store.
func c2paBox(store []byte) []byte {
	p := make([]byte, 0, 16+4+len(purposeManifest)+1+8+len(store))
	p = append(p, c2paBoxUUID[:]...)
	p = append(p, 0, 0, 0, 0) // version and flags
	p = append(p, purposeManifest...)
	p = append(p, 0)
	p = append(p, 0, 0, 0, 0, 0, 0, 0, 0) // offset of the first auxiliary uuid box: none
	p = append(p, store...)
	return appendBox(nil, "uuid", p)
}

// Embedded describes a file written with Content Credentials.
type Embedded struct {
	// Label is the active manifest's label (urn:c2pa:…).
	Label string `json:"label"`
	// StoreSHA256 is the SHA-256 of the embedded manifest store (JUMBF).
	StoreSHA256 string `json:"manifest_sha256"`
	// Size is the size of the written file.
	Size int64 `json:"size"`
	// Binding is the hard-binding assertion's label.
	Binding string `json:"binding"`
	// Inserted is where the manifest went: Len bytes inserted at At of the
	// original file (BMFF: the C2PA box after ftyp). Byte ranges into the
	// original (HLS playlists) move accordingly; see Inserted.Map.
	Inserted Insertion `json:"-"`
}

// Insertion is a run of Len bytes inserted at offset At of a file.
type Insertion struct {
	At, Len int64
}

// Map returns where the byte range [off, off+n) of the original file lies
// in the file with the insertion: after it, it moves by Len; a range that
// spans the insertion point (an HLS init section: ftyp … moov) grows by
// Len; before it, it stays.
func (in Insertion) Map(off, n int64) (int64, int64) {
	switch {
	case off >= in.At:
		return off + in.Len, n
	case off+n > in.At:
		return off, n + in.Len
	}
	return off, n
}

// EmbedBMFF writes to w the ISO BMFF file (MP4, fragmented MP4) in r
// (size bytes) with a signed manifest store in a C2PA uuid box right after
// ftyp and a c2pa.hash.bmff.v3 hard binding over the whole file (fragments
// included). Absolute offsets — chunk offsets (stco, co64) in the movie box,
// explicit base data offsets in track fragment headers — are moved by the
// inserted box's size; fragment-relative offsets (trun with
// default-base-is-moof, sidx references) need no change. A file that already
// holds a C2PA box is refused (its credentials belong in an ingredient).
func EmbedBMFF(r io.ReaderAt, size int64, w io.Writer, m Manifest, s Signer) (Embedded, error) {
	top, err := readBoxes(r, 0, size)
	if err != nil {
		return Embedded{}, err
	}
	if len(top) == 0 || top[0].typ != "ftyp" {
		return Embedded{}, formatErr("an ISO BMFF file must start with ftyp")
	}
	for _, b := range top {
		if isC2PABox(r, b) {
			return Embedded{}, formatErr("the file already holds a C2PA manifest store")
		}
	}
	label := newLabel()
	ex := defaultExclusions()
	placeholder := Assertion{Label: LabelBMFFHash, Data: bmffHash{Exclusions: ex, Alg: "sha256", Hash: make([]byte, sha256.Size), Name: "jumbf manifest"}}
	first, err := build(label, m, placeholder, s)
	if err != nil {
		return Embedded{}, err
	}
	boxSize := int64(len(c2paBox(first.store)))

	var out segments
	out.add(r, top[0].start, top[0].size)
	out.addBytes(c2paBox(first.store)) // placeholder: excluded from the hash, replaced below
	for _, b := range top[1:] {
		if b.typ != "moov" && b.typ != "moof" && b.typ != "mfra" {
			out.add(r, b.start, b.size)
			continue
		}
		if b.size > maxMoov {
			return Embedded{}, formatErr("%s box larger than %d bytes", b.typ, maxMoov)
		}
		buf := make([]byte, b.size)
		if _, err := r.ReadAt(buf, b.start); err != nil {
			return Embedded{}, err
		}
		if err := shiftChunkOffsets(buf, b.hdr, boxSize); err != nil {
			return Embedded{}, err
		}
		out.addBytes(buf)
	}
	outTop, err := readBoxes(&out, 0, out.size)
	if err != nil {
		return Embedded{}, err
	}
	digest, err := bmffDigest(&out, outTop, ex)
	if err != nil {
		return Embedded{}, err
	}
	binding := Assertion{Label: LabelBMFFHash, Data: bmffHash{Exclusions: ex, Alg: "sha256", Hash: digest, Name: "jumbf manifest"}}
	final, err := build(label, m, binding, s)
	if err != nil {
		return Embedded{}, err
	}
	if len(final.store) != len(first.store) {
		return Embedded{}, fmt.Errorf("c2pa: manifest store changed size (%d → %d) between passes", len(first.store), len(final.store))
	}
	out.parts[1] = segment{start: out.parts[1].start, r: bytes.NewReader(c2paBox(final.store)), n: boxSize}
	n, err := out.WriteTo(w)
	if err != nil {
		return Embedded{}, err
	}
	sum := sha256.Sum256(final.store)
	return Embedded{Label: label, StoreSHA256: hex.EncodeToString(sum[:]), Size: n, Binding: LabelBMFFHash,
		Inserted: Insertion{At: top[0].end(), Len: boxSize}}, nil
}

// isC2PABox reports whether b is a C2PA uuid box.
func isC2PABox(r io.ReaderAt, b box) bool {
	if b.typ != "uuid" {
		return false
	}
	var u [16]byte
	if _, err := r.ReadAt(u[:], b.start+b.hdr); err != nil {
		return false
	}
	return u == c2paBoxUUID
}

// containers are the boxes on the path to the absolute offsets: the chunk
// offset tables (moov) and the track fragment headers (moof).
var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "stbl": true, "moof": true, "traf": true, "mfra": true}

// tfhdBaseDataOffset is the tfhd flag of an explicit (absolute) base data
// offset (ISO/IEC 14496-12 §8.8.7). Fragments with default-base-is-moof, as
// ffmpeg writes for CMAF/HLS, have none: their trun data offsets are
// relative to the moof and stay valid.
const tfhdBaseDataOffset = 0x000001

// shiftChunkOffsets adds delta to every absolute offset under the container
// box b (whose header is hdr bytes), in place: stco/co64 entries, explicit
// tfhd base data offsets and the moof offsets of the random-access index
// (mfra/tfra). sidx boxes need nothing: their references are relative to
// the sidx itself, and every sidx follows the inserted box.
func shiftChunkOffsets(b []byte, hdr, delta int64) error {
	kids, err := readBoxes(bytes.NewReader(b), hdr, int64(len(b)))
	if err != nil {
		return err
	}
	for _, k := range kids {
		body := b[k.start:k.end()]
		switch {
		case containers[k.typ]:
			if err := shiftChunkOffsets(body, k.hdr, delta); err != nil {
				return err
			}
		case k.typ == "tfhd":
			p := body[k.hdr:]
			if len(p) < 8 {
				return formatErr("tfhd too short")
			}
			if binary.BigEndian.Uint32(p[:4])&tfhdBaseDataOffset != 0 {
				if len(p) < 16 {
					return formatErr("tfhd too short for its base data offset")
				}
				binary.BigEndian.PutUint64(p[8:16], binary.BigEndian.Uint64(p[8:16])+uint64(delta))
			}
		case k.typ == "tfra":
			if err := shiftTfra(body[k.hdr:], delta); err != nil {
				return err
			}
		case k.typ == "stco" || k.typ == "co64":
			width := int64(4)
			if k.typ == "co64" {
				width = 8
			}
			p := body[k.hdr:]
			if len(p) < 8 {
				return formatErr("%s too short", k.typ)
			}
			n := int64(binary.BigEndian.Uint32(p[4:8]))
			if n > (int64(len(p))-8)/width {
				return formatErr("%s claims %d entries", k.typ, n)
			}
			for i := int64(0); i < n; i++ {
				e := p[8+i*width:]
				if width == 4 {
					v := int64(binary.BigEndian.Uint32(e)) + delta
					if v > 0xFFFFFFFF {
						return formatErr("chunk offset overflows stco after inserting the manifest")
					}
					binary.BigEndian.PutUint32(e, uint32(v))
				} else {
					binary.BigEndian.PutUint64(e, binary.BigEndian.Uint64(e)+uint64(delta))
				}
			}
		}
	}
	return nil
}

// shiftTfra adds delta to the moof offsets of a tfra payload (ISO/IEC
// 14496-12 §8.8.10), in place.
func shiftTfra(p []byte, delta int64) error {
	if len(p) < 16 {
		return formatErr("tfra too short")
	}
	wide := p[0] == 1
	sizes := binary.BigEndian.Uint32(p[8:12])
	rest := int64((sizes>>4)&3+1) + int64((sizes>>2)&3+1) + int64(sizes&3+1)
	n := int64(binary.BigEndian.Uint32(p[12:16]))
	field := int64(4)
	if wide {
		field = 8
	}
	entry := 2*field + rest
	if n > (int64(len(p))-16)/entry {
		return formatErr("tfra claims %d entries", n)
	}
	for i := int64(0); i < n; i++ {
		e := p[16+i*entry+field:]
		if wide {
			binary.BigEndian.PutUint64(e, binary.BigEndian.Uint64(e)+uint64(delta))
			continue
		}
		v := int64(binary.BigEndian.Uint32(e)) + delta
		if v > 0xFFFFFFFF {
			return formatErr("moof offset overflows tfra after inserting the manifest")
		}
		binary.BigEndian.PutUint32(e, uint32(v))
	}
	return nil
}

var _ hash.Hash = sha256.New()
