// Package id defines Framebroker's opaque identifiers. Each resource kind has
// its own Go type, so passing a ProjectID where a WorkspaceID is wanted fails
// to compile, and its own text prefix ("ws_", "prj_", …), so a pasted ID of
// the wrong kind is refused when parsed.
//
// Identifiers are UUIDv7 (time-ordered, which keeps B-tree inserts local and
// makes cursor pagination by id follow creation order). Their text form is the
// prefix followed by the 32 lower-case hex digits of the UUID.
package id

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// Kind names a resource kind; its Prefix is the text form's prefix (without
// the underscore).
type Kind interface{ Prefix() string }

// The resource kinds.
type (
	workspace struct{}
	user      struct{}
	session   struct{}
	project   struct{}
	shot      struct{}
	release   struct{}
	asset     struct{}
	job       struct{}
	webhook   struct{}
	delivery  struct{}
	message   struct{}
	invite    struct{}
)

func (workspace) Prefix() string { return "ws" }
func (user) Prefix() string      { return "usr" }
func (session) Prefix() string   { return "ses" }
func (project) Prefix() string   { return "prj" }
func (shot) Prefix() string      { return "shot" }
func (release) Prefix() string   { return "rel" }
func (asset) Prefix() string     { return "ast" }
func (job) Prefix() string       { return "job" }
func (webhook) Prefix() string   { return "wh" }
func (delivery) Prefix() string  { return "dlv" }
func (message) Prefix() string   { return "msg" }
func (invite) Prefix() string    { return "inv" }

// ID is an identifier of kind K. The zero ID is "no ID".
type ID[K Kind] struct{ u uuid.UUID }

// Typed identifiers.
type (
	WorkspaceID = ID[workspace]
	UserID      = ID[user]
	SessionID   = ID[session]
	ProjectID   = ID[project]
	ShotID      = ID[shot]
	ReleaseID   = ID[release]
	AssetID     = ID[asset]
	JobID       = ID[job]
	WebhookID   = ID[webhook]  // a webhook endpoint
	DeliveryID  = ID[delivery] // one event's delivery to one endpoint
	MessageID   = ID[message]  // a webhook event (the Standard Webhooks webhook-id)
	InviteID    = ID[invite]   // an invitation to join a workspace
)

// ErrInvalid is returned (wrapped) for text that is not an ID of the wanted kind.
var ErrInvalid = errors.New("invalid id")

// New returns a fresh UUIDv7 identifier of type T, e.g. id.New[id.ShotID]().
func New[T ~struct{ u uuid.UUID }]() T {
	return T{uuid.Must(uuid.NewV7())}
}

// FromUUID wraps a UUID as an identifier of type T, e.g.
// id.FromUUID[id.ProjectID](u).
func FromUUID[T ~struct{ u uuid.UUID }](u uuid.UUID) T { return T{u} }

// Parse reads the text form of an identifier of kind K. Outside this
// package, use UnmarshalText on the typed ID.
func Parse[K Kind](s string) (ID[K], error) {
	var k K
	p := k.Prefix() + "_"
	rest, ok := strings.CutPrefix(s, p)
	if !ok || len(rest) != 32 {
		return ID[K]{}, fmt.Errorf("%w: want %s<32 hex digits>", ErrInvalid, p)
	}
	var u uuid.UUID
	if _, err := hex.Decode(u[:], []byte(rest)); err != nil || strings.ToLower(rest) != rest {
		return ID[K]{}, fmt.Errorf("%w: want %s<32 lower-case hex digits>", ErrInvalid, p)
	}
	return ID[K]{u}, nil
}

// String is the text form, e.g. "ws_0190f3c2…".
func (i ID[K]) String() string {
	var k K
	return k.Prefix() + "_" + hex.EncodeToString(i.u[:])
}

// UUID is the underlying UUID, as stored in Postgres.
func (i ID[K]) UUID() uuid.UUID { return i.u }

// IsZero reports whether i is the zero ID.
func (i ID[K]) IsZero() bool { return i.u == uuid.Nil }

// MarshalText implements encoding.TextMarshaler (and so JSON).
func (i ID[K]) MarshalText() ([]byte, error) { return []byte(i.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (and so JSON).
func (i *ID[K]) UnmarshalText(b []byte) error {
	v, err := Parse[K](string(b))
	if err != nil {
		return err
	}
	*i = v
	return nil
}

// UUIDValue lets pgx encode an ID as a Postgres uuid.
func (i ID[K]) UUIDValue() (pgtype.UUID, error) {
	return pgtype.UUID{Bytes: i.u, Valid: !i.IsZero()}, nil
}

// ScanUUID lets pgx decode a Postgres uuid into an ID.
func (i *ID[K]) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		*i = ID[K]{}
		return nil
	}
	i.u = v.Bytes
	return nil
}
