package privacy

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/problem"
)

// requestDeletion schedules the workspace's deletion (202). Asking again
// answers the existing schedule; the grace period does not restart.
func (s *Service) requestDeletion(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "privacy.RequestDeletion"
	st, err := load(r, a.Tx, true, a)
	if err != nil {
		return err
	}
	if st.Deletion == nil {
		grace := min(max(s.Grace, 0), MaxGrace)
		now := s.now()
		st.Deletion = &Deletion{RequestedAt: now, PurgeAfter: now.Add(grace)}
		if _, err := a.Tx.Exec(r.Context(), `UPDATE workspaces SET deletion_requested_at = $2, purge_after = $3 WHERE id = $1`,
			a.Workspace, st.Deletion.RequestedAt, st.Deletion.PurgeAfter); err != nil {
			return problem.Wrap(op, problem.Internal, err)
		}
		if err := ledger.Record(r.Context(), a, "workspace.deletion_requested", a.Workspace.String(),
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
	st, err := load(r, a.Tx, true, a)
	if err != nil {
		return err
	}
	switch {
	case st.Deletion == nil:
		return problem.E(op, problem.Conflict, "no deletion is scheduled for this workspace")
	case !s.now().Before(st.Deletion.PurgeAfter):
		return problem.E(op, problem.Conflict, "the grace period is over and the purge may have begun; the deletion can no longer be cancelled")
	}
	if _, err := a.Tx.Exec(r.Context(), `UPDATE workspaces SET deletion_requested_at = NULL, purge_after = NULL WHERE id = $1`, a.Workspace); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := ledger.Record(r.Context(), a, "workspace.deletion_canceled", a.Workspace.String(),
		map[string]any{"requested_at": st.Deletion.RequestedAt}); err != nil {
		return err
	}
	st.Deletion = nil
	httpx.JSON(w, http.StatusOK, st)
	return nil
}
