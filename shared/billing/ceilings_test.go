package billing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

func TestParseUSD(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want billing.Micros
		ok   bool
	}{
		{"0", 0, true},
		{"50", 50 * billing.USD, true},
		{"12.5", 12_500_000, true},
		{"12.50", 12_500_000, true},
		{"0.01", 10_000, true},
		{"999999999.99", 999_999_999_990_000, true},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1.234", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{"1000000000", 0, false},
		{"1,5", 0, false},
		{"NaN", 0, false},
	} {
		got, err := billing.ParseUSD(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseUSD: whatever parses is non-negative, whole cents, and renders
// back (DecimalUSD) to a string that parses to the same amount.
func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0", "50", "12.5", "0.01", "999999999.99", "-1", "1.234", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := billing.ParseUSD(s)
		if err != nil {
			return
		}
		if v < 0 || v%(billing.USD/100) != 0 {
			t.Fatalf("%q parsed to %d", s, v)
		}
		back, err := billing.ParseUSD(billing.DecimalUSD(v))
		if err != nil || back != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, billing.DecimalUSD(v), back, err)
		}
	})
}

// settingsEvents are ws's workspace.settings_changed ledger payloads.
func settingsEvents(t *testing.T, e *apptest.Env, ws id.WorkspaceID) []string {
	t.Helper()
	var out []string
	rows, err := e.DB.Owner.Query(context.Background(), `SELECT payload::text FROM ledger_events WHERE workspace_id = $1 AND type = 'workspace.settings_changed' ORDER BY seq`, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func ceilingsOf(t *testing.T, r apptest.Response) map[string]any {
	t.Helper()
	c, ok := r.JSON()["spend_ceilings"].(map[string]any)
	if !ok {
		t.Fatalf("no spend_ceilings in %s", r.Body)
	}
	return c
}

// TestSettingsSpendCeilings: GET settings shows the plan's ceilings as
// decimal dollar strings; only admins change them; negative, malformed,
// non-string, out-of-order and above-the-plan-maximum values are refused
// with 400 naming the field and change nothing; an omitted window keeps
// its ceiling; each real change is one settings_changed ledger event with
// before and after, a same-valued PUT ("10.5" for "10.50") records none;
// GET …/billing (billing owns the data) agrees.
func TestSettingsSpendCeilings(t *testing.T) {
	e := env(t)
	owner, _ := e.User("owner@example.com")
	editor, _ := e.User("editor@example.com")
	ws := e.Workspace(owner, "W")
	e.Join(owner, ws, editor, "editor@example.com", "editor")
	path := "/v1/workspaces/" + ws + "/settings"

	c := ceilingsOf(t, e.Must(200, "GET", path, editor, nil))
	if c["hourly"] != "50.00" || c["daily"] != "200.00" || c["monthly"] != "2000.00" {
		t.Fatalf("defaults: %v", c)
	}
	for _, tc := range []struct {
		token string
		body  string
		want  int
		field string
	}{
		{editor, `{"spend_ceilings":{"hourly":"10"}}`, 403, ""},
		{owner, `{"spend_ceilings":{"hourly":"-1"}}`, 400, "spend_ceilings.hourly"},
		{owner, `{"spend_ceilings":{"daily":"abc"}}`, 400, "spend_ceilings.daily"},
		{owner, `{"spend_ceilings":{"monthly":"1.234"}}`, 400, "spend_ceilings.monthly"},
		{owner, `{"spend_ceilings":{"hourly":10}}`, 400, ""},
		{owner, `{"spend_ceilings":{"weekly":"10"}}`, 400, ""},
		{owner, `{"spend_ceilings":{"hourly":"300"}}`, 400, "spend_ceilings.hourly"},                               // > daily 200
		{owner, `{"spend_ceilings":{"daily":"3000"}}`, 400, "spend_ceilings.daily"},                                // > monthly 2000
		{owner, `{"spend_ceilings":{"hourly":"501","daily":"600","monthly":"700"}}`, 400, "spend_ceilings.hourly"}, // > plan max 500
		{owner, `{"spend_ceilings":{"monthly":"20000.01"}}`, 400, "spend_ceilings.monthly"},                        // > plan max 20000
	} {
		r := e.Do("PUT", path, tc.token, json.RawMessage(tc.body))
		if r.Status != tc.want || (tc.field != "" && !strings.Contains(string(r.Body), tc.field)) {
			t.Errorf("PUT %s: %d, want %d naming %q: %s", tc.body, r.Status, tc.want, tc.field, r.Body)
		}
	}
	w := wsID(t, ws)
	if n := len(settingsEvents(t, e, w)); n != 0 {
		t.Fatalf("%d settings events after refused changes", n)
	}

	c = ceilingsOf(t, e.Must(200, "PUT", path, owner, json.RawMessage(`{"spend_ceilings":{"hourly":"10.5"}}`)))
	if c["hourly"] != "10.50" || c["daily"] != "200.00" || c["monthly"] != "2000.00" {
		t.Fatalf("after setting hourly: %v", c)
	}
	e.Must(200, "PUT", path, owner, json.RawMessage(`{"spend_ceilings":{"hourly":"10.50","daily":"200"}}`)) // same values
	evs := settingsEvents(t, e, w)
	if len(evs) != 1 || !strings.Contains(evs[0], `"spend_ceilings"`) || !strings.Contains(evs[0], `"50.00"`) || !strings.Contains(evs[0], `"10.50"`) {
		t.Fatalf("ledger events %q, want one spend_ceilings change 50.00 → 10.50", evs)
	}
	c = ceilingsOf(t, e.Must(200, "GET", path, editor, nil))
	if c["hourly"] != "10.50" {
		t.Fatalf("GET after change: %v", c)
	}
	b := e.Must(200, "GET", "/v1/workspaces/"+ws+"/billing", editor, nil).JSON()
	if got := b["ceilings_micros"].(map[string]any)["hour"]; got != float64(10_500_000) {
		t.Fatalf("billing shows hourly %v, want 10500000", got)
	}
}

// TestLoweredCeilingRefuses: a ceiling lowered through the settings route
// applies to the open window at once: the next submission is refused with
// 402 naming the hourly window even though the window was created under
// the old ceiling; a ceiling lowered below what is already reserved keeps
// refusing, and once the reservations are released the window holds the
// new ceiling exactly; raising it admits again.
func TestLoweredCeilingRefuses(t *testing.T) {
	f := newFixture(t, false)
	e, tok, ws, w, asset, price := f.e, f.tok, f.ws, f.w, f.asset, f.price
	settings := "/v1/workspaces/" + ws + "/settings"
	ceil := func(hourly string) {
		e.Must(200, "PUT", settings, tok, map[string]any{"spend_ceilings": map[string]string{"hourly": hourly}})
	}
	submit := func(want int) apptest.Response {
		t.Helper()
		r := e.Do("POST", "/v1/workspaces/"+ws+"/jobs", tok, map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"})
		if r.Status != want {
			t.Fatalf("submit: %d, want %d: %s", r.Status, want, r.Body)
		}
		return r
	}
	ceil("0.05")
	j1, j2 := submit(202).Str("id"), submit(202).Str("id")
	ceil("0.02")
	if h := current(t, e, w, "hour"); h.Ceiling != 2*price {
		t.Fatalf("open hour window ceiling %d, want %d", h.Ceiling, 2*price)
	}
	if r := submit(402); !strings.Contains(r.Str("detail"), "hourly spend ceiling") {
		t.Fatalf("402 does not name the hourly window: %s", r.Body)
	}
	ceil("0.01") // below the 0.02 already reserved
	if h := current(t, e, w, "hour"); h.Ceiling != 2*price || h.Reserved != 2*price {
		t.Fatalf("hour window ceiling %d reserved %d, want both %d", h.Ceiling, h.Reserved, 2*price)
	}
	submit(402)
	for _, j := range []string{j1, j2} {
		e.Must(200, "POST", "/v1/workspaces/"+ws+"/jobs/"+j+"/cancel", tok, nil)
	}
	submit(202) // exactly one fits under 0.01
	if h := current(t, e, w, "hour"); h.Ceiling != price || h.Reserved != price {
		t.Fatalf("after release: ceiling %d reserved %d, want %d and %d", h.Ceiling, h.Reserved, price, price)
	}
	submit(402)
	ceil("0.03")
	submit(202)
}

// TestSpendWindowRoll: the daily retention cron deletes spend windows whose
// month ended more than 31 days ago, except those an open (unfinished)
// reservation was taken in; last month's and this month's windows stay,
// and a second run deletes nothing.
func TestSpendWindowRoll(t *testing.T) {
	e := env(t)
	ctx := context.Background()
	tok, _ := e.User("owner@example.com")
	ws := e.Workspace(tok, "W")
	w := wsID(t, ws)
	asset := probedAsset(t, e, ws, 60)
	ins := func(kind, start string) {
		t.Helper()
		if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO spend_windows (workspace_id, kind, starts_at, ends_at, ceiling, spent)
			VALUES ($1, $2, $3::timestamptz, $3::timestamptz + ('1 ' || $2)::interval, 100, 10)`, w, kind, start); err != nil {
			t.Fatal(err)
		}
	}
	// Two old months: 2020-01 (one settled reservation), 2020-02 (one open).
	for _, m := range []string{"2020-01", "2020-02"} {
		ins("month", m+"-01T00:00:00Z")
		ins("day", m+"-03T00:00:00Z")
		ins("hour", m+"-03T05:00:00Z")
	}
	jobs := jobRows(t, e, w, asset, 2)
	for i, r := range []struct{ status, m string }{{"settled", "2020-01"}, {"reserved", "2020-02"}} {
		if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO spend_reservations (job_id, workspace_id, amount, status, hour_start, day_start, month_start)
			VALUES ($1, $2, 5, $3, $4::timestamptz + interval '2 days 5 hours', $4::timestamptz + interval '2 days', $4::timestamptz)`,
			jobs[i], w, r.status, r.m+"-01T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
	// Last month's and this month's windows.
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO spend_windows (workspace_id, kind, starts_at, ends_at, ceiling)
		SELECT $1, 'month', m, m + interval '1 month', 100
		FROM (VALUES (date_trunc('month', now(), 'UTC') - interval '1 month'), (date_trunc('month', now(), 'UTC'))) v(m)`, w); err != nil {
		t.Fatal(err)
	}
	run := func() map[string]any {
		t.Helper()
		r := post(t, http.DefaultClient, e.Server.URL+"/internal/cron/retention", "", nil, map[string]string{"X-Cron-Secret": e.Config.CronSecret})
		if r.Status != 200 {
			t.Fatalf("cron: %d %s", r.Status, r.Body)
		}
		return r.JSON()["summary"].(map[string]any)
	}
	if got := run()["spend_windows_deleted"]; got != float64(3) {
		t.Fatalf("first run deleted %v windows, want 3 (all of 2020-01)", got)
	}
	var starts []string
	for _, win := range windows(t, e, w) {
		starts = append(starts, win.Kind+"@"+win.StartsAt.UTC().Format("2006-01"))
	}
	if len(starts) != 5 || strings.Contains(strings.Join(starts, " "), "2020-01") {
		t.Fatalf("windows left %v, want the three of 2020-02 (open reservation) and the last two months", starts)
	}
	if got := run()["spend_windows_deleted"]; got != float64(0) {
		t.Fatalf("second run deleted %v windows, want 0", got)
	}
}

// addCredits appends an adjustment of amount to ws's credit ledger.
func addCredits(t *testing.T, e *apptest.Env, ws id.WorkspaceID, amount billing.Micros) {
	t.Helper()
	if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO credit_ledger (workspace_id, amount_micros, reason) VALUES ($1, $2, 'adjustment')`, ws, amount); err != nil {
		t.Fatal(err)
	}
}

func openReserved(t *testing.T, e *apptest.Env, ws id.WorkspaceID) billing.Micros {
	t.Helper()
	var n billing.Micros
	if err := e.DB.Owner.QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0)::bigint FROM spend_reservations WHERE workspace_id = $1 AND status = 'reserved'`, ws).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCreditsOnlyRace: a workspace without a verified card whose credits
// fit 10 jobs gets exactly 10 of 50 submissions released at once through
// the API (402 naming the credits for the rest), and never reserves past
// its balance. Then 50 reservations in 50 different months (so no window
// row is shared and only the credit lock serialises them) against a
// balance that fits 10 more admit exactly 10; with a verified card the
// credit balance no longer limits.
func TestCreditsOnlyRace(t *testing.T) {
	f := newFixture(t, true)
	e, tok, ws, w, asset, price := f.e, f.tok, f.ws, f.w, f.asset, f.price
	addCredits(t, e, w, 10*price+price/2)

	statuses := burst(t, e, tok, ws, asset, 50, func(r apptest.Response) {
		if r.Status == http.StatusPaymentRequired && (!strings.Contains(r.Str("detail"), "credits do not cover") || r.Str("type") != problem.CreditsInsufficient.Type()) {
			t.Errorf("402 not naming the credits: %s", r.Body)
		}
	})
	if statuses[202] != 10 || statuses[402] != 40 {
		t.Fatalf("statuses %v, want exactly 10×202 and 40×402", statuses)
	}
	if got := openReserved(t, e, w); got != 10*price {
		t.Fatalf("open reservations %d, want %d (balance %d)", got, 10*price, credits(t, e, ws))
	}

	addCredits(t, e, w, 10*price)
	c := billing.Ceilings{Hour: 1000 * price, Day: 1000 * price, Month: 1000 * price}
	ats := make([]time.Time, 50)
	for i := range ats {
		ats[i] = time.Date(2031, time.Month(1+i), 1, 12, 0, 0, 0, time.UTC) // 50 different months

	}
	jobs := jobRows(t, e, w, asset, 50)
	rs := race(t, e, w, jobs, ats, price, c, true)
	if got := admitted(rs); got != 10 {
		t.Fatalf("%d admitted in distinct months, want exactly 10", got)
	}
	for _, r := range rs {
		if !r.OK && r.Window != billing.WindowCredits {
			t.Fatalf("refused by %q, want %q", r.Window, billing.WindowCredits)
		}
	}
	if got, bal := openReserved(t, e, w), credits(t, e, ws); got > bal {
		t.Fatalf("open reservations %d exceed the balance %d", got, bal)
	}
	// A verified card lifts the credit limit (the ceilings still hold).
	inWS(t, e, w, func(tx pgx.Tx) error { return billing.MarkCardVerified(context.Background(), tx, w) })
	if r := e.Do("POST", "/v1/workspaces/"+ws+"/jobs", tok, map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"}); r.Status != 202 {
		t.Fatalf("with a card: %d %s", r.Status, r.Body)
	}
}
