package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/preset"
)

// checked is an output the Verify step re-hashed and found as reported;
// after sealing, key, sha and size are the signed file's.
type checked struct {
	preset.Output
	sha  string
	size int64
	key  string
	// workerSHA is the worker's file's SHA-256 when credentials replaced it.
	workerSHA string
	sealed    *credentials.Sealed
	// ingredient is the input's own Content Credentials carried into this
	// output's manifest store, if it had any.
	ingredient *c2pa.IngredientCredentials
}

// entry is the output as the trail's verified and recorded entries list it.
func (o checked) entry(a id.AssetID) map[string]any {
	e := map[string]any{"name": o.Name, "asset": a, "sha256": o.sha, "size": o.size}
	if o.workerSHA != "" {
		e["worker_sha256"] = o.workerSHA
	}
	if o.sealed != nil && o.sealed.Label != "" {
		cc := map[string]any{
			"label": o.sealed.Label, "manifest_sha256": o.sealed.StoreSHA256, "binding": o.sealed.Binding,
		}
		if ic := o.ingredient; ic != nil {
			// The input's manifest, carried as the ingredient's, and what
			// validating it found (its failures are recorded, not dropped).
			failures := []string{}
			for _, f := range c2pa.IngredientFailures(ic.Report) {
				failures = append(failures, f.Code)
			}
			cc["ingredient_manifest"] = map[string]any{"label": ic.Label(), "valid": ic.Report.Valid, "failures": failures}
		}
		e["content_credentials"] = cc
	}
	return e
}

// SignedKey is where the signed copy of an output is written: a key no
// worker was ever given an upload URL for.
func SignedKey(ws id.WorkspaceID, j id.JobID, attempt int, name string) string {
	return broker.AttemptPrefix(ws, j, attempt) + "signed/" + name
}

// sealOutputs embeds signed Content Credentials (C2PA) in every output that
// can carry them (MP4 and the HLS ladder's fragmented MP4 rungs, JPEG),
// binding each to the job, its trail so far and the workspace ledger head;
// then it moves the byte ranges of the HLS playlists that address a sealed
// rung (the C2PA box after ftyp shifted its bytes) and writes those
// playlists to their signed keys too, so they are hashed as rewritten.
// Nothing happens without s.Credentials.
func (s *Steps) sealOutputs(ctx context.Context, p Payload, j job.Job, outs []checked) error {
	if s.Credentials == nil {
		return nil
	}
	some := false
	for _, o := range outs {
		some = some || credentials.Supported(o.ContentType)
	}
	if !some {
		return nil
	}
	bind := c2pa.JobAssertion{Workspace: p.Workspace.String(), Job: p.Job.String(), Attempt: p.Attempt, Preset: j.Preset}
	var ing c2pa.Ingredient
	var inKey string
	var inSize int64
	var source string
	err := s.tx(ctx, p.Workspace, func(tx pgx.Tx) error {
		inputs, err := loadInputs(ctx, tx, j)
		if err != nil {
			return err
		}
		for i, in := range inputs {
			bind.Inputs = append(bind.Inputs, c2pa.JobInput{Asset: in.Asset.String(), SHA256: in.SHA256})
			if i == 0 {
				ing = c2pa.Ingredient{Asset: in.Asset.String(), SHA256: in.SHA256}
				inKey = in.Key
				if err := tx.QueryRow(ctx, `SELECT filename, content_type, COALESCE(size, 0) FROM assets WHERE id = $1`, in.Asset).Scan(&ing.Title, &ing.Format, &inSize); err != nil {
					return err
				}
			}
		}
		if bind.TrailSHA256, err = job.TrailSHA256(ctx, tx, p.Workspace, p.Job); err != nil {
			return err
		}
		seq, head, err := ledger.Head(ctx, tx, p.Workspace)
		if err != nil {
			return err
		}
		bind.LedgerSeq, bind.LedgerHead = seq, fmt.Sprintf("%x", head[:])
		source, err = credentials.SourceType(ctx, tx, p.Workspace)
		return err
	})
	if err != nil {
		return err
	}
	if inKey != "" && inSize > 0 {
		// The input's own Content Credentials, if any, become the
		// ingredient's manifest (trusting Framebroker's published keys).
		keys, err := s.Credentials.Issuer.Keys.PublicKeys(ctx)
		if err != nil {
			return err
		}
		if ing.Credentials, err = s.Credentials.ReadIngredient(ctx, inKey, inSize, keys); err != nil {
			return fmt.Errorf("pipeline: the input's content credentials: %w", err)
		}
	}
	moved := map[string]c2pa.Insertion{}
	for i := range outs {
		o := &outs[i]
		if !credentials.Supported(o.ContentType) {
			continue
		}
		b := bind
		b.Output, b.WorkerSHA256 = o.Name, o.sha
		m := c2pa.TranscodeManifest(o.Name, credentials.Agent(), source, ing, b)
		sealed, err := s.Credentials.Seal(ctx, p.Workspace, o.key, SignedKey(p.Workspace, p.Job, p.Attempt, o.Name), o.ContentType, m)
		if errors.Is(err, c2pa.ErrFormat) {
			return fail("Job.VerificationFailed", "output %s: cannot carry Content Credentials: %v", o.Name, err)
		}
		if err != nil {
			return fmt.Errorf("pipeline: content credentials for %s: %w", o.Name, err)
		}
		o.workerSHA, o.sealed, o.ingredient = o.sha, &sealed, ing.Credentials
		o.sha, o.size, o.key = sealed.SHA256, sealed.Size, sealed.Key
		moved[o.Name] = sealed.Inserted
	}
	names := map[string]bool{}
	for _, o := range outs {
		names[o.Name] = true
	}
	for i := range outs {
		o := &outs[i]
		if o.ContentType != credentials.Playlist {
			continue
		}
		sealed, ok, err := s.Credentials.SealPlaylist(ctx, o.key, SignedKey(p.Workspace, p.Job, p.Attempt, o.Name), names, moved)
		if errors.Is(err, credentials.ErrPlaylist) {
			return fail("Job.VerificationFailed", "output %s: %v", o.Name, err)
		}
		if err != nil {
			return fmt.Errorf("pipeline: byte ranges of %s: %w", o.Name, err)
		}
		if ok {
			o.workerSHA, o.sealed = o.sha, &sealed
			o.sha, o.size, o.key = sealed.SHA256, sealed.Size, sealed.Key
		}
	}
	return nil
}
