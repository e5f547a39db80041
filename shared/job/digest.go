package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/gowebpki/jcs"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// TrailSHA256 is the digest a provenance manifest binds for a job: SHA-256
// over the job's trail as GET …/jobs/{job}/trail serves it, one event per
// line, each line the RFC 8785 canonical JSON of the event object
// ({seq, at, stage, attempt, detail}) followed by "\n". Anyone holding the
// trail can recompute it.
func TrailSHA256(ctx context.Context, q db.Querier, ws id.WorkspaceID, j id.JobID) (string, error) {
	h := sha256.New()
	var after int64
	for {
		events, err := LoadTrail(ctx, q, ws, j, after, 500)
		if err != nil {
			return "", err
		}
		for _, e := range events {
			line, err := CanonicalEvent(e)
			if err != nil {
				return "", err
			}
			h.Write(line)
			h.Write([]byte{'\n'})
			after = e.Seq
		}
		if len(events) < 500 {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
	}
}

// CanonicalEvent is the RFC 8785 form of a trail event.
func CanonicalEvent(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	out, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("job: canonical trail event: %w", err)
	}
	return out, nil
}

// Digester adapts TrailSHA256 to the provenance manifest builder, which
// knows jobs by UUID inside a workspace-scoped transaction.
type Digester struct{}

// TrailSHA256 implements provenance.TrailDigester.
func (Digester) TrailSHA256(ctx context.Context, tx pgx.Tx, job uuid.UUID) (string, error) {
	var ws id.WorkspaceID
	if err := tx.QueryRow(ctx, `SELECT workspace_id FROM jobs WHERE id = $1`, job).Scan(&ws); err != nil {
		return "", fmt.Errorf("job: trail digest: %w", err)
	}
	return TrailSHA256(ctx, tx, ws, id.FromUUID[id.JobID](job))
}
