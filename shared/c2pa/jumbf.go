package c2pa

import (
	"bytes"
	"encoding/hex"
	"strings"
)

// JUMBF (ISO/IEC 19566-5) box types and the C2PA content-type UUIDs
// (C2PA 2.x §11.1, the same values as c2pa-rs jumbf/boxes.rs).
const (
	jumbType = "jumb"
	jumdType = "jumd"
	cborType = "cbor"
	jsonType = "json"
)

func mustUUID(s string) [16]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		panic("c2pa: bad uuid constant " + s)
	}
	return [16]byte(b)
}

var (
	uuidStore      = mustUUID("6332706100110010800000AA00389B71") // c2pa: manifest store
	uuidManifest   = mustUUID("63326D6100110010800000AA00389B71") // c2ma: standard manifest
	uuidAssertions = mustUUID("6332617300110010800000AA00389B71") // c2as: assertion store
	uuidClaim      = mustUUID("6332636C00110010800000AA00389B71") // c2cl: claim
	uuidSignature  = mustUUID("6332637300110010800000AA00389B71") // c2cs: claim signature
	uuidCBOR       = mustUUID("63626F7200110010800000AA00389B71") // cbor content
	uuidJSON       = mustUUID("6A736F6E00110010800000AA00389B71") // json content
)

// Labels of the JUMBF boxes (c2pa-rs jumbf/labels.rs).
const (
	labelStore      = "c2pa"
	labelAssertions = "c2pa.assertions"
	labelClaimV2    = "c2pa.claim.v2"
	labelSignature  = "c2pa.signature"
)

// jumd returns a description box: requestable, with a label.
func jumd(uuid [16]byte, label string) []byte {
	p := make([]byte, 0, 17+len(label)+1)
	p = append(p, uuid[:]...)
	p = append(p, 0x03) // requestable | label present
	p = append(p, label...)
	p = append(p, 0)
	return appendBox(nil, jumdType, p)
}

// superBoxPayload is a jumb box's payload: its description and children.
// Assertion hashes are over this payload (c2pa-rs calc_assertion_box_hash).
func superBoxPayload(uuid [16]byte, label string, children ...[]byte) []byte {
	return bytes.Join(append([][]byte{jumd(uuid, label)}, children...), nil)
}

func superBox(uuid [16]byte, label string, children ...[]byte) []byte {
	return appendBox(nil, jumbType, superBoxPayload(uuid, label, children...))
}

// node is a parsed JUMBF box: a superbox (with description and children)
// or a content box (typ and content).
type node struct {
	typ      string
	uuid     [16]byte
	label    string
	children []*node
	content  []byte // a content box's payload
	payload  []byte // a superbox's payload (for hashing)
	raw      []byte // the whole box
}

// maxDepth bounds JUMBF nesting.
const maxDepth = 16

// parseJUMBF parses one JUMBF superbox filling b exactly.
func parseJUMBF(b []byte) (*node, error) {
	n, err := parseNode(b, 0)
	if err != nil {
		return nil, err
	}
	if len(n.raw) != len(b) {
		return nil, formatErr("%d bytes after the manifest store", len(b)-len(n.raw))
	}
	return n, nil
}

func parseNode(b []byte, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, formatErr("JUMBF nested deeper than %d", maxDepth)
	}
	r := bytes.NewReader(b)
	boxes, err := readBoxes(r, 0, int64(len(b)))
	if err != nil {
		return nil, err
	}
	if len(boxes) == 0 {
		return nil, formatErr("empty JUMBF")
	}
	bx := boxes[0]
	n := &node{typ: bx.typ, raw: b[bx.start:bx.end()]}
	payload := b[bx.payloadStart():bx.end()]
	if bx.typ != jumbType {
		n.content = payload
		return n, nil
	}
	n.payload = payload
	kids, err := readBoxes(bytes.NewReader(payload), 0, int64(len(payload)))
	if err != nil {
		return nil, err
	}
	if len(kids) == 0 || kids[0].typ != jumdType {
		return nil, formatErr("superbox without a description box")
	}
	d := payload[kids[0].payloadStart():kids[0].end()]
	if len(d) < 17 {
		return nil, formatErr("description box too short")
	}
	n.uuid = [16]byte(d[:16])
	if d[16]&0x02 != 0 { // label present
		rest := d[17:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return nil, formatErr("unterminated JUMBF label")
		}
		n.label = string(rest[:i])
	}
	for _, k := range kids[1:] {
		c, err := parseNode(payload[k.start:k.end()], depth+1)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
	}
	return n, nil
}

// child returns the first child superbox labelled label.
func (n *node) child(label string) *node {
	for _, c := range n.children {
		if c.typ == jumbType && c.label == label {
			return c
		}
	}
	return nil
}

// firstContent returns the payload of the first content box of type typ.
func (n *node) firstContent(typ string) []byte {
	for _, c := range n.children {
		if c.typ == typ {
			return c.content
		}
	}
	return nil
}

// resolve finds the box a JUMBF URI names, relative to manifest m in store
// s: "self#jumbf=/c2pa/LABEL/a/b" or "self#jumbf=a/b" (relative to m).
func resolve(s, m *node, uri string) *node {
	p, ok := strings.CutPrefix(uri, "self#jumbf=")
	if !ok {
		return nil
	}
	var cur *node
	if strings.HasPrefix(p, "/") {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		if len(parts) < 2 || parts[0] != labelStore {
			return nil
		}
		cur = s
		p = strings.Join(parts[1:], "/")
	} else {
		if m == nil {
			return nil
		}
		cur = m
	}
	for _, part := range strings.Split(p, "/") {
		if cur = cur.child(part); cur == nil {
			return nil
		}
	}
	return cur
}
