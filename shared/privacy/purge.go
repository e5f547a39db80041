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

// Purge is the workspace-purge cron: it first finishes the final sweep of
// workspaces purged earlier whose sweep failed, then removes every
// workspace whose grace period is over (and which has no open job). No
// database lock is held while objects are deleted. Safe to run twice at
// once: a workspace is leased by one run (workspace_purge_claim).
func (s *Service) Purge(ctx context.Context) (PurgeSummary, error) {
	out := PurgeSummary{Purged: []Purged{}}
	if err := s.resweep(ctx); err != nil {
		return out, err
	}
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

// maxSweeps bounds the passes over one prefix in one run.
const maxSweeps = 10

// sweep deletes everything under ws's prefix, pass after pass, until a
// pass finds nothing (an object a presigned URL put there meanwhile is
// caught by the next pass). It returns how many objects went and whether
// the prefix was found empty.
func (s *Service) sweep(ctx context.Context, ws id.WorkspaceID) (int64, bool, error) {
	var total int64
	for range maxSweeps {
		n, err := s.Store.DeletePrefix(ctx, Prefix(ws))
		total += n
		if err != nil {
			return total, false, err
		}
		if n == 0 {
			return total, true, nil
		}
	}
	return total, false, nil
}

// finish sweeps a purged workspace's prefix until it is empty and records
// the completion in its tombstone; on failure the tombstone stays unswept
// and the next run tries again.
func (s *Service) finish(ctx context.Context, ws id.WorkspaceID) (int64, error) {
	n, empty, err := s.sweep(ctx, ws)
	if err != nil || !empty {
		slog.WarnContext(ctx, "purge: a purged workspace's prefix is not empty yet; the next run sweeps it again",
			"workspace", ws.String(), "deleted", n, "err", fmt.Sprint(err))
		return n, err
	}
	if _, err := s.Pool.Exec(ctx, `SELECT workspace_tombstone_swept($1, $2)`, ws, n); err != nil {
		return n, fmt.Errorf("privacy: purge: %s: record sweep: %w", ws, err)
	}
	return n, nil
}

// resweep finishes the final sweeps earlier runs could not.
func (s *Service) resweep(ctx context.Context) error {
	rows, err := s.Pool.Query(ctx, `SELECT * FROM workspace_tombstones_unswept($1)`, MaxPurgesPerRun)
	if err != nil {
		return fmt.Errorf("privacy: purge: unswept: %w", err)
	}
	pending, err := pgx.CollectRows(rows, pgx.RowTo[id.WorkspaceID])
	if err != nil {
		return fmt.Errorf("privacy: purge: unswept: %w", err)
	}
	for _, ws := range pending {
		if _, err := s.finish(ctx, ws); err != nil {
			slog.ErrorContext(ctx, "purge: re-sweep", "workspace", ws.String(), "err", err.Error())
		}
	}
	return nil
}

// purgeOne leases one due workspace (a short committed transaction),
// deletes its objects with no transaction open, deletes every row of it
// and writes the tombstone (workspace_purge, a short transaction), then
// sweeps the prefix until it is empty (an object a presigned URL minted
// before the request put there meanwhile) and records that in the
// tombstone. If a step fails, the lease expires and the next run redoes
// the workspace (every step is idempotent), or re-sweeps its tombstone.
func (s *Service) purgeOne(ctx context.Context) (Purged, bool, error) {
	const op = "privacy: purge"
	var p Purged
	err := s.Pool.QueryRow(ctx, `SELECT id FROM workspace_purge_claim()`).Scan(&p.Workspace)
	if errors.Is(err, pgx.ErrNoRows) {
		return Purged{}, false, nil
	}
	if err != nil {
		return Purged{}, false, fmt.Errorf("%s: claim: %w", op, err)
	}
	if p.Objects, _, err = s.sweep(ctx, p.Workspace); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: objects: %w", op, p.Workspace, err)
	}
	var counts []byte
	if err := s.Pool.QueryRow(ctx, `SELECT workspace_purge($1, $2)`, p.Workspace, p.Objects).Scan(&counts); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: rows: %w", op, p.Workspace, err)
	}
	if err := json.Unmarshal(counts, &p.Rows); err != nil {
		return Purged{}, false, fmt.Errorf("%s: %s: counts: %w", op, p.Workspace, err)
	}
	late, err := s.finish(ctx, p.Workspace)
	if err != nil {
		slog.ErrorContext(ctx, "purge: final sweep", "workspace", p.Workspace.String(), "err", err.Error())
	}
	p.Objects += late
	slog.InfoContext(ctx, "workspace purged", "workspace", p.Workspace.String(), "objects", p.Objects)
	return p, true, nil
}
