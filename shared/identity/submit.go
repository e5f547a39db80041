package identity

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/job"
)

// SubmitHook is the job submission check (job.Hook): paid work needs the
// caller's verified email (T-03). Wired before billing's, so nothing is
// reserved or queued for a caller who is refused.
func SubmitHook(ctx context.Context, tx pgx.Tx, a *guard.Access, _ job.Job) error {
	return RequireVerifiedEmail(ctx, tx, a.Principal.User)
}
