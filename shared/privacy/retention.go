package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
)

// RetentionActor is the ledger actor of retention's own events.
const RetentionActor = "system:retention"

// RetentionSummary is what a retention run did.
type RetentionSummary struct {
	Workspaces     int   `json:"workspaces"`
	TrailEvents    int64 `json:"job_events_deleted"`
	LedgerEvents   int64 `json:"ledger_events_deleted"`
	LedgersTrimmed int   `json:"ledgers_trimmed"`
	Failed         int   `json:"workspaces_failed"`
}

// Retain is the retention cron's privacy part: for every workspace not
// scheduled for deletion, in its own workspace-scoped transaction, it
// deletes job trail events older than the workspace's window
// (job_events_trim, which reads the class and the database clock itself)
// and trims its ledger through a signed checkpoint (ledger.TrimBefore, with
// the cutoff Retention.Cutoff gives at s.Now). A workspace that fails is logged and counted; the
// others still run, and the run reports an error at the end. Safe to run
// twice at once: both trims are idempotent and the ledger's are serialised
// by its per-workspace lock.
func (s *Service) Retain(ctx context.Context) (RetentionSummary, error) {
	var sum RetentionSummary
	var errs []error
	after := uuid.Nil
	for {
		type row struct {
			ws  id.WorkspaceID
			ret Retention
		}
		rows, err := s.Pool.Query(ctx, `SELECT id, retention FROM retention_workspaces($1, 200)`, after)
		if err != nil {
			return sum, fmt.Errorf("privacy: retention: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.ws, &x.ret)
		})
		if err != nil {
			return sum, fmt.Errorf("privacy: retention: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, x := range batch {
			after = x.ws.UUID()
			if err := s.retainOne(ctx, x.ws, x.ret, &sum); err != nil {
				sum.Failed++
				errs = append(errs, err)
				slog.ErrorContext(ctx, "retention failed for a workspace", "workspace", x.ws.String(), "err", err.Error())
			}
		}
	}
	return sum, errors.Join(errs...)
}

func (s *Service) retainOne(ctx context.Context, ws id.WorkspaceID, ret Retention, sum *RetentionSummary) error {
	cutoff := ret.Cutoff(s.now())
	var trail int64
	var led ledger.Trimmed
	err := db.InWorkspace(ctx, s.Pool, ws.UUID().String(), func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT job_events_trim($1)`, ws).Scan(&trail); err != nil {
			return fmt.Errorf("job trail: %w", err)
		}
		var err error
		led, err = ledger.TrimBefore(ctx, tx, ws, s.Keys, cutoff, RetentionActor)
		return err
	})
	if err != nil {
		return fmt.Errorf("privacy: retention %s: %w", ws, err)
	}
	sum.Workspaces++
	sum.TrailEvents += trail
	sum.LedgerEvents += led.Events
	if led.Events > 0 {
		sum.LedgersTrimmed++
	}
	return nil
}
