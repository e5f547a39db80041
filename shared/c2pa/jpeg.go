package c2pa

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
)

// maxSegment is the JUMBF bytes per APP11 segment (c2pa-rs jpeg_io.rs).
const maxSegment = 64000

// dataHash is the c2pa.hash.data assertion (c2pa-rs assertions/data_hash.rs).
type dataHash struct {
	Exclusions []byteRange `cbor:"exclusions,omitempty"`
	Name       string      `cbor:"name,omitempty"`
	Alg        string      `cbor:"alg,omitempty"`
	Hash       []byte      `cbor:"hash"`
	Pad        []byte      `cbor:"pad"`
}

type byteRange struct {
	Start  uint64 `cbor:"start"`
	Length uint64 `cbor:"length"`
}

// app11 returns the APP11 (JPEG XT, ISO/IEC 19566-5) segments carrying
// store: CI "JP", box instance 0x0211, packet sequence from 1; every
// continuation repeats the superbox's LBox and TBox.
func app11(store []byte) []byte {
	var out []byte
	for i, z := 0, uint32(1); i < len(store); i, z = i+maxSegment, z+1 {
		chunk := store[i:min(i+maxSegment, len(store))]
		var seg []byte
		seg = append(seg, 'J', 'P', 0x02, 0x11)
		seg = binary.BigEndian.AppendUint32(seg, z)
		if z > 1 {
			seg = append(seg, store[:8]...)
		}
		seg = append(seg, chunk...)
		out = append(out, 0xFF, 0xEB)
		out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
		out = append(out, seg...)
	}
	return out
}

// jpegSegment is a marker segment before the scan data.
type jpegSegment struct {
	marker byte
	start  int64 // offset of the 0xFF
	size   int64 // marker, length field and contents
}

// jpegSegments lists the marker segments from SOI up to SOS (excluded).
func jpegSegments(r io.ReaderAt, size int64) ([]jpegSegment, error) {
	var h [4]byte
	if _, err := r.ReadAt(h[:2], 0); err != nil || h[0] != 0xFF || h[1] != 0xD8 {
		return nil, formatErr("not a JPEG (no SOI)")
	}
	var out []jpegSegment
	off := int64(2)
	for {
		if len(out) > maxBoxes {
			return nil, formatErr("too many JPEG segments")
		}
		if off+4 > size {
			return nil, formatErr("JPEG ends before the scan")
		}
		if _, err := r.ReadAt(h[:], off); err != nil {
			return nil, err
		}
		if h[0] != 0xFF {
			return nil, formatErr("no JPEG marker at %d", off)
		}
		if h[1] == 0xDA || h[1] == 0xD9 { // SOS: entropy-coded data follows; EOI
			return out, nil
		}
		n := int64(binary.BigEndian.Uint16(h[2:4]))
		if n < 2 || off+2+n > size {
			return nil, formatErr("JPEG segment at %d has a bad length", off)
		}
		out = append(out, jpegSegment{marker: h[1], start: off, size: 2 + n})
		off += 2 + n
	}
}

// EmbedJPEG writes to w the JPEG in r with a signed manifest store in APP11
// segments (after the last APP0, else after SOI) and a c2pa.hash.data hard
// binding that excludes exactly those segments.
func EmbedJPEG(r io.ReaderAt, size int64, w io.Writer, m Manifest, s Signer) (Embedded, error) {
	segs, err := jpegSegments(r, size)
	if err != nil {
		return Embedded{}, err
	}
	at := int64(2)
	for _, sg := range segs {
		if sg.marker == 0xEB {
			if b := make([]byte, 4); readOK(r, b, sg.start+4) && string(b[:2]) == "JP" {
				return Embedded{}, formatErr("the JPEG already holds JUMBF (APP11) segments")
			}
		}
		if sg.marker == 0xE0 {
			at = sg.start + sg.size
		}
	}
	h := sha256.New()
	if err := copySection(h, r, 0, size); err != nil {
		return Embedded{}, err
	}
	digest := h.Sum(nil) // the excluded range holds exactly the inserted segments
	label := newLabel()
	length := uint64(0)
	var b built
	for range 4 { // the range's length is inside what it measures: iterate to a fixed point
		binding := Assertion{Label: LabelDataHash, Data: dataHash{
			Exclusions: []byteRange{{Start: uint64(at), Length: length}}, Name: "jumbf manifest", Alg: "sha256", Hash: digest, Pad: []byte{},
		}}
		if b, err = build(label, m, binding, s); err != nil {
			return Embedded{}, err
		}
		if n := uint64(len(app11(b.store))); n != length {
			length = n
			continue
		}
		var out segments
		out.add(r, 0, at)
		out.addBytes(app11(b.store))
		out.add(r, at, size-at)
		n, err := out.WriteTo(w)
		if err != nil {
			return Embedded{}, err
		}
		sum := sha256.Sum256(b.store)
		return Embedded{Label: label, StoreSHA256: hex.EncodeToString(sum[:]), Size: n, Binding: LabelDataHash}, nil
	}
	return Embedded{}, formatErr("the data hash exclusion did not settle")
}

func readOK(r io.ReaderAt, b []byte, off int64) bool {
	_, err := r.ReadAt(b, off)
	return err == nil
}

// jpegStore reassembles the manifest store from APP11 segments the way
// c2pa-rs does: the first segment whose superbox is a C2PA store starts it,
// and segments with the same box instance and increasing sequence continue it.
func jpegStore(r io.ReaderAt, size int64) ([]byte, error) {
	segs, err := jpegSegments(r, size)
	if err != nil {
		return nil, err
	}
	var store []byte
	var en []byte
	var z uint32
	for _, sg := range segs {
		if sg.marker != 0xEB || sg.size <= 4+16 {
			continue
		}
		c := make([]byte, sg.size-4)
		if _, err := r.ReadAt(c, sg.start+4); err != nil {
			return nil, err
		}
		if string(c[:2]) != "JP" {
			continue
		}
		seq := binary.BigEndian.Uint32(c[4:8])
		if store != nil && bytes.Equal(en, c[2:4]) {
			if seq != z+1 {
				return nil, formatErr("APP11 segments out of sequence")
			}
			z = seq
			store = append(store, c[16:]...)
			if len(store) > MaxStore {
				return nil, formatErr("manifest store larger than %d bytes", MaxStore)
			}
			continue
		}
		if len(c) > 28 && string(c[24:28]) == "c2pa" {
			if store != nil {
				return nil, formatErr("more than one manifest store")
			}
			store, en, z = slices.Clone(c[8:]), slices.Clone(c[2:4]), seq
		}
	}
	if store == nil {
		return nil, ErrNoManifest
	}
	return store, nil
}

// dataDigest hashes the file except the excluded ranges, which must be in
// bounds and not overlap.
func dataDigest(r io.ReaderAt, size int64, ex []byteRange) ([]byte, error) {
	ex = slices.Clone(ex)
	slices.SortFunc(ex, func(a, b byteRange) int {
		if a.Start < b.Start {
			return -1
		}
		if a.Start > b.Start {
			return 1
		}
		return 0
	})
	h := sha256.New()
	pos := uint64(0)
	for _, e := range ex {
		if e.Start < pos || e.Start > uint64(size) || e.Length > uint64(size)-e.Start {
			return nil, formatErr("data hash exclusions overlap or overrun the file")
		}
		if err := copySection(h, r, int64(pos), int64(e.Start-pos)); err != nil {
			return nil, err
		}
		pos = e.Start + e.Length
	}
	if err := copySection(h, r, int64(pos), size-int64(pos)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
