// Package asset is media uploaded into a workspace. The client declares the
// file's size and SHA-256; the store is handed presigned writes that sign
// that checksum and create the object only once, so no other bytes can
// ever sit behind the asset. `complete` reads the checksum the store
// verified (no streaming through the request), refuses playlists and other
// reference-following formats, and probes the media with the confined
// ffprobe within a time budget. Objects over 5 GiB are multipart uploads
// (to 5 TiB) with a SHA-256 per part; their whole-object SHA-256 is computed
// afterwards, outside any request, by the asset-verify cron (Verify), which
// moves them from `verifying` to `complete` and announces `asset.ready`.
// The asset-sweep cron (Sweep) deletes objects and aborts uploads that no
// asset owns.
package asset

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// Function is the Lambda that serves the asset routes.
const Function = "assets"

// MaxSinglePut is the largest single-PUT upload (S3's limit); larger assets
// are multipart uploads.
const MaxSinglePut = 5 << 30

// MaxSize is the largest asset: S3's object limit, 5 TiB.
const MaxSize = blob.MaxObject

// The statuses of an asset.
const (
	Pending   = "pending"   // created; waiting for the bytes and complete
	Verifying = "verifying" // bytes stored; whole-object SHA-256 or probe still running
	Complete  = "complete"  // verified: usable as a job input, downloadable
	Rejected  = "rejected"  // the bytes did not match or the media was refused
)

// Prober describes media at a URL declared as contentType (ffprobe,
// confined: media.FFprobe). A playlist or other refused format is a
// *media.RefusedError.
type Prober interface {
	Probe(ctx context.Context, url, contentType string) (json.RawMessage, error)
}

// Store is the object store assets need: presigned reads and checksummed,
// create-once writes.
type Store interface {
	blob.Store
	blob.Uploads
}

// Multipart describes a multipart upload's layout.
type Multipart struct {
	PartSize  int64 `json:"part_size"`
	PartCount int   `json:"part_count"`
}

// Asset is an uploaded object.
type Asset struct {
	ID             id.AssetID      `json:"id"`
	Workspace      id.WorkspaceID  `json:"workspace"`
	Filename       string          `json:"filename"`
	ContentType    string          `json:"content_type"`
	Size           int64           `json:"size"`
	Status         string          `json:"status"`
	DeclaredSHA256 string          `json:"declared_sha256,omitempty"`
	SHA256         string          `json:"sha256,omitempty"`
	Composite      string          `json:"composite_checksum,omitempty"`
	Multipart      *Multipart      `json:"multipart,omitempty"`
	Probe          json.RawMessage `json:"probe,omitempty"`
	Error          string          `json:"error,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	CompletedAt    *time.Time      `json:"completed_at,omitempty"`

	UploadURL     string            `json:"upload_url,omitempty"`
	UploadHeaders map[string]string `json:"upload_headers,omitempty"`
	DownloadURL   string            `json:"download_url,omitempty"`
	ExpiresAt     *time.Time        `json:"expires_at,omitempty"`

	key      string
	uploadID string
	declared []byte
}

// Service serves the asset routes and runs their crons.
type Service struct {
	pool      *pgxpool.Pool
	store     Store
	prober    Prober
	uploadTTL time.Duration
	now       func() time.Time
	// ProbeBudget bounds the probe inside complete; media that takes
	// longer is probed by Verify and the asset is `verifying` meanwhile.
	ProbeBudget time.Duration
	// VerifyBudget bounds one Verify run's hashing (it resumes where it
	// stopped on the next run).
	VerifyBudget time.Duration
}

// NewService returns a Service. uploadTTL bounds presigned URLs it hands out.
func NewService(pool *pgxpool.Pool, store Store, prober Prober, uploadTTL time.Duration) *Service {
	return &Service{pool: pool, store: store, prober: prober, uploadTTL: uploadTTL, now: time.Now,
		ProbeBudget: 15 * time.Second, VerifyBudget: 10 * time.Minute}
}

// Routes are the asset routes. Those that talk to the object store over
// the network (create of a multipart upload, complete, listing parts,
// delete) are Stream routes: they open their own short transactions and
// hold none, and no row lock, while the store answers.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets", Policy: guard.Member(guard.Editor), Handler: s.create, Stream: true,
			Example: `{"filename":"clip.mp4","content_type":"video/mp4","size":1048576,"sha256":"` + strings.Repeat("ab", 32) + `"}`,
			Summary: "Declare an upload (size and SHA-256); answers a presigned PUT with its signed headers, or a multipart layout",
			Request: createInput{}, Reply: Asset{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/assets", Policy: guard.Member(guard.Viewer), Read: readAssets,
			Summary: "The workspace's assets", Reply: httpx.List[Asset]{}, Query: []string{"limit", "cursor"}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/assets/{asset}", Policy: guard.Member(guard.Viewer), Read: s.readAsset,
			Summary: "An asset", Reply: Asset{}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets/{asset}/complete", Policy: guard.Member(guard.Editor), Handler: s.complete, Stream: true,
			Summary: "Finish an upload: records the checksum the store verified, probes; status complete, or verifying for multipart", Reply: Asset{}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets/{asset}/parts", Policy: guard.Member(guard.Editor), Handler: s.presignParts,
			Example: `{"parts":[{"number":1,"sha256":"` + strings.Repeat("ab", 32) + `"}]}`,
			Summary: "Presigned part uploads (each part's SHA-256 signed), up to 1000 at a time", Request: partsInput{}, Reply: PartURLs{}},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/assets/{asset}/parts", Policy: guard.Member(guard.Viewer), Handler: s.listParts, Stream: true,
			Summary: "The parts the store holds (to resume a multipart upload)", Reply: Parts{}},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/assets/{asset}/abort", Policy: guard.Member(guard.Editor), Handler: s.abort, Stream: true,
			Summary: "Abort a pending upload (multipart parts included) and delete its asset", Status: http.StatusNoContent},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}/assets/{asset}", Policy: guard.Member(guard.Editor), Handler: s.delete, Stream: true,
			Summary: "Delete an asset", Status: http.StatusNoContent},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}

// createInput declares an upload: the file's name, type, size and SHA-256;
// part_size asks for a multipart upload (implied over 5 GiB).
type createInput struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	PartSize    int64  `json:"part_size,omitempty"`
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

// parseSHA256 decodes a lower- or upper-case hex SHA-256.
func parseSHA256(s string) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	return b, err == nil && len(b) == 32
}

// layout returns the part size and count of an upload: (0, 0) for a single
// PUT. A declared partSize asks for multipart; an object over MaxSinglePut
// is always multipart (default part size: at least 64 MiB, enough to stay
// within blob.MaxParts).
func layout(size, partSize int64) (int64, int, error) {
	if partSize == 0 && size <= MaxSinglePut {
		return 0, 0, nil
	}
	if partSize == 0 {
		partSize = max(64<<20, (size+blob.MaxParts-1)/blob.MaxParts)
		partSize = (partSize + 1<<20 - 1) &^ (1<<20 - 1)
	}
	if partSize < blob.MinPart || partSize > blob.MaxPart {
		return 0, 0, fmt.Errorf("must be %d to %d bytes", blob.MinPart, int64(blob.MaxPart))
	}
	n := (size + partSize - 1) / partSize
	if n > blob.MaxParts {
		return 0, 0, fmt.Errorf("makes %d parts; at most %d are allowed", n, blob.MaxParts)
	}
	return partSize, int(n), nil
}

// partSize is the size of part n (1-based) of an upload.
func partSize(size, ps int64, n int32) int64 {
	return min(ps, size-int64(n-1)*ps)
}

func (s *Service) tx(ctx context.Context, ws id.WorkspaceID, fn func(pgx.Tx) error) error {
	return db.InWorkspace(ctx, s.pool, ws.UUID().String(), fn)
}

// publish records an asset event (shared/event's catalogue) in the ledger
// and for the workspace's webhooks, in tx; the payload names the asset.
func publish(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, actor, typ string, as Asset, payload map[string]any) error {
	payload["asset"] = as.ID
	return event.Publish(ctx, tx, ws, actor, typ, as.ID.String(), payload)
}

func (s *Service) create(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Create"
	var in createInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	sum, okSum := parseSHA256(in.SHA256)
	switch {
	case !validFilename(in.Filename):
		return problem.Field(op, "filename", "must be 1 to 255 bytes of UTF-8 without slashes or control characters")
	case !allowedType(in.ContentType):
		return problem.Field(op, "content_type", "must be a video/, audio/ or image/ type, application/mxf or application/octet-stream, without parameters")
	case in.Size <= 0 || in.Size > MaxSize:
		return problem.Field(op, "size", fmt.Sprintf("must be 1 to %d bytes", int64(MaxSize)))
	case !okSum:
		return problem.Field(op, "sha256", "must be the file's SHA-256 as 64 hex digits (the store refuses any other bytes)")
	case in.PartSize < 0:
		return problem.Field(op, "part_size", "must be positive")
	}
	ps, count, err := layout(in.Size, in.PartSize)
	if err != nil {
		return problem.Field(op, "part_size", err.Error())
	}
	as := Asset{ID: id.New[id.AssetID](), Workspace: a.Workspace, Filename: in.Filename, ContentType: in.ContentType,
		Size: in.Size, Status: Pending, DeclaredSHA256: hex.EncodeToString(sum)}
	as.key = ObjectKey(a.Workspace, as.ID)
	var pre blob.Presigned
	if count > 0 {
		as.Multipart = &Multipart{PartSize: ps, PartCount: count}
		if as.uploadID, err = s.store.StartMultipart(r.Context(), as.key, as.ContentType); err != nil {
			return problem.Wrap(op, problem.Unavailable, err)
		}
	} else if pre, err = s.store.PresignCreate(r.Context(), as.key, as.ContentType, as.Size, sum, s.uploadTTL); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	err = s.tx(r.Context(), a.Workspace, func(tx pgx.Tx) error {
		var upload, partSz any
		if count > 0 {
			upload, partSz = as.uploadID, ps
		}
		if err := tx.QueryRow(r.Context(), `INSERT INTO assets (id, workspace_id, filename, content_type, declared_size, object_key, created_by, declared_sha256, upload_id, part_size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at`,
			as.ID, a.Workspace, as.Filename, as.ContentType, as.Size, as.key, a.Principal.User, sum, upload, partSz).Scan(&as.CreatedAt); err != nil {
			return err
		}
		return publish(r.Context(), tx, a.Workspace, a.Principal.User.String(), "asset.created", as,
			map[string]any{"filename": as.Filename, "content_type": as.ContentType, "size": as.Size, "declared_sha256": as.DeclaredSHA256, "parts": count})
	})
	if err != nil {
		if count > 0 {
			_ = s.store.AbortMultipart(context.WithoutCancel(r.Context()), as.key, as.uploadID)
		}
		return problem.Wrap(op, problem.Internal, err)
	}
	exp := s.now().Add(s.uploadTTL).UTC()
	if count == 0 {
		as.UploadURL, as.UploadHeaders, as.ExpiresAt = pre.URL, pre.Headers, &exp
	}
	httpx.JSON(w, http.StatusCreated, as)
	return nil
}

const assetCols = `id, workspace_id, filename, content_type, coalesce(size, declared_size), status, sha256, probe, created_at, completed_at, object_key,
	declared_sha256, upload_id, part_size, composite_checksum, error`

func scanAsset(row pgx.Row) (Asset, error) {
	var as Asset
	var sum []byte
	var upload, composite, msg *string
	var ps *int64
	err := row.Scan(&as.ID, &as.Workspace, &as.Filename, &as.ContentType, &as.Size, &as.Status, &sum, &as.Probe, &as.CreatedAt, &as.CompletedAt, &as.key,
		&as.declared, &upload, &ps, &composite, &msg)
	if sum != nil {
		as.SHA256 = hex.EncodeToString(sum)
	}
	if as.declared != nil {
		as.DeclaredSHA256 = hex.EncodeToString(as.declared)
	}
	if upload != nil {
		as.uploadID = *upload
	}
	if ps != nil {
		as.Multipart = &Multipart{PartSize: *ps, PartCount: int((as.Size + *ps - 1) / *ps)}
	}
	if composite != nil {
		as.Composite = *composite
	}
	if msg != nil {
		as.Error = *msg
	}
	return as, err
}

// loadTx reads the path's asset in tx.
func loadTx(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, asset id.AssetID, lock bool) (Asset, error) {
	q := `SELECT ` + assetCols + ` FROM assets WHERE id = $1 AND workspace_id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	as, err := scanAsset(tx.QueryRow(ctx, q, asset, ws))
	if errors.Is(err, pgx.ErrNoRows) {
		return as, guard.NotFound()
	}
	if err != nil {
		return as, problem.Wrap("asset.load", problem.Internal, err)
	}
	return as, nil
}

// load reads the path's asset in a short transaction of its own (Stream
// routes).
func (s *Service) load(ctx context.Context, a *guard.Access) (Asset, error) {
	var as Asset
	err := s.tx(ctx, a.Workspace, func(tx pgx.Tx) error {
		var err error
		as, err = loadTx(ctx, tx, a.Workspace, a.Asset(), false)
		return err
	})
	return as, err
}

// readAssets lists the workspace's assets, pipelined with the guard's
// checks (one round trip).
var readAssets = guard.ReadPage("asset.List", func(a *guard.Access) (string, []any) {
	return `SELECT ` + assetCols + ` FROM assets WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`, []any{a.Workspace}
}, scanAsset, func(as Asset) uuid.UUID { return as.ID.UUID() })

// readAsset reads the path's asset, pipelined with the guard's checks (one
// round trip), and presigns its download once it is complete.
func (s *Service) readAsset(_ *http.Request, a *guard.Access, b *pgx.Batch) guard.HandlerFunc {
	var as Asset
	var err error
	b.Queue(`SELECT `+assetCols+` FROM assets WHERE id = $1 AND workspace_id = $2`, a.Asset(), a.Workspace).QueryRow(func(row pgx.Row) error {
		as, err = scanAsset(row)
		return nil
	})
	return func(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
		if err != nil {
			return guard.NotFoundOr("asset.Get", err)
		}
		if as.Status == Complete {
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
}

// delete removes the asset's row (ledger, asset.deleted webhook) and, after
// that commits, its object or unfinished multipart upload. If the store
// call fails, the object has no row and the sweep deletes it.
func (s *Service) delete(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	return s.remove(w, r, a, false)
}

// abort discards a pending upload (multipart parts included) and its asset.
func (s *Service) abort(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	return s.remove(w, r, a, true)
}

func (s *Service) remove(w http.ResponseWriter, r *http.Request, a *guard.Access, pendingOnly bool) error {
	const op = "asset.Delete"
	var as Asset
	err := s.tx(r.Context(), a.Workspace, func(tx pgx.Tx) error {
		var err error
		if as, err = loadTx(r.Context(), tx, a.Workspace, a.Asset(), true); err != nil {
			return err
		}
		if pendingOnly && as.Status != Pending {
			return problem.E(op, problem.Conflict, "only a pending upload can be aborted; this asset is "+as.Status+" (DELETE it instead)")
		}
		if _, err := tx.Exec(r.Context(), `DELETE FROM assets WHERE id = $1 AND workspace_id = $2`, as.ID, a.Workspace); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		typ := "asset.deleted"
		if pendingOnly {
			typ = "asset.aborted"
		}
		return publish(r.Context(), tx, a.Workspace, a.Principal.User.String(), typ, as, map[string]any{"sha256": as.SHA256, "status": as.Status})
	})
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	ctx := context.WithoutCancel(r.Context())
	if as.uploadID != "" {
		if err := s.store.AbortMultipart(ctx, as.key, as.uploadID); err != nil {
			return problem.Wrap(op, problem.Unavailable, err)
		}
	}
	if err := s.store.Delete(ctx, as.key); err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
