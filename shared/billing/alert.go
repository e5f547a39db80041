package billing

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/mail"
)

// alert mails ws's owners that a window crossed a threshold ("day:80").
// Mail failures are logged, never fatal to the submission.
func (s *Service) alert(ctx context.Context, q pgx.Tx, ws id.WorkspaceID, al string) {
	kind, pct, _ := strings.Cut(al, ":")
	to, err := owners(ctx, q, ws)
	if err != nil || len(to) == 0 {
		if err != nil {
			slog.ErrorContext(ctx, "billing: spend alert: owners", "err", err.Error())
		}
		return
	}
	subject := fmt.Sprintf("Framebroker: %s%% of your %s spend ceiling used", pct, windowNames[kind])
	text := fmt.Sprintf("Workspace %s has used %s%% of its %s spend ceiling.\n", ws, pct, windowNames[kind])
	if pct == "100" {
		text += "Further paid jobs are refused until the window resets.\n"
	}
	text += "\nSee " + s.publicURL + "/workspaces/" + ws.String() + "/billing\n"
	if err := s.mail.Send(ctx, mail.Message{To: to, Subject: subject, Text: text}); err != nil {
		slog.ErrorContext(ctx, "billing: spend alert not sent", "workspace", ws.String(), "err", err.Error())
	}
}

// alertRefused records (in its own transaction, as the refused submission
// rolls back) that a window hit its ceiling and mails the owners once per
// window.
func (s *Service) alertRefused(ctx context.Context, ws id.WorkspaceID, res Reservation) {
	err := db.InWorkspace(ctx, s.pool, ws.UUID().String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE spend_windows SET alerted = 100
			WHERE workspace_id = $1 AND kind = $2 AND ends_at = $3 AND alerted < 100`, ws, res.Window, res.ResetsAt)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		s.alert(ctx, tx, ws, res.Window+":100")
		return nil
	})
	if err != nil {
		slog.ErrorContext(ctx, "billing: spend alert", "workspace", ws.String(), "err", err.Error())
	}
}

// owners are the email addresses of ws's owners.
func owners(ctx context.Context, q pgx.Tx, ws id.WorkspaceID) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND m.role = 'owner' ORDER BY u.email`, ws)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
