package privacy

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/id"
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
	// SpendCeilings are the workspace's spend ceilings in force (its own
	// or its plan's); omitted when no ceiling owner is wired.
	SpendCeilings *SpendCeilings `json:"spend_ceilings,omitempty"`
	// Deletion is set while the workspace is scheduled for deletion.
	Deletion *Deletion `json:"deletion"`
}

// SpendCeilings are a workspace's hourly, daily and monthly spend ceilings
// in US dollars as decimal strings ("50.00").
type SpendCeilings struct {
	Hourly  string `json:"hourly"`
	Daily   string `json:"daily"`
	Monthly string `json:"monthly"`
}

// CeilingStore is the owner of the spend ceilings (the billing service,
// wired in shared/app): the settings route reads and changes them only
// through it. Both calls run in the route's transaction, scoped to ws.
type CeilingStore interface {
	// SpendCeilings returns ws's ceilings in force.
	SpendCeilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (SpendCeilings, error)
	// SetSpendCeilings validates and stores ws's ceilings and returns them
	// as stored (normalised); invalid values are field problems.
	SetSpendCeilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, c SpendCeilings) (SpendCeilings, error)
}

// Deletion is a scheduled workspace deletion.
type Deletion struct {
	RequestedAt time.Time `json:"requested_at"`
	// PurgeAfter is when the purge may run; until then the owner can cancel.
	PurgeAfter time.Time `json:"purge_after"`
}

// settingsInput is the PUT body. An omitted field keeps its value, so a
// client that knows only some settings cannot reset the others. Unknown
// fields are refused (strict decoding). Spend ceilings are stored by the
// CeilingStore; an omitted window keeps its ceiling.
type settingsInput struct {
	TrainingOptIn *bool               `json:"training_opt_in"`
	Retention     *Retention          `json:"retention"`
	SpendCeilings *spendCeilingsInput `json:"spend_ceilings"`
}

// spendCeilingsInput is the PUT body's spend_ceilings (omitted: unchanged).
type spendCeilingsInput struct {
	Hourly  *string `json:"hourly"`
	Daily   *string `json:"daily"`
	Monthly *string `json:"monthly"`
}

func (s *Service) load(r *http.Request, tx pgx.Tx, forUpdate bool, a *guard.Access) (Settings, error) {
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
	if s.Ceilings != nil {
		c, err := s.Ceilings.SpendCeilings(r.Context(), tx, a.Workspace)
		if err != nil {
			return st, problem.Wrap("privacy.load", problem.Internal, err)
		}
		st.SpendCeilings = &c
	}
	return st, nil
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	st, err := s.load(r, a.Tx, false, a)
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
	if in.SpendCeilings != nil && s.Ceilings == nil {
		return problem.Field(op, "spend_ceilings", "spend ceilings are not available here")
	}
	st, err := s.load(r, a.Tx, true, a)
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
	if in.SpendCeilings != nil {
		want := *st.SpendCeilings
		for _, f := range []struct{ in, dst *string }{
			{in.SpendCeilings.Hourly, &want.Hourly}, {in.SpendCeilings.Daily, &want.Daily}, {in.SpendCeilings.Monthly, &want.Monthly},
		} {
			if f.in != nil {
				*f.dst = *f.in
			}
		}
		got, err := s.Ceilings.SetSpendCeilings(r.Context(), a.Tx, a.Workspace, want)
		if err != nil {
			return err
		}
		if got != *st.SpendCeilings {
			changes["spend_ceilings"] = change{*st.SpendCeilings, got}
			st.SpendCeilings = &got
		}
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
