// Package blob is the object-store port the domain uses: presigned URLs for
// clients and workers, and streaming reads for the server's own checks. The
// S3 adapter lives in blob/s3blob; the domain never imports the AWS SDK.
package blob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("blob: object not found")

// MaxTTL bounds every presigned URL (T-04).
const MaxTTL = time.Hour

// Info describes a stored object.
type Info struct {
	Size        int64
	ContentType string
}

// Store is an object store.
type Store interface {
	// PresignPut returns a URL that accepts a PUT with the given content
	// type, valid for ttl (≤ MaxTTL). A size > 0 is signed too, so only a
	// body of exactly that many bytes is accepted; size 0 leaves it open
	// (encode outputs, whose size is known only afterwards and is checked on
	// verification).
	PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (string, error)
	// PresignGet returns a URL that reads the object, valid for ttl (≤ MaxTTL).
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Open streams the object.
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix in lexical order, at most max of
	// them (max ≤ 0: all).
	List(ctx context.Context, prefix string, max int) ([]string, error)
	// DeletePrefix removes every object whose key starts with prefix and
	// returns how many it removed. prefix must be a non-empty folder
	// ("…/"), so a bug cannot empty the bucket.
	DeletePrefix(ctx context.Context, prefix string) (int64, error)
}

// CheckPrefix refuses a prefix DeletePrefix must not take: empty, or not
// ending in "/".
func CheckPrefix(prefix string) error {
	if prefix == "" || !strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/") {
		return errors.New("blob: a prefix must be a non-empty folder ending in /")
	}
	return nil
}

// CheckTTL refuses a TTL outside (0, MaxTTL].
func CheckTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxTTL {
		return errors.New("blob: presigned URL ttl must be in (0, 1h]")
	}
	return nil
}

// MaxPart and MinPart bound a multipart upload's part size (S3: 5 MiB to
// 5 GiB, the last part may be smaller); MaxParts is S3's part count limit
// and MaxObject its object size limit (5 TiB).
const (
	MinPart   = 5 << 20
	MaxPart   = 5 << 30
	MaxParts  = 10000
	MaxObject = 5 << 40
)

// Presigned is a presigned request: the URL and the headers the client
// must send with it exactly as given (they are signed: x-amz-checksum-sha256,
// If-None-Match, Content-Type…).
type Presigned struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// Checked describes a stored object with the checksum the store computed
// and verified when the bytes arrived.
type Checked struct {
	Size        int64
	ContentType string
	// SHA256 is the full-object SHA-256 (single PUT), nil for a multipart
	// object.
	SHA256 []byte
	// Composite is a multipart object's checksum: SHA-256 over the parts'
	// SHA-256 digests, base64, with the suffix "-N" (N parts).
	Composite string
}

// Part is one part of a multipart upload.
type Part struct {
	Number int32  `json:"number"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"-"`
	ETag   string `json:"-"` // set by ListParts; CompleteMultipart needs it
}

// Uploads are the checksummed client uploads: every write signs the
// SHA-256 the client declared, so the store refuses any other bytes, and
// signs If-None-Match: *, so an object, once written, cannot be replaced
// through an upload URL.
type Uploads interface {
	// PresignCreate returns a PUT that creates key with exactly size bytes
	// of type contentType whose SHA-256 is sum, once.
	PresignCreate(ctx context.Context, key, contentType string, size int64, sum []byte, ttl time.Duration) (Presigned, error)
	// Head returns the object's size, type and store-verified checksum.
	Head(ctx context.Context, key string) (Checked, error)
	// StartMultipart starts a multipart upload of key (SHA-256 checksums
	// per part) and returns its upload id.
	StartMultipart(ctx context.Context, key, contentType string) (string, error)
	// PresignPart returns a PUT for one part with its size and SHA-256.
	PresignPart(ctx context.Context, key, uploadID string, p Part, ttl time.Duration) (Presigned, error)
	// ListParts returns the parts uploaded so far, in order.
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// CompleteMultipart assembles the parts (as ListParts returned them:
	// with their ETags and checksums) into key, only if key does not exist yet, and
	// returns the composite checksum.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) (string, error)
	// AbortMultipart discards an upload and its parts; a missing upload is
	// not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
	// OpenRange streams the object from offset to its end.
	OpenRange(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	// ListMultipart returns the keys and upload ids of multipart uploads
	// under prefix started before before.
	ListMultipart(ctx context.Context, prefix string, before time.Time) ([]Upload, error)
}

// Upload is an unfinished multipart upload.
type Upload struct {
	Key, UploadID string
}

// ErrExists is returned when a create-once write finds the object there.
var ErrExists = errors.New("blob: object already exists")
