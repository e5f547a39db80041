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
	"github.com/framebroker/framebroker/shared/tenancy"
)

// alert queues the mail telling ws's owners that a window crossed a
// threshold ("day:80"), in tx: the transaction that reserved (and rolls
// the mail back with it) or the one that records a refusal.
func (s *Service) alert(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, al string) error {
	kind, pct, _ := strings.Cut(al, ":")
	to, err := tenancy.OwnerEmails(ctx, tx, ws)
	if err != nil || len(to) == 0 {
		return err
	}
	subject := fmt.Sprintf("Framebroker: %s%% of your %s spend ceiling used", pct, windowNames[kind])
	text := fmt.Sprintf("Workspace %s has used %s%% of its %s spend ceiling.\n", ws, pct, windowNames[kind])
	if pct == "100" {
		text += "Further paid jobs are refused until the window resets.\n"
	}
	text += "\nSee " + s.publicURL + "/workspaces/" + ws.String() + "/billing\n"
	return s.mail.Enqueue(ctx, tx, mail.Message{To: to, Subject: subject, Text: text})
}

// alertRefused records, in its own transaction (the refused submission's
// has rolled back when it runs), that a window hit its ceiling, and queues
// the owners' mail once per window: the flag and the mail commit together.
func (s *Service) alertRefused(ctx context.Context, ws id.WorkspaceID, res Reservation) error {
	err := db.InWorkspace(ctx, s.pool, ws.UUID().String(), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE spend_windows SET alerted = 100
			WHERE workspace_id = $1 AND kind = $2 AND ends_at = $3 AND alerted < 100`, ws, res.Window, res.ResetsAt)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return s.alert(ctx, tx, ws, res.Window+":100")
	})
	if err != nil {
		slog.ErrorContext(ctx, "billing: spend alert", "workspace", ws.String(), "err", err.Error())
	}
	return nil
}
