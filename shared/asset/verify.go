package asset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
)

// verifyActor is the ledger actor of Verify's events.
const verifyActor = "system:asset-verify"

// VerifyResult summarises one Verify run.
type VerifyResult struct {
	Claimed  int `json:"claimed"`
	Ready    int `json:"ready"`
	Rejected int `json:"rejected"`
	Resumed  int `json:"in_progress"`
	Failed   int `json:"failed"`
}

// Verify finishes verifying assets: it computes the whole-object SHA-256
// of multipart uploads (resumable: the hash state is saved when a run's
// budget ends, and the next run continues from there), compares it with the
// declared one, probes the media, and marks each asset complete (asset.ready)
// or rejected. It runs as the asset-verify cron, never inside an API
// request, and holds no transaction or row lock while it reads the store
// (assets are leased by asset_verify_claim).
func (s *Service) Verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	lease := s.VerifyBudget + 5*time.Minute
	rows, err := s.pool.Query(ctx, `SELECT id, workspace_id FROM asset_verify_claim($1, 10)`, fmt.Sprintf("%d seconds", int(lease.Seconds())))
	if err != nil {
		return res, fmt.Errorf("asset: verify: claim: %w", err)
	}
	type claim struct {
		Asset id.AssetID
		WS    id.WorkspaceID
	}
	claims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[claim])
	if err != nil {
		return res, fmt.Errorf("asset: verify: claim: %w", err)
	}
	res.Claimed = len(claims)
	deadline := time.Now().Add(s.VerifyBudget)
	for _, c := range claims {
		st, err := s.verifyOne(ctx, c.WS, c.Asset, deadline)
		switch {
		case err != nil:
			res.Failed++
			slog.ErrorContext(ctx, "asset: verify", "asset", c.Asset.String(), "err", err.Error())
		case st == Complete:
			res.Ready++
		case st == Rejected:
			res.Rejected++
		default:
			res.Resumed++
		}
	}
	return res, nil
}

func (s *Service) verifyOne(ctx context.Context, ws id.WorkspaceID, a id.AssetID, deadline time.Time) (string, error) {
	var as Asset
	var offset int64
	var state []byte
	err := s.tx(ctx, ws, func(tx pgx.Tx) error {
		var err error
		if as, err = loadTx(ctx, tx, ws, a, false); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT verify_offset, verify_state FROM assets WHERE id = $1`, a).Scan(&offset, &state)
	})
	if err != nil {
		return "", err
	}
	if as.Status != Verifying {
		return as.Status, nil
	}
	o := outcome{status: Complete}
	if as.SHA256 == "" {
		h := sha256.New()
		if state != nil {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
				offset = 0
				h.Reset()
			}
		}
		n, err := s.hashFrom(ctx, as.key, offset, h, deadline)
		offset += n
		if err != nil || offset < as.Size {
			saved, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
			if serr := s.tx(ctx, ws, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE assets SET verify_offset = $2, verify_state = $3, verify_lease_until = NULL WHERE id = $1 AND status = 'verifying'`, a, offset, saved)
				return err
			}); serr != nil {
				return "", serr
			}
			if err != nil {
				return "", err
			}
			return Verifying, nil
		}
		o.sha = h.Sum(nil)
		if offset != as.Size || !bytes.Equal(o.sha, as.declared) {
			o = outcome{status: Rejected, reason: "the uploaded bytes' SHA-256 differs from the declared one"}
		}
	}
	if o.status == Complete && s.prober != nil {
		o = s.probe(ctx, as, o, 2*time.Minute)
		if o.status == Verifying {
			return "", s.tx(ctx, ws, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE assets SET sha256 = coalesce($2, sha256), verify_lease_until = NULL WHERE id = $1`, a, o.sha)
				return err
			})
		}
	}
	if o.status == Complete && o.sha == nil {
		o.sha = as.declared // verified in complete (store checksum)
	}
	out, err := s.record(ctx, as, o, verifyActor)
	return out.Status, err
}

// hashFrom feeds the object from offset into h until its end or deadline
// and returns how many bytes it read.
func (s *Service) hashFrom(ctx context.Context, key string, offset int64, h hash.Hash, deadline time.Time) (int64, error) {
	rc, err := s.store.OpenRange(ctx, key, offset)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for first := true; first || time.Now().Before(deadline); first = false {
		m, err := io.ReadFull(rc, buf)
		h.Write(buf[:m])
		n += int64(m)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SweepResult summarises one Sweep run.
type SweepResult struct {
	Objects int `json:"objects_deleted"`
	Uploads int `json:"uploads_aborted"`
}

// StaleUpload is how long an unfinished multipart upload may stay (S3's
// lifecycle rule aborts them in AWS too).
const StaleUpload = 7 * 24 * time.Hour

// Sweep deletes asset objects that no asset owns (a leftover upload URL
// used after the asset was deleted, a failed delete after commit, a
// rejected upload) and aborts multipart uploads no pending asset is
// waiting for, or older than StaleUpload. It runs as the asset-sweep cron.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	return s.SweepUnder(ctx, "ws/")
}

// SweepUnder is Sweep limited to the keys under prefix (a "ws/…/" folder):
// tests sweep only their own workspace of the shared local bucket.
func (s *Service) SweepUnder(ctx context.Context, prefix string) (SweepResult, error) {
	var res SweepResult
	if !strings.HasPrefix(prefix, "ws/") || !strings.HasSuffix(prefix, "/") {
		return res, fmt.Errorf("asset: sweep prefix %q is not a ws/ folder", prefix)
	}
	keys, err := s.store.List(ctx, prefix, 0)
	if err != nil {
		return res, err
	}
	var assetKeys []string
	for _, k := range keys {
		if strings.Contains(k, "/assets/") {
			assetKeys = append(assetKeys, k)
		}
	}
	for len(assetKeys) > 0 {
		batch := assetKeys[:min(1000, len(assetKeys))]
		assetKeys = assetKeys[len(batch):]
		st, err := s.objectStatus(ctx, batch)
		if err != nil {
			return res, err
		}
		for _, k := range batch {
			if r, ok := st[k]; !ok || r.status == Rejected {
				if err := s.store.Delete(ctx, k); err != nil {
					return res, err
				}
				res.Objects++
			}
		}
	}
	ups, err := s.store.ListMultipart(ctx, prefix, time.Now())
	if err != nil {
		return res, err
	}
	var upKeys []string
	for _, u := range ups {
		upKeys = append(upKeys, u.Key)
	}
	st, err := s.objectStatus(ctx, upKeys)
	if err != nil {
		return res, err
	}
	old, err := s.store.ListMultipart(ctx, prefix, time.Now().Add(-StaleUpload))
	if err != nil {
		return res, err
	}
	stale := map[string]bool{}
	for _, u := range old {
		stale[u.UploadID] = true
	}
	for _, u := range ups {
		r, ok := st[u.Key]
		if ok && r.status == Pending && r.upload == u.UploadID && !stale[u.UploadID] {
			continue
		}
		if err := s.store.AbortMultipart(ctx, u.Key, u.UploadID); err != nil {
			return res, err
		}
		res.Uploads++
	}
	return res, nil
}

type objStatus struct{ status, upload string }

// objectStatus maps each key that an asset owns to its status and upload
// id (asset_object_status: across workspaces, as the owner).
func (s *Service) objectStatus(ctx context.Context, keys []string) (map[string]objStatus, error) {
	out := map[string]objStatus{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key, status, coalesce(upload_id, '') FROM asset_object_status($1) WHERE status IS NOT NULL`, keys)
	if err != nil {
		return nil, fmt.Errorf("asset: sweep: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var st objStatus
		if err := rows.Scan(&k, &st.status, &st.upload); err != nil {
			return nil, err
		}
		out[k] = st
	}
	return out, rows.Err()
}

// VerifyPending reports whether any asset awaits verification: while one
// does, the due-only asset-verify schedule stays on.
func (s *Service) VerifyPending(ctx context.Context) (bool, error) {
	var p bool
	if err := s.pool.QueryRow(ctx, `SELECT asset_verify_pending()`).Scan(&p); err != nil {
		return false, fmt.Errorf("asset: verify pending: %w", err)
	}
	return p, nil
}
