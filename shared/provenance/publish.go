package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Published is the reply to a publish.
type Published struct {
	Manifest       Manifest `json:"manifest"`
	ManifestSHA256 string   `json:"manifest_sha256"`
	Envelope       Envelope `json:"envelope"`
}

// publish snapshots the release's canon, seals the manifest, flips the
// release to published, stores the envelope and appends release.published
// to the ledger, all in the request's transaction.
func (s *Service) publish(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "provenance.Publish"
	ctx := r.Context()
	var name, status string
	err := a.Tx.QueryRow(ctx, `SELECT name, status FROM releases WHERE id = $1 AND workspace_id = $2 FOR UPDATE`,
		a.Release(), a.Workspace).Scan(&name, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return guard.NotFound()
	}
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if status != "draft" {
		return problem.E(op, problem.Conflict, "this release is already published; its manifest is at GET /v1/provenance/"+a.Release().String())
	}
	shots, err := s.snapshot(ctx, a.Tx, a.Release())
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if len(shots) == 0 {
		return problem.E(op, problem.Unprocessable, "a release needs at least one shot to be published")
	}
	seq, head, err := ledger.Head(ctx, a.Tx, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	m := Manifest{Type: ManifestType, Release: a.Release(), Workspace: a.Workspace, Name: name,
		PublishedBy: a.Principal.User,
		LedgerHead:  ledger.HeadRef{Seq: seq, Hash: head}, Shots: shots}
	env, payload, err := Seal(ctx, s.keys, m)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	envJSON, err := json.Marshal(env)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	sealed, err := ParseManifest(payload)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	sum := sha256.Sum256(payload)
	if _, err := a.Tx.Exec(ctx, `UPDATE releases SET status = 'published', updated_at = now() WHERE id = $1 AND workspace_id = $2`,
		a.Release(), a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if _, err := a.Tx.Exec(ctx, `INSERT INTO release_manifests (release_id, workspace_id, envelope, manifest_sha256, published_at)
		VALUES ($1, $2, $3, $4, $5)`, a.Release(), a.Workspace, envJSON, sum[:], sealed.PublishedAt); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := event.Record(ctx, a, "release.published", a.Release().String(), map[string]any{
		"manifest_sha256": hex.EncodeToString(sum[:]), "shots": len(shots), "ledger_head": m.LedgerHead,
	}); err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, Published{Manifest: sealed, ManifestSHA256: hex.EncodeToString(sum[:]), Envelope: env})
	return nil
}

// snapshot reads the canon of a release: its shots in order, each with its
// completed outputs (by asset id) and the jobs that produced them.
func (s *Service) snapshot(ctx context.Context, tx pgx.Tx, rel id.ReleaseID) ([]Shot, error) {
	rows, err := tx.Query(ctx, `SELECT s.id, s.project_id, s.name FROM release_shots rs JOIN shots s ON s.id = rs.shot_id
		WHERE rs.release_id = $1 ORDER BY rs.position`, rel)
	if err != nil {
		return nil, err
	}
	shots, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Shot, error) {
		var sh Shot
		err := row.Scan(&sh.Shot, &sh.Project, &sh.Name)
		sh.Outputs, sh.Jobs = []Output{}, []Job{}
		return sh, err
	})
	if err != nil {
		return nil, err
	}
	index := map[id.ShotID]int{}
	ids := make([]id.ShotID, len(shots))
	for i := range shots {
		shots[i].Position = i + 1
		index[shots[i].Shot] = i
		ids[i] = shots[i].Shot
	}
	// An encode output's Content Credentials: the manifest hash the job's
	// trail recorded for this file when it was sealed (NULL otherwise).
	rows, err = tx.Query(ctx, `SELECT so.shot_id, a.id, a.filename, a.content_type, a.size, a.sha256, so.job_id,
		(SELECT o->'content_credentials'->>'manifest_sha256' FROM job_events e, jsonb_array_elements(e.detail->'outputs') o
		  WHERE e.job_id = so.job_id AND e.workspace_id = so.workspace_id AND e.stage = 'verified'
		    AND o->>'sha256' = encode(a.sha256, 'hex') LIMIT 1)
		FROM shot_outputs so JOIN assets a ON a.id = so.asset_id AND a.workspace_id = so.workspace_id
		WHERE so.shot_id = ANY($1) AND a.status = 'complete' ORDER BY so.shot_id, a.id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seenJob := map[id.ShotID]map[uuid.UUID]bool{}
	type pending struct {
		shot, job int
		id        uuid.UUID
	}
	var digests []pending
	for rows.Next() {
		var sh id.ShotID
		var o Output
		var sum []byte
		var job *uuid.UUID
		var cred *string
		if err := rows.Scan(&sh, &o.Asset, &o.Filename, &o.ContentType, &o.Size, &sum, &job, &cred); err != nil {
			return nil, err
		}
		if cred != nil {
			o.ContentCredentials = *cred
		}
		o.SHA256 = hex.EncodeToString(sum)
		i := index[sh]
		if job != nil {
			o.Job = id.FromUUID[id.JobID](*job).String()
			if seenJob[sh] == nil {
				seenJob[sh] = map[uuid.UUID]bool{}
			}
			if !seenJob[sh][*job] {
				seenJob[sh][*job] = true
				shots[i].Jobs = append(shots[i].Jobs, Job{ID: o.Job})
				digests = append(digests, pending{shot: i, job: len(shots[i].Jobs) - 1, id: *job})
			}
		}
		shots[i].Outputs = append(shots[i].Outputs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close() // the digests query the same transaction
	if s.Trails != nil {
		for _, d := range digests {
			if shots[d.shot].Jobs[d.job].TrailSHA256, err = s.Trails.TrailSHA256(ctx, tx, d.id); err != nil {
				return nil, err
			}
		}
	}
	return shots, nil
}
