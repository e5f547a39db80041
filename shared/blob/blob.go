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
