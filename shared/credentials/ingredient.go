package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/keyring"
)

// ReadIngredient reads the Content Credentials of the stored input key
// (size bytes), trusting certificates issued by keys: nil when it carries
// none (or is not ISO BMFF or JPEG), the verified credentials otherwise —
// failures included, to be recorded in the output's ingredient assertion.
// The object is read through a presigned GET with HTTP range requests, so
// an input without credentials costs a few small reads (its top-level box
// headers or JPEG segment headers), not a download; one with credentials is
// read once in full to check its hard binding.
func (s *Sealer) ReadIngredient(ctx context.Context, key string, size int64, keys keyring.Set) (*c2pa.IngredientCredentials, error) {
	get, err := s.Store.PresignGet(ctx, key, 15*time.Minute)
	if err != nil {
		return nil, err
	}
	r := &rangeReader{ctx: ctx, http: s.client(), url: get, size: size}
	ic, err := c2pa.ReadIngredient(r, size, c2pa.VerifyOptions{TrustLeaf: IssuedBy(keys)})
	if errors.Is(r.err, errGone) {
		// The input was deleted since the worker read it: the ingredient
		// keeps its name and SHA-256, without a manifest.
		slog.WarnContext(ctx, "content credentials: the input is gone; its own credentials are not carried", "key", key)
		return nil, nil
	}
	if r.err != nil {
		return nil, r.err // a transport failure, not a verdict on the file
	}
	if errors.Is(err, c2pa.ErrNoManifest) || errors.Is(err, c2pa.ErrFormat) {
		return nil, nil
	}
	return ic, err
}

func (s *Sealer) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return http.DefaultClient
}

// errGone: the object no longer exists.
var errGone = errors.New("the object does not exist")

// rangeBlock is how much one range request reads.
const rangeBlock = 4 << 20

// rangeReader is an io.ReaderAt over an object behind a presigned GET URL,
// reading rangeBlock-aligned blocks with HTTP range requests and keeping the
// last block (sequential hashing reads each block once).
type rangeReader struct {
	ctx   context.Context
	http  *http.Client
	url   string
	size  int64
	start int64 // of the cached block
	block []byte
	err   error // the first transport error
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("credentials: negative offset")
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= r.size {
			return n, io.EOF
		}
		if r.block == nil || at < r.start || at >= r.start+int64(len(r.block)) {
			if err := r.fetch(at - at%rangeBlock); err != nil {
				return n, err
			}
		}
		n += copy(p[n:], r.block[at-r.start:])
	}
	return n, nil
}

func (r *rangeReader) fetch(start int64) error {
	if r.err != nil {
		return r.err
	}
	end := min(start+rangeBlock, r.size) - 1
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return r.fail(err)
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10))
	resp, err := r.http.Do(req)
	if err != nil {
		// The URL carries a signature: report the cause without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return r.fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return r.fail(errGone)
	}
	want := end - start + 1
	if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/", start, end)) {
		return r.fail(fmt.Errorf("range read: status %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range")))
	}
	b := make([]byte, want)
	if _, err := io.ReadFull(resp.Body, b); err != nil {
		return r.fail(err)
	}
	r.start, r.block = start, b
	return nil
}

func (r *rangeReader) fail(err error) error {
	r.err = fmt.Errorf("credentials: read the input: %w", err)
	return r.err
}
