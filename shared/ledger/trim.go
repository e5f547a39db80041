package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// Trimmed is what TrimBefore did.
type Trimmed struct {
	// Through is the seq of the checkpoint the chain now starts after (0:
	// nothing trimmed).
	Through int64 `json:"through_seq"`
	// Events is how many events were deleted.
	Events int64 `json:"events"`
}

// TrimBefore applies retention to ws's ledger inside tx (scoped to ws): it
// signs a checkpoint of the head (so every retention run leaves an anchor
// for the next), then trims the chain through the latest stored checkpoint
// whose event is older than before, with ledger_trim, and, when it trimmed
// anything, appends a "ledger.trimmed" event by actor in the same
// transaction. The remaining chain verifies from that checkpoint (its
// signature vouches for the trimmed prefix; see the package doc).
//
// Events are trimmed at checkpoint granularity: an event older than before
// stays until a checkpoint at or after it is older than before too. With a
// daily retention run signing the head, that is at most about a day late.
func TrimBefore(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, keys keyring.Provider, before time.Time, actor string) (Trimmed, error) {
	const op = "ledger: trim"
	if _, _, err := Sign(ctx, tx, ws, keys); err != nil {
		return Trimmed{}, fmt.Errorf("%s: %w", op, err)
	}
	var t Trimmed
	err := tx.QueryRow(ctx, `SELECT c.seq FROM ledger_checkpoints c
		JOIN ledger_events e ON e.workspace_id = c.workspace_id AND e.seq = c.seq AND e.hash = c.hash
		WHERE c.workspace_id = $1 AND e.at < $2 ORDER BY c.seq DESC LIMIT 1`, ws, before).Scan(&t.Through)
	if errors.Is(err, pgx.ErrNoRows) {
		return Trimmed{}, nil
	}
	if err != nil {
		return Trimmed{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.QueryRow(ctx, `SELECT ledger_trim($1, $2)`, ws, t.Through).Scan(&t.Events); err != nil {
		return Trimmed{}, fmt.Errorf("%s: %w", op, err)
	}
	if t.Events == 0 {
		return Trimmed{}, nil
	}
	if _, err := Append(ctx, tx, ws, actor, "ledger.trimmed", ws.String(), map[string]any{
		"through_seq": t.Through, "events": t.Events, "before": before.UTC().Format(time.RFC3339),
	}); err != nil {
		return Trimmed{}, err
	}
	return t, nil
}
