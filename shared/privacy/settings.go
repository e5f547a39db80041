package privacy

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// Retention is a workspace's retention class for ledger events and job
// trails.
type Retention string

// The retention classes.
const (
	Standard  Retention = "standard"  // 90 days
	Broadcast Retention = "broadcast" // 7 years
)

// Valid reports whether r is a known class.
func (r Retention) Valid() bool { return r == Standard || r == Broadcast }

// Cutoff is the oldest time still kept at now: events before it are trimmed.
func (r Retention) Cutoff(now time.Time) time.Time {
	if r == Broadcast {
		return now.AddDate(-7, 0, 0)
	}
	return now.AddDate(0, 0, -90)
}

// Settings are a workspace's privacy settings.
type Settings struct {
	// TrainingOptIn allows capturing the workspace's media for model
	// training. Off by default; revocable at any time.
	TrainingOptIn bool      `json:"training_opt_in"`
	Retention     Retention `json:"retention"`
	// UpdatedAt is the last settings change (null: never changed).
	UpdatedAt *time.Time `json:"updated_at"`
	// Deletion is set while the workspace is scheduled for deletion.
	Deletion *Deletion `json:"deletion"`
}

// Deletion is a scheduled workspace deletion.
type Deletion struct {
	RequestedAt time.Time `json:"requested_at"`
	// PurgeAfter is when the purge may run; until then the owner can cancel.
	PurgeAfter time.Time `json:"purge_after"`
}

// settingsInput is the PUT body. An omitted field keeps its value, so a
// client that knows only some settings cannot reset the others. Unknown
// fields are refused (strict decoding). Spend ceilings (issue 8) are not
// settings of this package yet: the money service adds its own fields or
// route when it lands.
type settingsInput struct {
	TrainingOptIn *bool      `json:"training_opt_in"`
	Retention     *Retention `json:"retention"`
}

func load(r *http.Request, tx pgx.Tx, forUpdate bool, a *guard.Access) (Settings, error) {
	q := `SELECT training_opt_in, retention, settings_updated_at, deletion_requested_at, purge_after FROM workspaces WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var st Settings
	var req, after *time.Time
	err := tx.QueryRow(r.Context(), q, a.Workspace).Scan(&st.TrainingOptIn, &st.Retention, &st.UpdatedAt, &req, &after)
	if err != nil {
		return st, problem.Wrap("privacy.load", problem.Internal, err)
	}
	if req != nil && after != nil {
		st.Deletion = &Deletion{RequestedAt: req.UTC(), PurgeAfter: after.UTC()}
	}
	return st, nil
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	st, err := load(r, a.Tx, false, a)
	if err != nil {
		return err
	}
	httpx.JSON(w, http.StatusOK, st)
	return nil
}

// change is one field's before and after, as recorded in the ledger.
type change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "privacy.PutSettings"
	var in settingsInput
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	if in.Retention != nil && !in.Retention.Valid() {
		return problem.Field(op, "retention", `one of "standard" (90 days) or "broadcast" (7 years)`)
	}
	st, err := load(r, a.Tx, true, a)
	if err != nil {
		return err
	}
	changes := map[string]change{}
	if in.TrainingOptIn != nil && *in.TrainingOptIn != st.TrainingOptIn {
		changes["training_opt_in"] = change{st.TrainingOptIn, *in.TrainingOptIn}
		st.TrainingOptIn = *in.TrainingOptIn
	}
	if in.Retention != nil && *in.Retention != st.Retention {
		changes["retention"] = change{st.Retention, *in.Retention}
		st.Retention = *in.Retention
	}
	if len(changes) > 0 {
		now := s.now()
		st.UpdatedAt = &now
		if _, err := a.Tx.Exec(r.Context(), `UPDATE workspaces SET training_opt_in = $2, retention = $3, settings_updated_at = $4 WHERE id = $1`,
			a.Workspace, st.TrainingOptIn, st.Retention, now); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		if err := ledger.Record(r.Context(), a, "workspace.settings_changed", a.Workspace.String(), map[string]any{"changes": changes}); err != nil {
			return err
		}
	}
	httpx.JSON(w, http.StatusOK, st)
	return nil
}
