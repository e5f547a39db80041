// Package privacy is what Framebroker keeps about a workspace and for how
// long (T-12):
//
//   - settings: training capture opt-in (off by default, revocable) and the
//     retention class of ledger events and job trails (standard: 90 days;
//     broadcast: 7 years), GET/PUT /v1/workspaces/{ws}/settings;
//   - the right to delete: DELETE /v1/workspaces/{ws} (owner) schedules the
//     deletion after a grace period (config DeletionGrace, ≤ 30 days), during
//     which the workspace is read-only (the guard refuses every mutating
//     route with 409) and the owner may cancel; the workspace-purge cron then
//     deletes every object under ws/<id>/ and every row of the workspace and
//     leaves a tombstone without personal data;
//   - the retention cron: job trail events and ledger events older than the
//     workspace's window are trimmed (the ledger through a signed
//     checkpoint, so it still verifies).
//
// Settings changes and deletion requests are recorded in the ledger.
package privacy

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// Function is the Lambda that serves the privacy routes: the workspace
// function, which serves the rest of /v1/workspaces/{ws}.
const Function = "workspaces"

// MaxGrace bounds the deletion grace period (T-12: purged within 30 days).
const MaxGrace = 30 * 24 * time.Hour

// Service serves the privacy routes and runs the purge and retention crons.
type Service struct {
	Pool *pgxpool.Pool
	// Store holds the workspace's objects, all under Prefix(ws).
	Store blob.Store
	// Keys sign the ledger checkpoint retention trims through.
	Keys keyring.Provider
	// Ceilings owns the spend ceilings the settings route shows and
	// changes (the billing service); nil leaves them out of settings.
	Ceilings CeilingStore
	// Grace is the time between a deletion request and the purge.
	Grace time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// now is the clock at Postgres precision, so a stored time reads back equal.
func (s *Service) now() time.Time {
	t := time.Now()
	if s.Now != nil {
		t = s.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Prefix is the folder of every object of ws in the bucket (assets are
// ws/<id>/assets/…, job outputs ws/<id>/jobs/…).
func Prefix(ws id.WorkspaceID) string { return "ws/" + ws.String() + "/" }

// Routes are the privacy routes.
func (s *Service) Routes() []guard.Route {
	rs := []guard.Route{
		{Method: "GET", Pattern: "/v1/workspaces/{ws}/settings", Policy: guard.Member(guard.Viewer), Handler: s.getSettings,
			Summary: "Training opt-in, retention, spend ceilings, deletion state", Reply: Settings{}},
		{Method: "PUT", Pattern: "/v1/workspaces/{ws}/settings", Policy: guard.Member(guard.Admin), Handler: s.putSettings,
			Example: `{"training_opt_in":false,"retention":"standard","spend_ceilings":{"hourly":"50.00","daily":"200.00","monthly":"2000.00"}}`,
			Summary: "Change settings; absent fields stay", Request: settingsInput{}, Reply: Settings{}},
		{Method: "DELETE", Pattern: "/v1/workspaces/{ws}", Policy: guard.Member(guard.Owner), Handler: s.requestDeletion, DuringDeletion: true,
			Summary: "Schedule the workspace's deletion (purged after the grace period)", Reply: Deletion{}, Status: http.StatusAccepted},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/deletion/cancel", Policy: guard.Member(guard.Owner), Handler: s.cancelDeletion, DuringDeletion: true,
			Summary: "Cancel a scheduled deletion", Reply: Settings{}},
	}
	for i := range rs {
		rs[i].Function = Function
	}
	return rs
}
