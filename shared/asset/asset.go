// Package asset is media uploaded into a workspace: a presigned PUT to the
// object store, then `complete`, which streams the stored object to compute
// its SHA-256, checks its size and type, and probes it with ffprobe.
package asset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the asset routes.
const Function = "assets"

// MaxSize is the largest asset: S3's single-PUT limit.
const MaxSize = 5 << 30

// Prober describes media at a URL declared as contentType (ffprobe,
// confined: media.FFprobe). A playlist or other refused format is a
// *media.RefusedError.
type Prober interface {
	Probe(ctx context.Context, url, contentType string) (json.RawMessage, error)
}

// Asset is an uploaded object.
type Asset struct {
	ID          id.AssetID      `json:"id"`
	Workspace   id.WorkspaceID  `json:"workspace"`
	Filename    string          `json:"filename"`
	ContentType string          `json:"content_type"`
	Size        int64           `json:"size"`
	Status      string          `json:"status"`
	SHA256      string          `json:"sha256,omitempty"`
	Probe       json.RawMessage `json:"probe,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`

	UploadURL   string     `json:"upload_url,omitempty"`
	DownloadURL string     `json:"download_url,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`

	key string
}

// Service serves the asset routes.
type Service struct {
	store     blob.Store
	prober    Prober
	uploadTTL time.Duration
	now       func() time.Time
}

// NewService returns a Service. uploadTTL bounds presigned URLs it hands out.
func NewService(store blob.Store, prober Prober, uploadTTL time.Duration) *Service {
	return &Service{store: store, prober: prober, uploadTTL: uploadTTL, now: time.Now}
}

// Routes are the asset routes.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets", Policy: guard.Member(guard.Editor), Handler: s.create,
			Example: `{"filename":"clip.mp4","content_type":"video/mp4","size":1048576}`,
			Summary: "Declare an upload; answers a presigned PUT URL", Request: createInput{}, Reply: Asset{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/assets", Policy: guard.Member(guard.Viewer), Handler: s.list,
			Summary: "The workspace's assets", Reply: httpx.List[Asset]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/assets/{asset}", Policy: guard.Member(guard.Viewer), Handler: s.get,
			Summary: "An asset", Reply: Asset{}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets/{asset}/complete", Policy: guard.Member(guard.Editor), Handler: s.complete,
			Summary: "Finish an upload: the server hashes and probes the object", Reply: Asset{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/assets/{asset}", Policy: guard.Member(guard.Editor), Handler: s.delete,
			Summary: "Delete an asset", Status: http.StatusNoContent},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}

// createInput declares an upload.
type createInput struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// ObjectKey is where an asset's bytes live. It holds no client-chosen text.
func ObjectKey(ws id.WorkspaceID, a id.AssetID) string {
	return "ws/" + ws.String() + "/assets/" + a.String()
}

// allowedType reports whether ct may be uploaded: media and opaque bytes,
// never types a browser would render as a page or script.
func allowedType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || len(params) > 0 || mt != ct {
		return false
	}
	switch {
	case mt == "image/svg+xml":
		return false
	case strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "image/"):
		return true
	case mt == "application/octet-stream", mt == "application/mxf":
		return true
	}
	return false
}

func validFilename(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) || strings.ContainsAny(s, "/\\") || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Create"
	var in createInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	switch {
	case !validFilename(in.Filename):
		return problem.Field(op, "filename", "must be 1 to 255 bytes of UTF-8 without slashes or control characters")
	case !allowedType(in.ContentType):
		return problem.Field(op, "content_type", "must be a video/, audio/ or image/ type, application/mxf or application/octet-stream, without parameters")
	case in.Size <= 0 || in.Size > MaxSize:
		return problem.Field(op, "size", fmt.Sprintf("must be 1 to %d bytes", int64(MaxSize)))
	}
	as := Asset{ID: id.New[id.AssetID](), Workspace: a.Workspace, Filename: in.Filename, ContentType: in.ContentType, Size: in.Size, Status: "pending"}
	as.key = ObjectKey(a.Workspace, as.ID)
	if err := a.Tx.QueryRow(r.Context(), `INSERT INTO assets (id, workspace_id, filename, content_type, declared_size, object_key, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
		as.ID, a.Workspace, as.Filename, as.ContentType, as.Size, as.key, a.Principal.User).Scan(&as.CreatedAt); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(r.Context(), a, "asset.created", as.ID.String(),
		map[string]any{"filename": as.Filename, "content_type": as.ContentType, "size": as.Size}); err != nil {
		return err
	}
	url, err := s.store.PresignPut(r.Context(), as.key, as.ContentType, as.Size, s.uploadTTL)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	exp := s.now().Add(s.uploadTTL).UTC()
	as.UploadURL, as.ExpiresAt = url, &exp
	httpx.JSON(w, http.StatusCreated, as)
	return nil
}

const assetCols = `id, workspace_id, filename, content_type, coalesce(size, declared_size), status, sha256, probe, created_at, completed_at, object_key`

func scanAsset(row pgx.Row) (Asset, error) {
	var as Asset
	var sum []byte
	err := row.Scan(&as.ID, &as.Workspace, &as.Filename, &as.ContentType, &as.Size, &as.Status, &sum, &as.Probe, &as.CreatedAt, &as.CompletedAt, &as.key)
	if sum != nil {
		as.SHA256 = hex.EncodeToString(sum)
	}
	return as, err
}

func (s *Service) load(ctx context.Context, a *guard.Access, lock bool) (Asset, error) {
	q := `SELECT ` + assetCols + ` FROM assets WHERE id = $1 AND workspace_id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	as, err := scanAsset(a.Tx.QueryRow(ctx, q, a.Asset(), a.Workspace))
	if errors.Is(err, pgx.ErrNoRows) {
		return as, guard.NotFound()
	}
	if err != nil {
		return as, problem.Wrap("asset.load", problem.Internal, err)
	}
	return as, nil
}

func (s *Service) list(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.List"
	p, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	items, err := db.ListPage(r.Context(), a.Tx, `SELECT `+assetCols+` FROM assets WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		[]any{a.Workspace}, p.After, p.Limit, scanAsset)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	httpx.JSON(w, http.StatusOK, httpx.NewList(p, items, func(as Asset) uuid.UUID { return as.ID.UUID() }))
	return nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	as, err := s.load(r.Context(), a, false)
	if err != nil {
		return err
	}
	if as.Status == "complete" {
		url, err := s.store.PresignGet(r.Context(), as.key, s.uploadTTL)
		if err != nil {
			return problem.Wrap("asset.Get", problem.Internal, err)
		}
		exp := s.now().Add(s.uploadTTL).UTC()
		as.DownloadURL, as.ExpiresAt = url, &exp
	}
	httpx.JSON(w, http.StatusOK, as)
	return nil
}

// complete hashes the uploaded object and records it. Completing twice
// answers the recorded result again.
func (s *Service) complete(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Complete"
	as, err := s.load(r.Context(), a, true)
	if err != nil {
		return err
	}
	if as.Status == "complete" {
		httpx.JSON(w, http.StatusOK, as)
		return nil
	}
	body, info, err := s.store.Open(r.Context(), as.key)
	if errors.Is(err, blob.ErrNotFound) {
		return problem.E(op, problem.Conflict, "nothing was uploaded yet: PUT the file to upload_url, then complete")
	}
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	defer body.Close()
	if info.Size != as.Size {
		return problem.E(op, problem.Unprocessable, fmt.Sprintf("uploaded object is %d bytes, declared %d", info.Size, as.Size))
	}
	if info.ContentType != as.ContentType {
		return problem.E(op, problem.Unprocessable, "uploaded object's Content-Type differs from the declared one")
	}
	h := sha256.New()
	head := &headBuffer{max: media.SniffLen}
	n, err := io.Copy(io.MultiWriter(h, head), body)
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, fmt.Errorf("read object: %w", err))
	}
	if n != as.Size {
		return problem.E(op, problem.Unprocessable, fmt.Sprintf("read %d bytes, declared %d", n, as.Size))
	}
	sum := h.Sum(nil)
	if f := media.Sniff(head.b); f != "" {
		return refused(op, &media.RefusedError{Format: f, ContentType: as.ContentType})
	}
	var probe json.RawMessage
	if s.prober != nil {
		url, err := s.store.PresignGet(r.Context(), as.key, 5*time.Minute)
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		probe, err = s.prober.Probe(r.Context(), url, as.ContentType)
		var rf *media.RefusedError
		if errors.As(err, &rf) {
			return refused(op, rf)
		}
		// Otherwise unreadable as media: probe stays null.
	}
	out, err := scanAsset(a.Tx.QueryRow(r.Context(), `UPDATE assets SET status = 'complete', sha256 = $3, size = $4, probe = $5, completed_at = now()
		WHERE id = $1 AND workspace_id = $2 RETURNING `+assetCols, as.ID, a.Workspace, sum, n, probe))
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(r.Context(), a, "asset.completed", out.ID.String(), map[string]any{"sha256": out.SHA256, "size": out.Size}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}

// refused answers an upload in a refused format: 422 naming the format.
func refused(op string, rf *media.RefusedError) error {
	return problem.E(op, problem.Unprocessable, strings.TrimPrefix(rf.Error(), "media: ")+" (detected format: "+rf.Format+")")
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := h.max - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (s *Service) delete(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Delete"
	as, err := s.load(r.Context(), a, true)
	if err != nil {
		return err
	}
	if _, err := a.Tx.Exec(r.Context(), `DELETE FROM assets WHERE id = $1 AND workspace_id = $2`, as.ID, a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(r.Context(), a, "asset.deleted", as.ID.String(), map[string]any{"sha256": as.SHA256}); err != nil {
		return err
	}
	if err := s.store.Delete(r.Context(), as.key); err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
