package tenancy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// OwnerEmails are the email addresses of ws's owners, in order: whom
// billing alerts and webhook breaker notices go to. q is scoped to ws.
func OwnerEmails(ctx context.Context, q db.Querier, ws id.WorkspaceID) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT u.email FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND m.role = 'owner' ORDER BY u.email`, ws)
	if err != nil {
		return nil, fmt.Errorf("tenancy: owners: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
