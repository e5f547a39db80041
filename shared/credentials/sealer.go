package credentials

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/id"
)

// ErrUnsupported is returned for a content type that carries no embedded
// credentials (playlists).
var ErrUnsupported = errors.New("credentials: no embedded Content Credentials for this content type")

// Supported reports whether outputs of contentType get embedded credentials
// (MP4 and fragmented MP4 such as the HLS ladder's rungs, JPEG).
func Supported(contentType string) bool {
	switch contentType {
	case "video/mp4", "image/jpeg":
		return true
	}
	return false
}

// Sealed is a signed output as written.
type Sealed struct {
	c2pa.Embedded
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Sealer embeds signed manifests in stored outputs.
type Sealer struct {
	Issuer *Issuer
	Store  blob.Store
	// HTTP uploads through the presigned PUT (nil: http.DefaultClient).
	HTTP *http.Client
	// TempDir holds the working copies ("" : os.TempDir()).
	TempDir string
}

// Seal reads the object src, embeds m signed for ws, writes the result to
// dst through a fresh presigned PUT (size and type signed), and checks the
// stored object's SHA-256 against what was written.
func (s *Sealer) Seal(ctx context.Context, ws id.WorkspaceID, src, dst, contentType string, m c2pa.Manifest) (Sealed, error) {
	embed := map[string]func(io.ReaderAt, int64, io.Writer, c2pa.Manifest, c2pa.Signer) (c2pa.Embedded, error){
		"video/mp4": c2pa.EmbedBMFF, "image/jpeg": c2pa.EmbedJPEG,
	}[contentType]
	if embed == nil {
		return Sealed{}, ErrUnsupported
	}
	signer, err := s.Issuer.Signer(ctx, ws)
	if err != nil {
		return Sealed{}, err
	}
	in, err := s.download(ctx, src)
	if err != nil {
		return Sealed{}, err
	}
	defer removeTemp(in)
	st, err := in.Stat()
	if err != nil {
		return Sealed{}, err
	}
	out, err := os.CreateTemp(s.TempDir, "fb-sealed-*")
	if err != nil {
		return Sealed{}, err
	}
	defer removeTemp(out)
	h := sha256.New()
	emb, err := embed(in, st.Size(), io.MultiWriter(out, h), m, signer)
	if err != nil {
		return Sealed{}, fmt.Errorf("credentials: embed %s: %w", contentType, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.upload(ctx, dst, contentType, out, emb.Size); err != nil {
		return Sealed{}, err
	}
	if got, err := s.hashStored(ctx, dst); err != nil || got != sum {
		return Sealed{}, fmt.Errorf("credentials: stored %s differs from what was written (sha256 %s, want %s): %v", dst, got, sum, err)
	}
	return Sealed{Embedded: emb, Key: dst, SHA256: sum}, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func (s *Sealer) download(ctx context.Context, key string) (*os.File, error) {
	rc, _, err := s.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(s.TempDir, "fb-output-*")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		removeTemp(f)
		return nil, err
	}
	return f, nil
}

func (s *Sealer) upload(ctx context.Context, key, contentType string, f io.ReaderAt, size int64) error {
	put, err := s.Store.PresignPut(ctx, key, contentType, size, 15*time.Minute)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, put, io.NewSectionReader(f, 0, size))
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	c := s.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// The URL carries a signature: report the cause without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("credentials: upload %s: %w", key, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("credentials: upload %s: status %d", key, resp.StatusCode)
	}
	return nil
}

func (s *Sealer) hashStored(ctx context.Context, key string) (string, error) {
	rc, _, err := s.Store.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Playlist is the content type of HLS playlists.
const Playlist = "application/vnd.apple.mpegurl"

// SealPlaylist reads the HLS playlist src, moves its byte ranges into the
// media files that were sealed (RewritePlaylist: moved by the name they
// have in the playlist; names are the job's outputs, the only URIs it may
// name) and, when a range moved, writes the result to dst through a fresh
// presigned PUT and checks the stored object's SHA-256. An unchanged
// playlist is not copied: ok is false.
func (s *Sealer) SealPlaylist(ctx context.Context, src, dst string, names map[string]bool, moved map[string]c2pa.Insertion) (out Sealed, ok bool, err error) {
	rc, _, err := s.Store.Open(ctx, src)
	if err != nil {
		return Sealed{}, false, err
	}
	pl, err := io.ReadAll(io.LimitReader(rc, MaxPlaylist+1))
	rc.Close()
	if err != nil {
		return Sealed{}, false, err
	}
	b, changed, err := RewritePlaylist(pl, names, moved)
	if err != nil || !changed {
		return Sealed{}, false, err
	}
	sum := sha256.Sum256(b)
	hexSum := hex.EncodeToString(sum[:])
	if err := s.upload(ctx, dst, Playlist, bytes.NewReader(b), int64(len(b))); err != nil {
		return Sealed{}, false, err
	}
	if got, err := s.hashStored(ctx, dst); err != nil || got != hexSum {
		return Sealed{}, false, fmt.Errorf("credentials: stored %s differs from what was written (sha256 %s, want %s): %v", dst, got, hexSum, err)
	}
	return Sealed{Embedded: c2pa.Embedded{Size: int64(len(b))}, Key: dst, SHA256: hexSum}, true, nil
}
