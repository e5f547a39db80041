// Package ledger is each workspace's tamper-evident audit log (T-06): an
// append-only, hash-chained sequence of events, with Ed25519-signed
// checkpoints of its head, a streamed JSONL export, and verification (API
// and offline) that names the first broken link.
//
// # Hash chain
//
// Event n of a workspace (n = 1, 2, …) is hashed as
//
//	hash_n = SHA-256( prev_hash_n ‖ body_n )
//
// where prev_hash_1 is 32 zero bytes, prev_hash_n = hash_{n-1} (the raw 32
// bytes, not hex), and body_n is the RFC 8785 (JCS) canonical JSON of the
// object
//
//	{"actor":…,"payload":…,"seq":n,"subject":…,"time":"…","type":…,"workspace":"ws_…"}
//
// time is UTC with exactly six fractional digits
// ("2006-01-02T15:04:05.000000Z"), workspace the text form of its id, payload
// any JSON object. Appends take a per-workspace advisory lock inside the
// caller's transaction, so the chain never forks, and a state change and its
// event commit or roll back together.
//
// # Export
//
// The JSONL export has one object per line. An event line is exactly
//
//	{"event":<body_n>,"hash":"<hex hash_n>","prev_hash":"<hex prev_hash_n>"}
//
// (itself canonical JSON), and a checkpoint line is
//
//	{"checkpoint":{"hash":"<hex>","key_id":"…","seq":n,"signature":"<base64>","time":"…","workspace":"ws_…"}}
//
// A checkpoint follows the event it covers (the export ends with one for its
// head) or, for a trimmed ledger, comes first and anchors the first event.
// Its signature is Ed25519 over CheckpointDomain followed by the canonical
// JSON of {"hash","seq","time","workspace"} (hash in hex).
//
// # Trimming (retention)
//
// Nobody, the app role included, can UPDATE or DELETE ledger rows: only the
// SECURITY DEFINER function ledger_trim(ws, through_seq) removes a prefix of
// a chain, and only through the seq of a stored checkpoint whose hash is that
// event's hash. The export of a trimmed ledger starts with that checkpoint;
// the first remaining event's prev_hash must equal the checkpoint's hash, and
// the checkpoint's signature vouches for the trimmed prefix. Retention should
// call Checkpoint first, then ledger_trim at the checkpoint's seq, and append
// a "ledger.trimmed" event in the same transaction.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// TimeLayout is how an event's time appears in its hashed body.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// MaxPayload bounds an event's canonical payload.
const MaxPayload = 64 << 10

// Hash is a SHA-256 chain hash; its text form is lower-case hex.
type Hash [32]byte

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if !decodeHash(h, b) {
		return errors.New("ledger: hash must be 64 lower-case hex digits")
	}
	return nil
}

// decodeHash reads exactly 64 lower-case hex digits (one spelling per hash).
func decodeHash(h *Hash, b []byte) bool {
	if len(b) != 64 {
		return false
	}
	var bad byte
	for i := range h {
		hi, lo := lowerHex[b[2*i]], lowerHex[b[2*i+1]]
		bad |= hi | lo
		h[i] = hi<<4 | lo&0x0f
	}
	return bad&0xf0 == 0
}

// lowerHex maps a lower-case hex digit to its value and anything else to 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Event is one ledger entry.
type Event struct {
	Workspace id.WorkspaceID  `json:"workspace"`
	Seq       int64           `json:"seq"`
	Time      time.Time       `json:"time"`
	Actor     string          `json:"actor"`
	Type      string          `json:"type"`
	Subject   string          `json:"subject"`
	Payload   json.RawMessage `json:"payload"`
	PrevHash  Hash            `json:"prev_hash"`
	Hash      Hash            `json:"hash"`

	// stored is the canonical body as the database holds it (the bytes
	// the hash covers), when read from a store that has it.
	stored []byte
}

// body is the hashed part of an event.
type body struct {
	Actor     string          `json:"actor"`
	Payload   json.RawMessage `json:"payload"`
	Seq       int64           `json:"seq"`
	Subject   string          `json:"subject"`
	Time      string          `json:"time"`
	Type      string          `json:"type"`
	Workspace string          `json:"workspace"`
}

// HashedBytes is the body e's hash covers: the stored canonical bytes when
// e was read from the ledger (no re-serialising), else Body.
func (e Event) HashedBytes() ([]byte, error) {
	if e.stored != nil {
		return e.stored, nil
	}
	return e.Body()
}

// Body is the RFC 8785 canonical JSON of e's hashed fields.
func (e Event) Body() ([]byte, error) {
	b, err := json.Marshal(body{e.Actor, e.Payload, e.Seq, e.Subject, e.Time.UTC().Format(TimeLayout), e.Type, e.Workspace.String()})
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// ChainHash is SHA-256(prev ‖ body).
func ChainHash(prev Hash, body []byte) Hash {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

// ComputeHash is the hash e should carry, given its PrevHash.
func (e Event) ComputeHash() (Hash, error) {
	b, err := e.Body()
	if err != nil {
		return Hash{}, err
	}
	return ChainHash(e.PrevHash, b), nil
}

var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// canonicalPayload marshals payload (nil: {}) and canonicalises it.
func canonicalPayload(payload any) (json.RawMessage, error) {
	var raw []byte
	switch p := payload.(type) {
	case nil:
		return json.RawMessage(`{}`), nil
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, err
		}
	}
	c, err := jcs.Transform(raw)
	if err != nil {
		return nil, err
	}
	if len(c) == 0 || c[0] != '{' {
		return nil, errors.New("payload must be a JSON object")
	}
	if len(c) > MaxPayload {
		return nil, fmt.Errorf("payload is %d bytes, at most %d", len(c), MaxPayload)
	}
	return c, nil
}

// lockKey is the advisory-lock key serialising one workspace's appends
// (ledger_append computes the same key in SQL; TestLockKeyMatchesSQL).
func lockKey(ws id.WorkspaceID) int64 {
	u := ws.UUID()
	sum := sha256.Sum256(append([]byte("framebroker.ledger\x00"), u[:]...))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

const headQuery = `SELECT seq, hash FROM (
	(SELECT seq, hash FROM ledger_events WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1)
	UNION ALL
	(SELECT seq, hash FROM ledger_checkpoints WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1)
) h ORDER BY seq DESC LIMIT 1`

// Head locks ws's chain for the rest of tx (appends by others wait) and
// returns its head: the last seq and hash, or 0 and the zero hash when empty.
func Head(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (int64, Hash, error) {
	var seq int64
	var h []byte
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockKey(ws))
	b.Queue(headQuery, ws).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&seq, &h)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, Hash{}, fmt.Errorf("ledger: head: %w", err)
	}
	var out Hash
	copy(out[:], h)
	return seq, out, nil
}

// Append records an event in ws's ledger inside tx, the caller's
// transaction, so the event commits if and only if the state change it
// records does. tx must be scoped to ws (db.InWorkspace, or the guard's
// a.Tx). It serialises with every other append to ws until tx ends.
//
//   - actor: who acted, e.g. a user id ("usr_…") or "system:<component>";
//   - typ: dotted lower-case event type, e.g. "member.added", "job.queued";
//   - subject: the resource acted on, e.g. "shot_…";
//   - payload: any value that marshals to a JSON object (nil for {}); it is
//     stored canonicalised (RFC 8785) and at most MaxPayload bytes.
//
// The signature is stable: other packages call it for their state changes.
func Append(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, actor, typ, subject string, payload any) (Event, error) {
	const op = "ledger: append"
	switch {
	case ws.IsZero():
		return Event{}, fmt.Errorf("%s: no workspace", op)
	case !typeRE.MatchString(typ) || len(typ) > 100:
		return Event{}, fmt.Errorf("%s: type %q is not a dotted lower-case name", op, typ)
	case !utf8.ValidString(actor) || len(actor) > 200 || !utf8.ValidString(subject) || len(subject) > 200:
		return Event{}, fmt.Errorf("%s: actor and subject must be UTF-8 of at most 200 bytes", op)
	}
	p, err := canonicalPayload(payload)
	if err != nil {
		return Event{}, fmt.Errorf("%s: %s: %w", op, typ, err)
	}
	e := Event{Workspace: ws, Time: time.Now().UTC().Truncate(time.Microsecond),
		Actor: actor, Type: typ, Subject: subject, Payload: p}
	// The body with its seq left open: the seq is head+1, known only under
	// the lock, so the INSERT splices it in and hashes in SQL.
	pre, post, err := e.bodyAround()
	if err != nil {
		return Event{}, fmt.Errorf("%s: %w", op, err)
	}
	// One round trip: ledger_append (migration 0670) takes the lock,
	// reads the head in a statement of its own (so it sees every append
	// that committed before the lock was granted), and inserts the event
	// with seq, prev_hash and hash computed in SQL. The app role cannot
	// INSERT into the ledger any other way.
	var prev, h, stored []byte
	err = tx.QueryRow(ctx, `SELECT o_seq, o_prev, o_hash, o_body FROM ledger_append($1, $2, $3, $4, $5, $6, $7, $8)`,
		ws, e.Time, e.Actor, e.Type, e.Subject, string(e.Payload), pre, post).Scan(&e.Seq, &prev, &h, &stored)
	if err != nil {
		return Event{}, fmt.Errorf("%s: %w", op, err)
	}
	copy(e.PrevHash[:], prev)
	copy(e.Hash[:], h)
	e.stored = stored
	return e, nil
}

// bodyAround is e's canonical body cut where the seq's digits go: pre ends
// with `"seq":` and post starts with `,"subject":`. The keys after "seq"
// are strings, whose quotes inside values are escaped, so the last
// `,"seq":0,"subject":"` is the top-level one (the payload before it may
// hold anything).
func (e Event) bodyAround() (pre, post []byte, err error) {
	e.Seq = 0
	b, err := e.Body()
	if err != nil {
		return nil, nil, err
	}
	marker := []byte(`,"seq":0,"subject":"`)
	i := bytes.LastIndex(b, marker)
	if i < 0 {
		return nil, nil, errors.New("canonical body has no seq")
	}
	cut := i + len(`,"seq":`)
	return b[:cut], b[cut+1:], nil
}

// Record appends an event for a guarded request's state change, in the
// request's transaction (a.Tx), with the caller as actor. Its error is a
// problem ready to return from the handler.
func Record(ctx context.Context, a *guard.Access, typ, subject string, payload any) error {
	if _, err := Append(ctx, a.Tx, a.Workspace, a.Principal.User.String(), typ, subject, payload); err != nil {
		return problem.Wrap("ledger.Record", problem.Internal, err)
	}
	return nil
}
