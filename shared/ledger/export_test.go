package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// SignAtForTest signs a checkpoint of (seq, h) as a verification that
// reached seq does (tests build trimmed chains with it).
func SignAtForTest(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, seq int64, h []byte, keys keyring.Provider) (Checkpoint, error) {
	var hh Hash
	copy(hh[:], h)
	c, _, err := signAt(ctx, tx, ws, seq, hh, keys)
	return c, err
}

// LockKeyForTest is lockKey.
func LockKeyForTest(ws id.WorkspaceID) int64 { return lockKey(ws) }
