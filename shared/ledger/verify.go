package ledger

import (
	"bytes"
	"fmt"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// Break is the first broken link a verification found.
type Break struct {
	Seq    int64  `json:"seq"`            // the event (or checkpoint) seq that fails
	Line   int    `json:"line,omitempty"` // 1-based line of a JSONL export
	Reason string `json:"reason"`
}

// HeadRef is a chain head.
type HeadRef struct {
	Seq  int64 `json:"seq"`
	Hash Hash  `json:"hash"`
}

// Report is the outcome of a verification.
type Report struct {
	Valid       bool           `json:"valid"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Head        *HeadRef       `json:"head"`
	Count       int64          `json:"count"`
	Checkpoints int            `json:"checkpoints"` // checkpoints checked (signatures too, with keys)
	HeadSigned  bool           `json:"head_signed"` // a signature-checked checkpoint covers the head
	BrokenAt    *Break         `json:"broken_at,omitempty"`
}

// Verifier checks a chain fed to it in order, event by event, with
// checkpoints after the event they cover (or, for a trimmed chain, one
// before the first event). It stops at the first break.
type Verifier struct {
	// CompareColumns, for events read from the database, also checks that
	// an event's columns re-serialise to the stored bytes its hash covers
	// (full verification); otherwise the stored bytes alone are hashed.
	CompareColumns bool

	keys        *keyring.Set
	requireHead bool
	ws          id.WorkspaceID
	started     bool
	lastSeq     int64
	last        Hash
	anchor      *Checkpoint
	r           Report
}

// NewVerifier returns a Verifier. With keys, every checkpoint's signature
// is checked; with requireSignedHead, Finish also fails unless a checked
// checkpoint covers the last event (so a truncated or wholly recomputed
// chain is refused).
func NewVerifier(keys *keyring.Set, requireSignedHead bool) *Verifier {
	return &Verifier{keys: keys, requireHead: requireSignedHead}
}

// Broken reports whether a break was found.
func (v *Verifier) Broken() bool { return v.r.BrokenAt != nil }

func (v *Verifier) fail(seq int64, line int, format string, args ...any) {
	if v.r.BrokenAt == nil {
		v.r.BrokenAt = &Break{Seq: seq, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
}

func (v *Verifier) workspace(ws id.WorkspaceID) bool {
	if v.ws.IsZero() {
		v.ws = ws
	}
	return v.ws == ws
}

// EventBody feeds one event whose canonical body is given (line: its JSONL
// line, 0 if none). The hash is checked over exactly these bytes.
func (v *Verifier) EventBody(line int, ws id.WorkspaceID, seq int64, prev, hash Hash, body []byte) {
	if v.Broken() {
		return
	}
	v.eventChecked(line, ws, seq, prev, hash, ChainHash(prev, body) == hash)
}

// eventChecked feeds one event whose hash was checked by the caller over
// the bytes it covers (hashOK: SHA-256(prev ‖ bytes) is hash).
func (v *Verifier) eventChecked(line int, ws id.WorkspaceID, seq int64, prev, hash Hash, hashOK bool) {
	if v.Broken() {
		return
	}
	if !v.workspace(ws) {
		v.fail(seq, line, "event belongs to workspace %s, the chain to %s", ws, v.ws)
		return
	}
	switch {
	case !v.started && seq == 1:
		if prev != (Hash{}) {
			v.fail(seq, line, "first event's prev_hash is not zero")
			return
		}
	case !v.started:
		if v.anchor == nil || v.anchor.Seq != seq-1 || v.anchor.Hash != prev {
			v.fail(seq, line, "chain starts at seq %d without a checkpoint at seq %d anchoring it", seq, seq-1)
			return
		}
	case seq != v.lastSeq+1:
		v.fail(seq, line, "seq %d follows seq %d", seq, v.lastSeq)
		return
	case prev != v.last:
		v.fail(seq, line, "prev_hash does not match the hash of seq %d", v.lastSeq)
		return
	}
	if !hashOK {
		v.fail(seq, line, "hash mismatch: content of seq %d was altered", seq)
		return
	}
	v.started, v.lastSeq, v.last = true, seq, hash
	v.r.Count++
	v.r.HeadSigned = false
}

// Event feeds one event: its stored canonical bytes when it has them (see
// CompareColumns), else its canonicalised fields.
func (v *Verifier) Event(line int, e Event) {
	if v.Broken() {
		return
	}
	b, err := e.HashedBytes()
	if err != nil {
		v.fail(e.Seq, line, "event cannot be canonicalised: %v", err)
		return
	}
	if v.CompareColumns && e.stored != nil {
		canon, err := e.Body()
		if err != nil || !bytes.Equal(canon, e.stored) {
			v.fail(e.Seq, line, "the stored columns of seq %d no longer say what its hashed bytes say", e.Seq)
			return
		}
	}
	v.EventBody(line, e.Workspace, e.Seq, e.PrevHash, e.Hash, b)
}

// Broken reports whether the report names a break.
func (r Report) Broken() bool { return r.BrokenAt != nil }

// Checkpoint feeds one checkpoint.
func (v *Verifier) Checkpoint(line int, c Checkpoint) {
	if v.Broken() {
		return
	}
	if !v.workspace(c.Workspace) {
		v.fail(c.Seq, line, "checkpoint belongs to workspace %s, the chain to %s", c.Workspace, v.ws)
		return
	}
	if v.keys != nil {
		if err := c.Check(*v.keys); err != nil {
			v.fail(c.Seq, line, "%v", err)
			return
		}
	}
	v.r.Checkpoints++
	if !v.started {
		cc := c
		v.anchor = &cc
		return
	}
	if c.Seq != v.lastSeq {
		v.fail(c.Seq, line, "checkpoint of seq %d does not follow the event it covers (last event %d)", c.Seq, v.lastSeq)
		return
	}
	if c.Hash != v.last {
		v.fail(c.Seq, line, "checkpoint hash does not match the hash of seq %d: the chain was rewritten", c.Seq)
		return
	}
	v.r.HeadSigned = v.keys != nil
}

// Finish returns the report.
func (v *Verifier) Finish() Report {
	r := v.r
	r.Workspace = v.ws
	if v.started {
		r.Head = &HeadRef{Seq: v.lastSeq, Hash: v.last}
	}
	if r.BrokenAt == nil && v.requireHead && !r.HeadSigned {
		r.BrokenAt = &Break{Seq: v.lastSeq, Reason: "no signed checkpoint covers the last event: the export may be truncated or recomputed"}
	}
	r.Valid = r.BrokenAt == nil
	return r
}
