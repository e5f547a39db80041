package ledger

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gowebpki/jcs"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// MaxLine bounds one JSONL line.
const MaxLine = MaxPayload + 4096

var (
	eventPrefix = []byte(`{"event":`)
	hashKey     = []byte(`,"hash":"`)
	prevKey     = []byte(`","prev_hash":"`)
	lineEnd     = []byte(`"}`)
	suffixLen   = len(hashKey) + 64 + len(prevKey) + 64 + len(lineEnd)
)

// AppendEventLine appends e's export line (with its newline) to dst.
func AppendEventLine(dst []byte, e Event) ([]byte, error) {
	b, err := e.Body()
	if err != nil {
		return dst, err
	}
	dst = append(dst, eventPrefix...)
	dst = append(dst, b...)
	dst = append(dst, hashKey...)
	dst = hex.AppendEncode(dst, e.Hash[:])
	dst = append(dst, prevKey...)
	dst = hex.AppendEncode(dst, e.PrevHash[:])
	dst = append(dst, lineEnd...)
	return append(dst, '\n'), nil
}

// AppendCheckpointLine appends c's export line (with its newline) to dst.
func AppendCheckpointLine(dst []byte, c Checkpoint) ([]byte, error) {
	c.Time = c.Time.UTC()
	b, err := json.Marshal(struct {
		C Checkpoint `json:"checkpoint"`
	}{c})
	if err != nil {
		return dst, err
	}
	canon, err := jcs.Transform(b)
	if err != nil {
		return dst, err
	}
	dst = append(dst, canon...)
	return append(dst, '\n'), nil
}

// Line is one parsed export line: an event (Body set) or a checkpoint.
type Line struct {
	Checkpoint *Checkpoint
	Workspace  id.WorkspaceID
	Seq        int64
	PrevHash   Hash
	Hash       Hash
	Body       []byte // the event's hashed bytes
}

// ParseLine reads one export line (without its newline). Event lines in the
// exact export layout are read without re-encoding: their hash is checked
// over the bytes as they stand, which, if it matches, are by SHA-256's
// second-preimage resistance the canonical bytes the ledger hashed. Other
// well-formed event lines are decoded and canonicalised.
func ParseLine(b []byte) (Line, error) {
	if l, ok := parseFast(b); ok {
		return l, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw struct {
		Event      *Event      `json:"event"`
		Hash       *Hash       `json:"hash"`
		PrevHash   *Hash       `json:"prev_hash"`
		Checkpoint *Checkpoint `json:"checkpoint"`
	}
	if err := dec.Decode(&raw); err != nil {
		return Line{}, err
	}
	if dec.More() {
		return Line{}, errors.New("trailing data after the object")
	}
	switch {
	case raw.Checkpoint != nil && raw.Event == nil && raw.Hash == nil && raw.PrevHash == nil:
		c := raw.Checkpoint
		if c.Workspace.IsZero() || c.Seq < 1 {
			return Line{}, errors.New("checkpoint needs a workspace and a seq")
		}
		return Line{Checkpoint: c, Workspace: c.Workspace, Seq: c.Seq, Hash: c.Hash}, nil
	case raw.Event != nil && raw.Hash != nil && raw.PrevHash != nil && raw.Checkpoint == nil:
		e := *raw.Event
		if e.Workspace.IsZero() || e.Seq < 1 {
			return Line{}, errors.New("event needs a workspace and a seq")
		}
		body, err := e.Body()
		if err != nil {
			return Line{}, err
		}
		return Line{Workspace: e.Workspace, Seq: e.Seq, PrevHash: *raw.PrevHash, Hash: *raw.Hash, Body: body}, nil
	}
	return Line{}, errors.New(`want {"event":…,"hash":…,"prev_hash":…} or {"checkpoint":…}`)
}

// parseFast reads an event line in the exact export layout. In canonical
// JSON no string value can contain `,"seq":` (its quote would be escaped),
// and seq is followed only by string members, so the last occurrence is the
// top-level one; workspace is the last member and of fixed length.
func parseFast(b []byte) (Line, bool) {
	if !bytes.HasPrefix(b, eventPrefix) || len(b) < len(eventPrefix)+suffixLen+2 {
		return Line{}, false
	}
	suf := b[len(b)-suffixLen:]
	body := b[len(eventPrefix) : len(b)-suffixLen]
	if !bytes.HasPrefix(suf, hashKey) || !bytes.HasSuffix(suf, lineEnd) ||
		!bytes.Equal(suf[len(hashKey)+64:len(hashKey)+64+len(prevKey)], prevKey) {
		return Line{}, false
	}
	var l Line
	if _, err := hex.Decode(l.Hash[:], suf[len(hashKey):len(hashKey)+64]); err != nil {
		return Line{}, false
	}
	if _, err := hex.Decode(l.PrevHash[:], suf[len(hashKey)+64+len(prevKey):len(suf)-len(lineEnd)]); err != nil {
		return Line{}, false
	}
	const wsKey = `,"workspace":"`
	wsLen := len(wsKey) + len("ws_") + 32 + len(lineEnd)
	if len(body) < wsLen || !bytes.HasSuffix(body, lineEnd) || string(body[len(body)-wsLen:len(body)-wsLen+len(wsKey)]) != wsKey {
		return Line{}, false
	}
	if err := l.Workspace.UnmarshalText(body[len(body)-wsLen+len(wsKey) : len(body)-len(lineEnd)]); err != nil {
		return Line{}, false
	}
	i := bytes.LastIndex(body, []byte(`,"seq":`))
	if i < 0 {
		return Line{}, false
	}
	rest := body[i+len(`,"seq":`):]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return Line{}, false
	}
	seq, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil || seq < 1 {
		return Line{}, false
	}
	l.Seq, l.Body = seq, body
	return l, true
}

// VerifyJSONL verifies an export read from r (see NewVerifier for keys and
// requireSignedHead). A line that cannot be read is a break at that line.
// The error is for failures to read r, not for a broken chain.
func VerifyJSONL(r io.Reader, keys *keyring.Set, requireSignedHead bool) (Report, error) {
	v := NewVerifier(keys, requireSignedHead)
	br := bufio.NewReaderSize(r, 64<<10)
	var lastSeq int64
	for n := 1; !v.Broken(); n++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it, within MaxLine.
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= MaxLine {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			if len(long) > MaxLine {
				v.fail(lastSeq+1, n, "line %d is longer than %d bytes", n, MaxLine)
				break
			}
			b = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Report{}, fmt.Errorf("ledger: read export: %w", err)
		}
		line := bytes.TrimSuffix(b, []byte("\n"))
		if len(line) == 0 {
			if errors.Is(err, io.EOF) {
				break
			}
			v.fail(lastSeq+1, n, "line %d is empty", n)
			break
		}
		l, perr := ParseLine(line)
		if perr != nil {
			v.fail(lastSeq+1, n, "line %d is not a ledger line: %v", n, perr)
			break
		}
		if l.Checkpoint != nil {
			v.Checkpoint(n, *l.Checkpoint)
		} else {
			v.EventBody(n, l.Workspace, l.Seq, l.PrevHash, l.Hash, l.Body)
			lastSeq = l.Seq
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return v.Finish(), nil
}
