package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
)

// MaxPurgesPerRun bounds the workspaces one purge run removes; the rest
// wait for the next run.
const MaxPurgesPerRun = 50

// PurgeSummary is what a purge run did.
type PurgeSummary struct {
	// Purged lists the workspaces removed, with what went.
	Purged []Purged `json:"purged"`
}

// Purged is one removed workspace, as its tombstone records it.
type Purged struct {
	Workspace id.WorkspaceID   `json:"workspace"`
	Rows      map[string]int64 `json:"rows"`
	Objects   int64            `json:"objects"`
}

// Purge is the workspace-purge cron: it removes every workspace whose
// grace period is over (and which has no open job), one transaction each.
// Safe to run twice at once: a workspace is claimed FOR UPDATE SKIP LOCKED.
func (s *Service) Purge(ctx context.Context) (PurgeSummary, error) {
	out := PurgeSummary{Purged: []Purged{}}
	for range MaxPurgesPerRun {
		p, ok, err := s.purgeOne(ctx)
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		out.Purged = append(out.Purged, p)
	}
	return out, nil
}

// purgeOne claims one due workspace and, holding its row lock: deletes its
// objects, then (workspace_purge) every row of it, writing the tombstone,
// and commits; then sweeps the prefix once more for an object a presigned
// URL minted before the request put there meanwhile. Objects go first: if
// the row deletion then fails, the next run finds the workspace again and
// redoes both (both are idempotent).
func (s *Service) purgeOne(ctx context.Context) (Purged, bool, error) {
	const op = "privacy: purge"
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return Purged{}, false, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var p Purged
	err = tx.QueryRow(ctx, `SELECT id FROM workspace_purge_claim()`).Scan(&p.Workspace)
	if errors.Is(err, pgx.ErrNoRows) {
		return Purged{}, false, nil
	}
	if err != nil {
		return Purged{}, false, fmt.Errorf("%s: claim: %w", op, err)
	}
	if p.Objects, err = s.Store.DeletePrefix(ctx, Prefix(p.Workspace)); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: objects: %w", op, p.Workspace, err)
	}
	var counts []byte
	if err := tx.QueryRow(ctx, `SELECT workspace_purge($1, $2)`, p.Workspace, p.Objects).Scan(&counts); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: rows: %w", op, p.Workspace, err)
	}
	if err := json.Unmarshal(counts, &p.Rows); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: counts: %w", op, p.Workspace, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: commit: %w", op, p.Workspace, err)
	}
	late, err := s.Store.DeletePrefix(ctx, Prefix(p.Workspace))
	if err != nil || late > 0 {
		// The rows are gone; a leftover object is an orphan the next
		// sweep of this prefix removes. Say so loudly.
		slog.WarnContext(ctx, "purge: objects under a purged workspace's prefix after its rows went",
			"workspace", p.Workspace.String(), "deleted", late, "err", fmt.Sprint(err))
	}
	p.Objects += late
	slog.InfoContext(ctx, "workspace purged", "workspace", p.Workspace.String(), "objects", p.Objects)
	return p, true, nil
}
