// Package c2pa writes and checks C2PA Content Credentials (C2PA
// specification 2.x) embedded in media files: the JUMBF manifest store, a
// v2 claim with its assertions, a COSE_Sign1 signature by an X.509
// certificate, and the hard binding to the file's bytes — the BMFF hash
// (c2pa.hash.bmff.v3) for MP4 with the store in the C2PA uuid box after
// ftyp, and the data hash (c2pa.hash.data) for JPEG with the store in APP11
// segments.
//
// Everything that reads outside input (boxes, JUMBF, CBOR, COSE, JPEG
// segments) is bounded and fuzzed. The field names, labels and hashing rules
// follow the C2PA reference implementation (c2pa-rs), and the tests validate
// outputs with it (npm @contentauth/c2pa-wasm under Node).
package c2pa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFormat is wrapped by every refusal of malformed input.
var ErrFormat = errors.New("c2pa: malformed input")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// maxBoxes bounds how many boxes one level of a file may hold.
const maxBoxes = 100000

// box is an ISO BMFF (and JUMBF) box: its type, where it starts, its header
// length and its total size.
type box struct {
	typ   string
	start int64
	hdr   int64
	size  int64
}

func (b box) end() int64          { return b.start + b.size }
func (b box) payloadStart() int64 { return b.start + b.hdr }

// readBoxes lists the boxes laid end to end in [off, end) of r.
func readBoxes(r io.ReaderAt, off, end int64) ([]box, error) {
	var out []box
	var h [16]byte
	for off < end {
		if len(out) >= maxBoxes {
			return nil, formatErr("more than %d boxes", maxBoxes)
		}
		if end-off < 8 {
			return nil, formatErr("truncated box header at %d", off)
		}
		if _, err := r.ReadAt(h[:8], off); err != nil {
			return nil, fmt.Errorf("c2pa: read box header at %d: %w", off, err)
		}
		b := box{typ: string(h[4:8]), start: off, hdr: 8, size: int64(binary.BigEndian.Uint32(h[:4]))}
		switch b.size {
		case 0: // to the end
			b.size = end - off
		case 1:
			if end-off < 16 {
				return nil, formatErr("truncated large box header at %d", off)
			}
			if _, err := r.ReadAt(h[8:16], off+8); err != nil {
				return nil, fmt.Errorf("c2pa: read box header at %d: %w", off, err)
			}
			u := binary.BigEndian.Uint64(h[8:16])
			if u > uint64(end-off) {
				return nil, formatErr("box %q at %d overruns its parent", b.typ, off)
			}
			b.size, b.hdr = int64(u), 16
		}
		if b.size < b.hdr || b.size > end-off {
			return nil, formatErr("box %q at %d has a bad size %d", b.typ, off, b.size)
		}
		if b.typ == "uuid" {
			if b.size < b.hdr+16 {
				return nil, formatErr("uuid box at %d is too short", off)
			}
		}
		out = append(out, b)
		off += b.size
	}
	return out, nil
}

// appendBox appends a box of type typ holding the concatenated payloads.
func appendBox(dst []byte, typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, typ...)
	for _, p := range payload {
		dst = append(dst, p...)
	}
	return dst
}
