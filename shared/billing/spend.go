package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
)

// Reservation is the outcome of Reserve.
type Reservation struct {
	OK bool
	// Window ("hour", "day" or "month") refused the reservation and resets
	// at ResetsAt; when several refuse, the one that resets last. It is
	// WindowCredits (ResetsAt zero) when a credits-only workspace's balance
	// cannot cover its open reservations plus this one.
	Window   string
	ResetsAt time.Time
	// Alerts are the windows whose use crossed 80 % or 100 % of the
	// ceiling with this reservation, as "day:80", "month:100"…
	Alerts []string
}

// WindowCredits is Reservation.Window when the credit balance refused it.
const WindowCredits = "credits"

// Reserve reserves amount for job j against ws's hour, day and month
// windows containing at (nil: the database clock), in tx (scoped to ws).
// c are the plan's ceilings; ws's own ceilings (billing_accounts, as set by
// SetCeilings) override them, read after the windows are locked so a
// committed change is always enforced. It admits the job only if spent +
// reserved + amount <= ceiling on every window and, when creditsOnly (no
// verified card), only if ws's credit balance >= its open reservations +
// amount. Concurrent reservations serialise on the window rows (locked in
// one order) and on a per-workspace lock for the credit check, so none can
// overspend a window or the balance.
func Reserve(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, j id.JobID, amount Micros, c Ceilings, at *time.Time, creditsOnly bool) (Reservation, error) {
	var r Reservation
	var window *string
	var resets *time.Time
	err := tx.QueryRow(ctx, `SELECT ok, refused_window, resets_at, alerts FROM spend_reserve($1, $2, $3, $4, $5, $6)`,
		ws, j, amount, []int64{c.Day, c.Hour, c.Month}, at, creditsOnly).Scan(&r.OK, &window, &resets, &r.Alerts)
	if err != nil {
		return r, fmt.Errorf("billing: reserve: %w", err)
	}
	if window != nil {
		r.Window = *window
	}
	if resets != nil {
		r.ResetsAt = *resets
	}
	return r, nil
}

// Finish ends job j's reservation: settled at charge (capped at what was
// reserved: a job never costs more than its estimate), or released when
// charge is nil. It returns what was charged; ok is false when there was no
// open reservation (already finished, or never reserved), which makes it
// safe to call twice.
func Finish(ctx context.Context, tx pgx.Tx, j id.JobID, charge *Micros) (charged Micros, ok bool, err error) {
	var c *int64
	if err := tx.QueryRow(ctx, `SELECT charged FROM spend_finish($1, $2)`, j, charge).Scan(&c); err != nil {
		return 0, false, fmt.Errorf("billing: finish: %w", err)
	}
	if c == nil {
		return 0, false, nil
	}
	return *c, true, nil
}

// Window is one spend window's state.
type Window struct {
	Kind     string    `json:"kind"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Ceiling  Micros    `json:"ceiling_micros"`
	Spent    Micros    `json:"spent_micros"`
	Reserved Micros    `json:"reserved_micros"`
}

// Windows reads ws's current windows (by the database clock) in tx.
func Windows(ctx context.Context, q db.Querier, ws id.WorkspaceID) ([]Window, error) {
	rows, err := q.Query(ctx, `SELECT kind, starts_at, ends_at, ceiling, spent, reserved FROM spend_windows
		WHERE workspace_id = $1 AND starts_at <= now() AND ends_at > now() ORDER BY ends_at`, ws)
	if err != nil {
		return nil, fmt.Errorf("billing: windows: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Window, error) {
		var w Window
		err := r.Scan(&w.Kind, &w.StartsAt, &w.EndsAt, &w.Ceiling, &w.Spent, &w.Reserved)
		return w, err
	})
}

// FormatUSD renders Micros as dollars, e.g. "$12.345".
func FormatUSD(m Micros) string {
	neg := m < 0
	if neg {
		m = -m
	}
	s := fmt.Sprintf("%d.%06d", m/USD, m%USD)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "00"
	} else if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += "0"
	}
	if neg {
		return "-$" + s
	}
	return "$" + s
}
