package asset

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// Output is a job output the pipeline has verified in the object store.
type Output struct {
	Name        string // the preset's output name, used as the filename
	ContentType string
	Key         string // object key
	SHA256      string // hex, as re-hashed from the store
	Size        int64
}

// RegisterOutput records a verified job output as a complete asset of ws,
// in the caller's transaction (the pipeline's verify transaction), and
// returns its id. This package owns the assets table; the pipeline does
// not write it.
func RegisterOutput(ctx context.Context, q db.Querier, ws id.WorkspaceID, o Output) (id.AssetID, error) {
	sum, err := hex.DecodeString(o.SHA256)
	if err != nil || len(sum) != 32 {
		return id.AssetID{}, fmt.Errorf("asset: register output %s: bad sha256", o.Name)
	}
	a := id.New[id.AssetID]()
	if _, err := q.Exec(ctx, `INSERT INTO assets (id, workspace_id, filename, content_type, declared_size, object_key, status, sha256, size, completed_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'complete', $7, $5, now())`, a, ws, o.Name, o.ContentType, max(o.Size, 1), o.Key, sum); err != nil {
		return id.AssetID{}, fmt.Errorf("asset: register output %s: %w", o.Name, err)
	}
	return a, nil
}
