package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// maxUSDDigits bounds the whole-dollar digits of a ceiling (under 1e9 USD,
// far inside int64 micros).
const maxUSDDigits = 9

// ParseUSD parses a non-negative US dollar amount written as a decimal
// string with at most two decimals ("50", "12.5", "0.99"), as Micros.
func ParseUSD(s string) (Micros, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > maxUSDDigits || (hasFrac && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("billing: %q is not a dollar amount like \"50\" or \"12.50\"", s)
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("billing: %q is not a dollar amount like \"50\" or \"12.50\"", s)
			}
		}
	}
	d, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("billing: %q: %w", s, err)
	}
	cents := int64(0)
	if frac != "" {
		frac += strings.Repeat("0", 2-len(frac))
		if cents, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, fmt.Errorf("billing: %q: %w", s, err)
		}
	}
	return d*USD + cents*(USD/100), nil
}

// DecimalUSD renders m as a decimal dollar string with at least two
// decimals and at most six ("50.00", "0.012345"): the inverse of ParseUSD
// for whole cents.
func DecimalUSD(m Micros) string {
	return strings.TrimPrefix(FormatUSD(m), "$")
}

// Ceilings returns ws's spend ceilings in force (its own, else its plan's).
// tx must be scoped to ws.
func (s *Service) Ceilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (Ceilings, error) {
	acct, err := s.loadAccount(ctx, tx, ws)
	return acct.Ceilings, err
}

// SetCeilingsUSD parses and validates ws's new spend ceilings (decimal
// dollar strings, see ParseUSD) and stores them with SetCeilings. Invalid
// values are field problems named spend_ceilings.hourly, .daily, .monthly.
func (s *Service) SetCeilingsUSD(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, hourly, daily, monthly string) (Ceilings, error) {
	const op = "billing.SetCeilings"
	var c Ceilings
	for _, f := range []struct {
		name string
		in   string
		dst  *Micros
	}{{"hourly", hourly, &c.Hour}, {"daily", daily, &c.Day}, {"monthly", monthly, &c.Month}} {
		v, err := ParseUSD(f.in)
		if err != nil {
			return c, problem.Field(op, "spend_ceilings."+f.name, `a non-negative US dollar amount as a decimal string with at most two decimals, e.g. "50" or "12.50"`)
		}
		*f.dst = v
	}
	return c, s.SetCeilings(ctx, tx, ws, c)
}

// SetCeilings stores ws's own spend ceilings, keeping its plan: each must
// be non-negative, hourly <= daily <= monthly, and none above its plan's
// maximum (Plan.Max) when the plan has one. The open windows take the new
// ceilings at once (never below what they already hold: a lowered ceiling
// refuses the next reservation). tx must be scoped to ws.
func (s *Service) SetCeilings(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, c Ceilings) error {
	const op = "billing.SetCeilings"
	acct, err := s.loadAccount(ctx, tx, ws)
	if err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	switch {
	case c.Hour < 0 || c.Day < 0 || c.Month < 0:
		return problem.Field(op, "spend_ceilings", "ceilings cannot be negative")
	case c.Hour > c.Day:
		return problem.Field(op, "spend_ceilings.hourly", "the hourly ceiling cannot exceed the daily ceiling")
	case c.Day > c.Month:
		return problem.Field(op, "spend_ceilings.daily", "the daily ceiling cannot exceed the monthly ceiling")
	}
	if m := s.plan(acct.Plan).Max; m != nil {
		for _, f := range []struct {
			name     string
			v, limit Micros
		}{{"hourly", c.Hour, m.Hour}, {"daily", c.Day, m.Day}, {"monthly", c.Month, m.Month}} {
			if f.v > f.limit {
				return problem.Field(op, "spend_ceilings."+f.name,
					fmt.Sprintf("the %s plan allows a %s ceiling of at most %s", s.plan(acct.Plan).Name, f.name, FormatUSD(f.limit)))
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO billing_accounts (workspace_id, plan, hourly_ceiling, daily_ceiling, monthly_ceiling)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id) DO UPDATE
		SET hourly_ceiling = $3, daily_ceiling = $4, monthly_ceiling = $5, updated_at = now()`,
		ws, acct.Plan, c.Hour, c.Day, c.Month); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	// Lock the open windows in spend_reserve's order (kind first), then
	// bring them to the new ceilings.
	if _, err := tx.Exec(ctx, `WITH locked AS (
			SELECT kind, starts_at FROM spend_windows WHERE workspace_id = $1 AND ends_at > now()
			ORDER BY kind, starts_at FOR UPDATE)
		UPDATE spend_windows sw SET ceiling = greatest(CASE sw.kind WHEN 'hour' THEN $2::bigint WHEN 'day' THEN $3::bigint ELSE $4::bigint END, sw.spent + sw.reserved)
		FROM locked l WHERE sw.workspace_id = $1 AND sw.kind = l.kind AND sw.starts_at = l.starts_at`,
		ws, c.Hour, c.Day, c.Month); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}

// RollWindows deletes, across every workspace, the spend windows whose
// month ended more than 31 days ago and that hold no open reservation (the
// spend-window roll of the daily retention cron), and returns how many.
func (s *Service) RollWindows(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT spend_windows_roll()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("billing: roll spend windows: %w", err)
	}
	return n, nil
}
