package billing

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/problem"
)

// summary answers the workspace's plan, card state, credit balance,
// ceilings and current spend windows.
// summaryReply is a workspace's billing state.
type summaryReply struct {
	Plan           string            `json:"plan"`
	CardVerified   bool              `json:"card_verified"`
	CreditsMicros  Micros            `json:"credits_micros"`
	CeilingsMicros map[string]Micros `json:"ceilings_micros"`
	Windows        []Window          `json:"windows"`
	PricePerMinute map[string]Micros `json:"price_micros_per_minute"`
}

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
	httpx.JSON(w, http.StatusOK, summaryReply{
		Plan: s.plan(acct.Plan).Name, CardVerified: acct.CardVerified, CreditsMicros: acct.Credits,
		CeilingsMicros: map[string]Micros{"hour": acct.Ceilings.Hour, "day": acct.Ceilings.Day, "month": acct.Ceilings.Month},
		Windows:        wins, PricePerMinute: PricePerMinute,
	})
	return nil
}
