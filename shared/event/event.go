// Package event is Framebroker's event catalogue: the events a workspace's
// audit trail (ledger) records and its webhook endpoints receive, each with
// a documented payload, and Publish, which writes one to both in the
// caller's transaction, so a customer's audit trail and integrations see
// the same events with the same data.
package event

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
	"github.com/framebroker/framebroker/shared/webhook"
)

// Type is one event of the catalogue.
type Type struct {
	Name string `json:"name"`
	// About says when the event happens.
	About string `json:"about"`
	// Example is a representative payload ("data" of the webhook envelope).
	Example any `json:"example"`
}

// The catalogue. Payload field names are stable; fields may be added.
var Catalogue = []Type{
	{"asset.created", "an upload was started (POST …/assets)",
		map[string]any{"filename": "clip.mp4", "content_type": "video/mp4", "size": 1048576}},
	{"asset.uploaded", "a multipart upload was assembled (composite checksum recorded); its whole-object SHA-256 is being verified",
		map[string]any{"asset": "ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "size": 53687091200, "composite_checksum": "x3wC0i3o3N0m0Zb5b8m3kq0h6n2oQe5J3m8X9vQb0kA=-800",
			"declared_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
	{"asset.completed", "an upload's SHA-256 was verified against the declared one",
		map[string]any{"asset": "ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1048576}},
	{"asset.ready", "an asset is verified and probed: downloadable and usable as a job input (at complete, or later for large uploads)",
		map[string]any{"asset": "ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1048576, "content_type": "video/mp4"}},
	{"asset.rejected", "an upload was rejected (bytes differ from the declaration, or a refused media format such as a playlist); its object is deleted",
		map[string]any{"asset": "ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "reason": "the file is a hls playlist or reference list (it names other files or URLs); only self-contained media is accepted (detected format: hls)"}},
	{"asset.aborted", "a pending upload was aborted (POST …/abort) and its asset deleted",
		map[string]any{"asset": "ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "status": "pending"}},
	{"asset.deleted", "an asset was deleted",
		map[string]any{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
	{"job.queued", "a job was accepted", jobExample("queued", "submitted")},
	{"job.started", "a job's inputs were probed and it is encoding", jobExample("running", "started")},
	{"job.completed", "a job's outputs were verified and registered", jobExample("completed", "verified")},
	{"job.failed", "a job failed; reason is verification_failed, worker_failed, input_failed, no_provider or stalled",
		jobExample("failed", "worker_failed")},
	{"job.canceled", "a member canceled a job", jobExample("canceled", "canceled")},
	{"release.published", "a release was published with its signed manifest",
		map[string]any{"manifest_sha256": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "shots": 3, "ledger_head": 42}},
	{"member.invited", "an admin invited an address to the workspace",
		map[string]any{"invitation": "inv_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "email": "ana@example.com", "role": "editor", "expires_at": "2026-12-07T00:00:00Z"}},
	{"member.joined", "an invitee accepted and joined",
		map[string]any{"user": "usr_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "role": "editor", "invitation": "inv_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "invited_by": "usr_0190f3c2a1b24c3d8e9f0a1b2c3d4e5e"}},
	{"member.removed", "a member was removed", map[string]any{"user": "usr_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "role": "editor"}},
	{"workspace.deletion_requested", "an owner scheduled the workspace's deletion; it is purged after purge_after",
		map[string]any{"purge_after": "2026-12-30T00:00:00Z"}},
	{"workspace.deletion_canceled", "an owner canceled the scheduled deletion", map[string]any{}},
	{"webhook.test", "sent to one endpoint by POST …/webhooks/{hook}/test",
		map[string]any{"endpoint": "whk_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "message": "a test event from Framebroker"}},
}

func jobExample(status, reason string) map[string]any {
	return map[string]any{"job": "job_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f", "status": status, "reason": reason,
		"preset": "mp4-h264-720p", "inputs": []string{"ast_0190f3c2a1b24c3d8e9f0a1b2c3d4e5f"}, "attempt": 1}
}

// Known reports whether name is in the catalogue.
func Known(name string) bool {
	for _, t := range Catalogue {
		if t.Name == name {
			return true
		}
	}
	return false
}

// Names are the catalogue's event names, in order.
func Names() []string {
	out := make([]string, len(Catalogue))
	for i, t := range Catalogue {
		out[i] = t.Name
	}
	return out
}

// Publish records event typ about subject in ws's ledger and enqueues it
// for ws's webhook endpoints, in tx. typ must be in the catalogue.
func Publish(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, actor, typ, subject string, payload any) error {
	if !Known(typ) {
		return fmt.Errorf("event: %q is not in the catalogue", typ)
	}
	if _, err := ledger.Append(ctx, tx, ws, actor, typ, subject, payload); err != nil {
		return err
	}
	_, err := webhook.Enqueue(ctx, tx, ws, typ, payload)
	return err
}

// Record is Publish for a guarded request: in its transaction, as its
// caller.
func Record(ctx context.Context, a *guard.Access, typ, subject string, payload any) error {
	if err := Publish(ctx, a.Tx, a.Workspace, a.Principal.User.String(), typ, subject, payload); err != nil {
		return problem.Wrap("event.Record", problem.Internal, err)
	}
	return nil
}
