package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// CheckpointDomain prefixes every signed checkpoint message, so a checkpoint
// signature cannot be replayed as any other kind of signature.
const CheckpointDomain = "framebroker-ledger-checkpoint-v1\n"

// Checkpoint is a signed statement of a workspace's chain head.
type Checkpoint struct {
	Workspace id.WorkspaceID `json:"workspace"`
	Seq       int64          `json:"seq"`
	Hash      Hash           `json:"hash"`
	Time      time.Time      `json:"time"`
	KeyID     string         `json:"key_id"`
	Signature []byte         `json:"signature"`
}

// Message is the signed bytes: CheckpointDomain ‖ JCS({hash, seq, time, workspace}).
func (c Checkpoint) Message() ([]byte, error) {
	b, err := json.Marshal(struct {
		Hash      Hash   `json:"hash"`
		Seq       int64  `json:"seq"`
		Time      string `json:"time"`
		Workspace string `json:"workspace"`
	}{c.Hash, c.Seq, c.Time.UTC().Format(TimeLayout), c.Workspace.String()})
	if err != nil {
		return nil, err
	}
	canon, err := jcs.Transform(b)
	if err != nil {
		return nil, err
	}
	return append([]byte(CheckpointDomain), canon...), nil
}

// Check verifies c's signature against keys: the key must be known, in
// service at c.Time, and the signature valid. The error names what failed.
func (c Checkpoint) Check(keys keyring.Set) error {
	k, ok := keys.Lookup(c.KeyID)
	if !ok {
		return fmt.Errorf("checkpoint key %q is unknown", c.KeyID)
	}
	if !k.ValidAt(c.Time) {
		return fmt.Errorf("checkpoint key %q was not in service at %s", c.KeyID, c.Time.UTC().Format(time.RFC3339))
	}
	msg, err := c.Message()
	if err != nil {
		return err
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(k.Key, msg, c.Signature) {
		return errors.New("checkpoint signature is invalid")
	}
	return nil
}

// Sign checkpoints ws's current head inside tx (scoped to ws) and stores
// the checkpoint; an existing checkpoint of the same seq is returned as is.
// ok is false when the ledger is empty.
func Sign(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, keys keyring.Provider) (c Checkpoint, ok bool, err error) {
	seq, h, err := Head(ctx, tx, ws)
	if err != nil || seq == 0 {
		return Checkpoint{}, false, err
	}
	return signAt(ctx, tx, ws, seq, h, keys)
}

// signAt stores a signed checkpoint of (seq, h), a head the caller has
// established (read under the append lock, or verified); an existing
// checkpoint of the same seq is returned as is.
func signAt(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, seq int64, h Hash, keys keyring.Provider) (c Checkpoint, ok bool, err error) {
	if c, err := loadCheckpoint(ctx, tx, ws, seq); err == nil {
		return c, true, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, false, err
	}
	s, err := keys.Signer(ctx)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("ledger: checkpoint: %w", err)
	}
	c = Checkpoint{Workspace: ws, Seq: seq, Hash: h, Time: time.Now().UTC().Truncate(time.Microsecond), KeyID: s.ID}
	msg, err := c.Message()
	if err != nil {
		return Checkpoint{}, false, err
	}
	c.Signature = s.Sign(msg)
	tag, err := tx.Exec(ctx, `INSERT INTO ledger_checkpoints (workspace_id, seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workspace_id, seq) DO NOTHING`,
		ws, c.Seq, c.Hash[:], c.Time, c.KeyID, c.Signature)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("ledger: checkpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Signed meanwhile by another transaction (a verification and an
		// export at once): that one stands.
		c, err := loadCheckpoint(ctx, tx, ws, seq)
		return c, err == nil, err
	}
	return c, true, nil
}

const checkpointCols = `workspace_id, seq, hash, at, key_id, signature`

func scanCheckpoint(row pgx.Row) (Checkpoint, error) {
	var c Checkpoint
	var h []byte
	err := row.Scan(&c.Workspace, &c.Seq, &h, &c.Time, &c.KeyID, &c.Signature)
	copy(c.Hash[:], h)
	return c, err
}

func loadCheckpoint(ctx context.Context, q pgx.Tx, ws id.WorkspaceID, seq int64) (Checkpoint, error) {
	return scanCheckpoint(q.QueryRow(ctx, `SELECT `+checkpointCols+` FROM ledger_checkpoints WHERE workspace_id = $1 AND seq = $2`, ws, seq))
}
