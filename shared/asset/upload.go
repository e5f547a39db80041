package asset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/problem"
)

// MaxPartsPerRequest bounds one request for part URLs.
const MaxPartsPerRequest = 1000

// PartURL is a presigned part upload.
type PartURL struct {
	Number  int32             `json:"number"`
	Size    int64             `json:"size"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// PartURLs answers a request for part URLs.
type PartURLs struct {
	Parts     []PartURL `json:"parts"`
	ExpiresAt time.Time `json:"expires_at"`
}

// UploadedPart is a part the store holds, with the SHA-256 it verified.
type UploadedPart struct {
	Number int32  `json:"number"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Parts lists a multipart upload's uploaded parts (to resume).
type Parts struct {
	PartSize  int64          `json:"part_size"`
	PartCount int            `json:"part_count"`
	Parts     []UploadedPart `json:"parts"`
}

// partsInput asks for part URLs: each part's number and SHA-256.
type partsInput struct {
	Parts []PartRequest `json:"parts"`
}

// PartRequest declares one part to upload.
type PartRequest struct {
	Number int32  `json:"number"`
	SHA256 string `json:"sha256"`
}

// presignParts mints part URLs, each signing the part's size and the
// SHA-256 the client declares for it. Presigning is local: no store call.
func (s *Service) presignParts(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Parts"
	var in partsInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if len(in.Parts) == 0 || len(in.Parts) > MaxPartsPerRequest {
		return problem.Field(op, "parts", fmt.Sprintf("ask for 1 to %d parts at a time", MaxPartsPerRequest))
	}
	as, err := loadTx(r.Context(), a.Tx, a.Workspace, a.Asset(), false)
	if err != nil {
		return err
	}
	if as.Multipart == nil || as.uploadID == "" || as.Status != Pending {
		return problem.E(op, problem.Conflict, "this asset is not a pending multipart upload")
	}
	out := PartURLs{ExpiresAt: s.now().Add(s.uploadTTL).UTC()}
	for i, p := range in.Parts {
		sum, ok := parseSHA256(p.SHA256)
		field := "parts[" + strconv.Itoa(i) + "]"
		if p.Number < 1 || int(p.Number) > as.Multipart.PartCount {
			return problem.Field(op, field+".number", fmt.Sprintf("must be 1 to %d", as.Multipart.PartCount))
		}
		if !ok {
			return problem.Field(op, field+".sha256", "must be the part's SHA-256 as 64 hex digits")
		}
		bp := blob.Part{Number: p.Number, Size: partSize(as.Size, as.Multipart.PartSize, p.Number), SHA256: sum}
		pre, err := s.store.PresignPart(r.Context(), as.key, as.uploadID, bp, s.uploadTTL)
		if err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		out.Parts = append(out.Parts, PartURL{Number: bp.Number, Size: bp.Size, Method: pre.Method, URL: pre.URL, Headers: pre.Headers})
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}

// listParts answers the parts the store holds, to resume an upload.
func (s *Service) listParts(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.ListParts"
	as, err := s.load(r.Context(), a)
	if err != nil {
		return err
	}
	if as.Multipart == nil || as.uploadID == "" || as.Status != Pending {
		return problem.E(op, problem.Conflict, "this asset is not a pending multipart upload")
	}
	parts, err := s.store.ListParts(r.Context(), as.key, as.uploadID)
	if errors.Is(err, blob.ErrNotFound) {
		return problem.E(op, problem.Conflict, "the upload is gone (aborted or expired); create a new asset")
	}
	if err != nil {
		return problem.Wrap(op, problem.Unavailable, err)
	}
	out := Parts{PartSize: as.Multipart.PartSize, PartCount: as.Multipart.PartCount, Parts: []UploadedPart{}}
	for _, p := range parts {
		out.Parts = append(out.Parts, UploadedPart{Number: p.Number, Size: p.Size, SHA256: hex.EncodeToString(p.SHA256)})
	}
	httpx.JSON(w, http.StatusOK, out)
	return nil
}

// outcome is what complete or Verify decided about an asset.
type outcome struct {
	status    string // Verifying, Complete or Rejected
	sha       []byte
	composite string
	probe     json.RawMessage
	reason    string // Rejected: why
}

// complete records what the store verified. It holds no transaction while
// it talks to the store or ffprobe; completing twice answers the recorded
// result again.
func (s *Service) complete(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "asset.Complete"
	as, err := s.load(r.Context(), a)
	if err != nil {
		return err
	}
	switch as.Status {
	case Complete, Verifying:
		return s.answer(w, as)
	case Rejected:
		return rejection(op, as.Error)
	}
	var o outcome
	if as.Multipart != nil {
		o, err = s.completeMultipart(r.Context(), as)
	} else {
		o, err = s.completeSingle(r.Context(), as)
	}
	if err != nil {
		return err
	}
	if o.status != Rejected {
		if f, err := s.sniff(r.Context(), as); err != nil {
			return err
		} else if f != "" {
			o = outcome{status: Rejected, reason: refusedDetail(&media.RefusedError{Format: f, ContentType: as.ContentType})}
		}
	}
	if o.status == Complete && s.prober != nil {
		o = s.probe(r.Context(), as, o, s.ProbeBudget)
	}
	out, err := s.record(r.Context(), as, o, a.Principal.User.String())
	if err != nil {
		return err
	}
	if out.Status == Rejected {
		return rejection(op, out.Error)
	}
	return s.answer(w, out)
}

// answer replies with the asset: 200 whether it is complete or still
// verifying (its status says which).
func (s *Service) answer(w http.ResponseWriter, as Asset) error {
	httpx.JSON(w, http.StatusOK, as)
	return nil
}

// completeSingle reads the checksum the store verified for a single PUT.
func (s *Service) completeSingle(ctx context.Context, as Asset) (outcome, error) {
	const op = "asset.Complete"
	c, err := s.store.Head(ctx, as.key)
	if errors.Is(err, blob.ErrNotFound) {
		return outcome{}, problem.UploadIncomplete.E(op, "nothing was uploaded yet: PUT the file to upload_url with upload_headers, then complete")
	}
	if err != nil {
		return outcome{}, problem.Wrap(op, problem.Unavailable, err)
	}
	switch {
	case c.Size != as.Size:
		return outcome{status: Rejected, reason: fmt.Sprintf("the stored object is %d bytes, declared %d", c.Size, as.Size)}, nil
	case c.ContentType != as.ContentType:
		return outcome{status: Rejected, reason: "the stored object's Content-Type differs from the declared one"}, nil
	case c.SHA256 == nil:
		// A store that verified no checksum: hash it outside the request.
		return outcome{status: Verifying}, nil
	case !bytes.Equal(c.SHA256, as.declared):
		return outcome{status: Rejected, reason: "the stored object's SHA-256 differs from the declared one"}, nil
	}
	return outcome{status: Complete, sha: c.SHA256}, nil
}

// completeMultipart assembles the parts once every part is there with the
// right size; the whole-object SHA-256 is left to Verify.
func (s *Service) completeMultipart(ctx context.Context, as Asset) (outcome, error) {
	const op = "asset.Complete"
	parts, err := s.store.ListParts(ctx, as.key, as.uploadID)
	if errors.Is(err, blob.ErrNotFound) {
		// Completed by a concurrent call whose record did not land, or
		// aborted: the object says which.
		c, herr := s.store.Head(ctx, as.key)
		if herr == nil && c.Composite != "" && c.Size == as.Size {
			return outcome{status: Verifying, composite: c.Composite}, nil
		}
		return outcome{}, problem.E(op, problem.Conflict, "the multipart upload is gone (aborted or expired); create a new asset")
	}
	if err != nil {
		return outcome{}, problem.Wrap(op, problem.Unavailable, err)
	}
	var missing []string
	have := map[int32]blob.Part{}
	for _, p := range parts {
		have[p.Number] = p
	}
	ordered := make([]blob.Part, 0, as.Multipart.PartCount)
	for n := int32(1); int(n) <= as.Multipart.PartCount; n++ {
		p, ok := have[n]
		if !ok || p.Size != partSize(as.Size, as.Multipart.PartSize, n) || len(p.SHA256) != 32 {
			missing = append(missing, strconv.Itoa(int(n)))
			continue
		}
		ordered = append(ordered, p)
	}
	if len(missing) > 0 {
		if len(missing) > 20 {
			missing = append(missing[:20], "…")
		}
		return outcome{}, problem.UploadIncomplete.E(op, fmt.Sprintf("%d of %d parts are missing or of the wrong size: %s (GET …/parts lists what the store has)",
			len(missing), as.Multipart.PartCount, strings.Join(missing, ", ")))
	}
	want := Composite(ordered)
	got, err := s.store.CompleteMultipart(ctx, as.key, as.uploadID, ordered)
	if errors.Is(err, blob.ErrExists) {
		c, herr := s.store.Head(ctx, as.key)
		if herr != nil {
			return outcome{}, problem.Wrap(op, problem.Unavailable, herr)
		}
		got = c.Composite
	} else if err != nil {
		return outcome{}, problem.Wrap(op, problem.Unavailable, err)
	}
	if got != "" && got != want {
		return outcome{status: Rejected, reason: "the store's composite checksum differs from the parts'"}, nil
	}
	return outcome{status: Verifying, composite: want}, nil
}

// Composite is S3's composite checksum of parts: SHA-256 over the parts'
// SHA-256 digests, base64, with "-N" appended.
func Composite(parts []blob.Part) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p.SHA256)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// sniff reads the object's first bytes and names a playlist format, if any.
func (s *Service) sniff(ctx context.Context, as Asset) (string, error) {
	rc, err := s.store.OpenRange(ctx, as.key, 0)
	if err != nil {
		return "", problem.Wrap("asset.Complete", problem.Unavailable, err)
	}
	defer rc.Close()
	head, err := io.ReadAll(io.LimitReader(rc, media.SniffLen))
	if err != nil {
		return "", problem.Wrap("asset.Complete", problem.Unavailable, err)
	}
	return media.Sniff(head), nil
}

// probe runs the confined ffprobe within budget. A refused format rejects
// the asset; unreadable media keeps a null probe; running out of budget
// leaves the asset verifying (Verify probes it later).
func (s *Service) probe(ctx context.Context, as Asset, o outcome, budget time.Duration) outcome {
	url, err := s.store.PresignGet(ctx, as.key, 15*time.Minute)
	if err != nil {
		o.status = Verifying
		return o
	}
	pctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	raw, err := s.prober.Probe(pctx, url, as.ContentType)
	var rf *media.RefusedError
	switch {
	case errors.As(err, &rf):
		return outcome{status: Rejected, reason: refusedDetail(rf)}
	case err == nil:
		o.probe = raw
	case pctx.Err() != nil:
		o.status = Verifying // not within the budget: Verify probes it
	}
	return o
}

// rejection answers a rejected upload: media-refused when the format was
// refused, upload-mismatch otherwise.
func rejection(op, reason string) error {
	if strings.Contains(reason, refusedMarker) {
		return problem.MediaRefused.E(op, "upload rejected: "+reason)
	}
	return problem.UploadMismatch.E(op, "upload rejected: "+reason)
}

// refusedMarker ends every refused-format reason (and names the format).
const refusedMarker = " (detected format: "

// refusedDetail describes a refused format for the problem and the record.
func refusedDetail(rf *media.RefusedError) string {
	return strings.TrimPrefix(rf.Error(), "media: ") + refusedMarker + rf.Format + ")"
}

// record stores an outcome for a pending asset (or a verifying one, for
// Verify) in one short transaction: status, checksums, probe, the ledger
// events and the asset.ready / asset.rejected webhooks. A rejected
// object is deleted after commit (the sweep retries if that fails).
func (s *Service) record(ctx context.Context, as Asset, o outcome, actor string) (Asset, error) {
	const op = "asset.record"
	var out Asset
	err := s.tx(ctx, as.Workspace, func(tx pgx.Tx) error {
		cur, err := loadTx(ctx, tx, as.Workspace, as.ID, true)
		if err != nil {
			return err
		}
		if cur.Status != Pending && cur.Status != Verifying || cur.Status == Verifying && as.Status != Verifying {
			out = cur // another call recorded it first
			return nil
		}
		var sha any
		if o.sha != nil {
			sha = o.sha
		}
		var composite, reason any
		if o.composite != "" {
			composite = o.composite
		}
		if o.reason != "" {
			reason = o.reason
		}
		out, err = scanAsset(tx.QueryRow(ctx, `UPDATE assets SET status = $3, sha256 = coalesce($4, sha256), size = declared_size,
				probe = coalesce($5, probe), composite_checksum = coalesce($6, composite_checksum), error = $7, upload_id = NULL,
				completed_at = CASE WHEN $3 = 'complete' THEN now() END, verify_lease_until = NULL,
				verify_state = CASE WHEN $3 = 'verifying' THEN verify_state END
			WHERE id = $1 AND workspace_id = $2 RETURNING `+assetCols, as.ID, as.Workspace, o.status, sha, nullJSON(o.probe), composite, reason))
		if err != nil {
			return err
		}
		switch o.status {
		case Rejected:
			return publish(ctx, tx, as.Workspace, actor, "asset.rejected", out, map[string]any{"reason": o.reason})
		case Verifying:
			// The asset-verify schedule finishes it (off while nothing
			// awaits verification).
			if err := wake.AfterCommit(ctx, tx, wake.AssetVerify); err != nil {
				return err
			}
			if cur.Status == Pending {
				return publish(ctx, tx, as.Workspace, actor, "asset.uploaded", out,
					map[string]any{"size": out.Size, "composite_checksum": out.Composite, "declared_sha256": out.DeclaredSHA256})
			}
			return nil
		}
		if err := publish(ctx, tx, as.Workspace, actor, "asset.completed", out, map[string]any{"sha256": out.SHA256, "size": out.Size}); err != nil {
			return err
		}
		return publish(ctx, tx, as.Workspace, actor, "asset.ready", out, map[string]any{"sha256": out.SHA256, "size": out.Size, "content_type": out.ContentType})
	})
	if err != nil {
		return Asset{}, problem.Wrap(op, problem.Internal, err)
	}
	if out.Status == Rejected && o.status == Rejected {
		if err := s.store.Delete(context.WithoutCancel(ctx), as.key); err != nil {
			slog.WarnContext(ctx, "asset: delete rejected object (the sweep will retry)", "asset", as.ID.String(), "err", err.Error())
		}
	}
	return out, nil
}

func nullJSON(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return b
}
