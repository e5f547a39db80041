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

// AppendEventLine appends e's export line (with its newline) to dst: the
// stored hashed bytes of an event read from the ledger, as they are.
func AppendEventLine(dst []byte, e Event) ([]byte, error) {
	b, err := e.HashedBytes()
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

// ParseLine reads one export line (without its newline). An event line
// must be in the exact export layout; its hash is checked over its body
// bytes as they stand, which, if it matches, are by SHA-256's
// second-preimage resistance the canonical bytes the ledger hashed. A
// checkpoint line is JSON with exactly the documented keys.
func ParseLine(b []byte) (Line, error) { return parseLine(b, nil) }

// wsCache remembers the last workspace text parsed, as every line of an
// export names the same one.
type wsCache struct {
	text []byte
	ws   id.WorkspaceID
}

func parseLine(b []byte, cache *wsCache) (Line, error) {
	if l, ok := parseFast(b, cache); ok {
		return l, nil
	}
	if bytes.HasPrefix(b, eventPrefix) {
		return Line{}, errors.New(`event line is not in the export layout {"event":<canonical body>,"hash":"<64 hex>","prev_hash":"<64 hex>"}`)
	}
	var outer map[string]json.RawMessage
	if err := decodeExact(b, &outer, "checkpoint"); err != nil {
		return Line{}, err
	}
	var inner map[string]json.RawMessage
	if err := decodeExact(outer["checkpoint"], &inner, "hash", "key_id", "seq", "signature", "time", "workspace"); err != nil {
		return Line{}, err
	}
	var c Checkpoint
	if err := json.Unmarshal(outer["checkpoint"], &c); err != nil {
		return Line{}, err
	}
	if c.Workspace.IsZero() || c.Seq < 1 {
		return Line{}, errors.New("checkpoint needs a workspace and a seq")
	}
	return Line{Checkpoint: &c, Workspace: c.Workspace, Seq: c.Seq, Hash: c.Hash}, nil
}

// decodeExact decodes one JSON object into m and requires exactly keys
// (encoding/json would match struct fields case-insensitively).
func decodeExact(b []byte, m *map[string]json.RawMessage, keys ...string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(m); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	if len(*m) != len(keys) {
		return fmt.Errorf("want exactly the keys %q", keys)
	}
	for _, k := range keys {
		if _, ok := (*m)[k]; !ok {
			return fmt.Errorf("want exactly the keys %q", keys)
		}
	}
	return nil
}

// parseFast reads an event line in the exact export layout. In canonical
// JSON no string value can contain `,"seq":` (its quote would be escaped),
// and seq is followed only by string members, so the last occurrence is the
// top-level one; workspace is the last member and of fixed length.
func parseFast(b []byte, cache *wsCache) (Line, bool) {
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
	if !decodeHash(&l.Hash, suf[len(hashKey):len(hashKey)+64]) || !decodeHash(&l.PrevHash, suf[len(hashKey)+64+len(prevKey):len(suf)-len(lineEnd)]) {
		return Line{}, false
	}
	const wsKey = `,"workspace":"`
	wsLen := len(wsKey) + len("ws_") + 32 + len(lineEnd)
	if len(body) < wsLen || !bytes.HasSuffix(body, lineEnd) || string(body[len(body)-wsLen:len(body)-wsLen+len(wsKey)]) != wsKey {
		return Line{}, false
	}
	wsText := body[len(body)-wsLen+len(wsKey) : len(body)-len(lineEnd)]
	if cache != nil && bytes.Equal(cache.text, wsText) {
		l.Workspace = cache.ws
	} else if err := l.Workspace.UnmarshalText(wsText); err != nil {
		return Line{}, false
	} else if cache != nil {
		cache.text, cache.ws = append(cache.text[:0], wsText...), l.Workspace
	}
	i := lastSeqKey(body)
	if i < 0 {
		return Line{}, false
	}
	rest := body[i+len(seqKey):]
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

const seqKey = `,"seq":`

// lastSeqKey is bytes.LastIndex(body, seqKey), scanning back for the colon
// (the members after seq are short).
func lastSeqKey(body []byte) int {
	for i := len(body) - 1; i >= len(seqKey)-1; i-- {
		if body[i] == ':' && string(body[i-len(seqKey)+1:i+1]) == seqKey {
			return i - len(seqKey) + 1
		}
	}
	return -1
}

// VerifyJSONL verifies an export read from r (see NewVerifier for keys and
// requireSignedHead). A line that cannot be read is a break at that line.
// The error is for failures to read r, not for a broken chain.
func VerifyJSONL(r io.Reader, keys *keyring.Set, requireSignedHead bool) (Report, error) {
	v := NewVerifier(keys, requireSignedHead)
	br := bufio.NewReaderSize(r, 64<<10)
	var lastSeq int64
	cache := &wsCache{}
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
		l, perr := parseLine(line, cache)
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
