package billing

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// summary answers the workspace's plan, card state, credit balance,
// ceilings and current spend windows.
func (s *Service) summary(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
	const op = "billing.Summary"
	acct, err := s.loadAccount(r.Context(), a.Tx, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	wins, err := Windows(r.Context(), a.Tx, a.Workspace)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if wins == nil {
		wins = []Window{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"plan":           s.plan(acct.Plan).Name,
		"card_verified":  acct.CardVerified,
		"credits_micros": acct.Credits,
		"ceilings_micros": map[string]Micros{
			"hour": acct.Ceilings.Hour, "day": acct.Ceilings.Day, "month": acct.Ceilings.Month,
		},
		"windows":                 wins,
		"price_micros_per_minute": PricePerMinute,
	})
	return nil
}
