package privacy

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// requestDeletion schedules the workspace's deletion (202). Asking again
// answers the existing schedule; the grace period does not restart.
func (s *Service) requestDeletion(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "privacy.RequestDeletion"
	st, err := s.load(r, a.Tx, true, a)
	if err != nil {
		return err
	}
	if st.Deletion == nil {
		// By the database clock, which the purge compares against too.
		grace := min(max(s.Grace, 0), MaxGrace)
		st.Deletion = &Deletion{}
		if err := a.Tx.QueryRow(r.Context(), `UPDATE workspaces SET deletion_requested_at = now(), purge_after = now() + $2::interval
			WHERE id = $1 RETURNING deletion_requested_at, purge_after`, a.Workspace, grace).
			Scan(&st.Deletion.RequestedAt, &st.Deletion.PurgeAfter); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		st.Deletion.RequestedAt, st.Deletion.PurgeAfter = st.Deletion.RequestedAt.UTC(), st.Deletion.PurgeAfter.UTC()
		if err := event.Record(r.Context(), a, "workspace.deletion_requested", a.Workspace.String(),
			map[string]any{"purge_after": st.Deletion.PurgeAfter}); err != nil {
			return err
		}
	}
	httpx.JSON(w, http.StatusAccepted, st.Deletion)
	return nil
}

// cancelDeletion lifts a scheduled deletion while its grace period runs.
// Once the grace period is over the purge may be under way (objects are
// deleted before rows), so it can no longer be cancelled.
func (s *Service) cancelDeletion(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "privacy.CancelDeletion"
	st, err := s.load(r, a.Tx, true, a)
	if err != nil {
		return err
	}
	if st.Deletion == nil {
		return problem.E(op, problem.Conflict, "no deletion is scheduled for this workspace")
	}
	tag, err := a.Tx.Exec(r.Context(), `UPDATE workspaces SET deletion_requested_at = NULL, purge_after = NULL WHERE id = $1 AND purge_after > now()`, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if tag.RowsAffected() == 0 {
		return problem.E(op, problem.Conflict, "the grace period is over and the purge may have begun; the deletion can no longer be cancelled")
	}
	if err := event.Record(r.Context(), a, "workspace.deletion_canceled", a.Workspace.String(),
		map[string]any{"requested_at": st.Deletion.RequestedAt}); err != nil {
		return err
	}
	st.Deletion = nil
	httpx.JSON(w, http.StatusOK, st)
	return nil
}
