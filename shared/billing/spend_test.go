package billing_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/billing"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/problem"
)

// jobRows records n queued jobs of ws directly (reservations reference
// jobs; nothing runs them).
func jobRows(t *testing.T, e *apptest.Env, ws id.WorkspaceID, asset string, n int) []id.JobID {
	t.Helper()
	var a id.AssetID
	if err := a.UnmarshalText([]byte(asset)); err != nil {
		t.Fatal(err)
	}
	out := make([]id.JobID, n)
	for i := range out {
		out[i] = id.New[id.JobID]()
		if _, err := e.DB.Owner.Exec(context.Background(), `INSERT INTO jobs (id, workspace_id, preset, inputs) VALUES ($1, $2, 'mp4-h264-720p', $3)`,
			out[i], ws, []id.AssetID{a}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// race releases one Reserve per (job, time) at once behind a barrier and
// returns the results.
func race(t *testing.T, e *apptest.Env, ws id.WorkspaceID, jobs []id.JobID, at []time.Time, amount billing.Micros, c billing.Ceilings, creditsOnly bool) []billing.Reservation {
	t.Helper()
	out := make([]billing.Reservation, len(jobs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			inWS(t, e, ws, func(tx pgx.Tx) error {
				var err error
				out[i], err = billing.Reserve(context.Background(), tx, ws, jobs[i], amount, c, &at[i], creditsOnly)
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// burst releases n submissions of asset to ws at once behind a barrier,
// passes each answer to check, and returns the count per status.
func burst(t *testing.T, e *apptest.Env, tok, ws, asset string, n int, check func(apptest.Response)) map[int]int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	url := e.Server.URL + "/v1/workspaces/" + ws + "/jobs"
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			r := post(t, client, url, tok, map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"}, nil)
			check(r)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

func admitted(rs []billing.Reservation) int {
	n := 0
	for _, r := range rs {
		if r.OK {
			n++
		}
	}
	return n
}

// TestReserveRaceExact: 50 reservations released at once against an
// hourly ceiling that fits 10 admit exactly 10; just after the hour the
// daily ceiling (15) admits exactly 5 more; the next day 10 again; and 50
// straddling an hour boundary (25 at 10:59:59.999, 25 at 11:00:00.000)
// admit exactly 15 (10 in one hour, 5 in the next). No window ever holds
// more than its ceiling, and refusals name the window that resets last.
func TestReserveRaceExact(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	const amount = 1000
	c := billing.Ceilings{Hour: 10 * amount, Day: 15 * amount, Month: 1000 * amount}
	at := func(s string, n int) []time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]time.Time, n)
		for i := range out {
			out[i] = ts
		}
		return out
	}
	ws := wsID(t, e.Workspace(tok, "W"))
	asset := probedAsset(t, e, ws.String(), 60)
	for _, tc := range []struct {
		name       string
		at         []time.Time
		want       int
		window     string
		resetsAt   string
		dayReached billing.Micros
	}{
		{"one hour", at("2030-01-01T10:59:59.5Z", 50), 10, "hour", "2030-01-01T11:00:00Z", 10 * amount},
		{"next hour, day binds", at("2030-01-01T11:00:00.5Z", 50), 5, "day", "2030-01-02T00:00:00Z", 15 * amount},
		{"next day", at("2030-01-02T00:00:00.5Z", 50), 10, "hour", "2030-01-02T01:00:00Z", 10 * amount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := race(t, e, ws, jobRows(t, e, ws, asset, 50), tc.at, amount, c, false)
			if got := admitted(rs); got != tc.want {
				t.Fatalf("%d admitted, want exactly %d", got, tc.want)
			}
			for _, r := range rs {
				if !r.OK && (r.Window != tc.window || !r.ResetsAt.Equal(mustTime(t, tc.resetsAt))) {
					t.Fatalf("refused by %s until %s, want %s until %s", r.Window, r.ResetsAt, tc.window, tc.resetsAt)
				}
			}
		})
	}
	for _, w := range windows(t, e, ws) {
		if w.Spent+w.Reserved > w.Ceiling {
			t.Errorf("%s window at %s overspent: %d of %d", w.Kind, w.StartsAt, w.Spent+w.Reserved, w.Ceiling)
		}
	}

	t.Run("straddling an hour boundary", func(t *testing.T) {
		ws := wsID(t, e.Workspace(tok, "W2"))
		asset := probedAsset(t, e, ws.String(), 60)
		times := append(at("2030-03-01T10:59:59.999Z", 25), at("2030-03-01T11:00:00Z", 25)...)
		rs := race(t, e, ws, jobRows(t, e, ws, asset, 50), times, amount, c, false)
		if got := admitted(rs); got != 15 {
			t.Fatalf("%d admitted, want exactly 15", got)
		}
		var day billing.Micros
		for _, w := range windows(t, e, ws) {
			if w.Reserved > w.Ceiling {
				t.Errorf("%s window at %s overspent: %d of %d", w.Kind, w.StartsAt, w.Reserved, w.Ceiling)
			}
			if w.Kind == "day" {
				day += w.Reserved
			}
		}
		if day != 15*amount {
			t.Fatalf("day reserved %d, want %d", day, 15*amount)
		}
	})
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestSubmitRaceThroughAPI: 50 job submissions released at once through
// the API against an hourly ceiling that fits 10 jobs: exactly 10 are
// accepted (202), 40 answer 402 naming the hourly window with a
// Retry-After, nothing is overspent, and the owner is mailed at 80 % and
// at 100 %.
func TestSubmitRaceThroughAPI(t *testing.T) {
	e := env(t)
	tok, _ := e.User("owner@example.com")
	ws := e.Workspace(tok, "W")
	asset := probedAsset(t, e, ws, 60)
	price := billing.Price("mp4-h264-720p", 60)
	setCeilings(t, e, ws, billing.Ceilings{Hour: 10 * price, Day: 100 * price, Month: 1000 * price})

	statuses := burst(t, e, tok, ws, asset, 50, func(r apptest.Response) {
		if r.Status == http.StatusPaymentRequired && (!strings.Contains(r.Str("detail"), "hourly spend ceiling") || r.Header.Get("Retry-After") == "" ||
			r.Str("type") != problem.SpendCeilingReached.Type()) {
			t.Errorf("402 without the window or Retry-After: %s %v", r.Body, r.Header)
		}
	})
	if statuses[http.StatusAccepted] != 10 || statuses[http.StatusPaymentRequired] != 40 {
		t.Fatalf("statuses %v; want exactly 10×202 and 40×402", statuses)
	}
	if h := current(t, e, wsID(t, ws), "hour"); h.Reserved != 10*price || h.Spent != 0 {
		t.Fatalf("hour window reserved %d spent %d, want %d and 0", h.Reserved, h.Spent, 10*price)
	}
	subjects := spendAlerts(e, 2)
	joined := strings.Join(subjects, "|")
	if len(subjects) != 2 || !strings.Contains(joined, "80% of your hourly") || !strings.Contains(joined, "100% of your hourly") {
		t.Fatalf("alerts %q, want one at 80%% and one at 100%% of the hourly ceiling", subjects)
	}
}

// spendAlerts waits (up to 10 s) for n spend-ceiling mails, then half a
// second more for extra ones, and returns their subjects.
func spendAlerts(e *apptest.Env, n int) []string {
	deadline := time.Now().Add(10 * time.Second)
	var subjects []string
	for {
		subjects = spendAlertsNow(e)
		if len(subjects) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(subjects) > n {
		return subjects
	}
	time.Sleep(500 * time.Millisecond) // would a duplicate follow?
	return spendAlertsNow(e)
}

func spendAlertsNow(e *apptest.Env) []string {
	var subjects []string
	for _, m := range e.Mail.Messages() {
		if m.Message != nil && strings.Contains(m.Message.Header.Get("Subject"), "spend ceiling") {
			subjects = append(subjects, m.Message.Header.Get("Subject"))
		}
	}
	return subjects
}

// TestReservationsEnd: a cancelled job and a failed job release their
// reservations (the freed room admits new jobs), a completed job settles
// at its actual cost (never above its reservation) and debits the credit
// ledger once, even if told twice.
func TestReservationsEnd(t *testing.T) {
	f := newFixture(t, false)
	e, tok, ws, w, asset, price := f.e, f.tok, f.ws, f.w, f.asset, f.price
	setCeilings(t, e, ws, billing.Ceilings{Hour: 3 * price, Day: 100 * price, Month: 1000 * price})
	submit := func(want int) string {
		r := e.Do("POST", "/v1/workspaces/"+ws+"/jobs", tok, map[string]any{"inputs": []string{asset}, "preset": "mp4-h264-720p"})
		if r.Status != want {
			t.Fatalf("submit: %d, want %d: %s", r.Status, want, r.Body)
		}
		return r.Str("id")
	}
	j1, j2, j3 := submit(202), submit(202), submit(202)
	submit(402)

	e.Must(200, "POST", "/v1/workspaces/"+ws+"/jobs/"+j1+"/cancel", tok, nil)
	if h := current(t, e, w, "hour"); h.Reserved != 2*price {
		t.Fatalf("after cancel: reserved %d, want %d", h.Reserved, 2*price)
	}
	j4 := submit(202)

	var jid id.JobID
	if err := jid.UnmarshalText([]byte(j2)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Pipeline.Steps.Handle(context.Background(), pipeline.Payload{Step: spec.StepMarkFailed, Workspace: w, Job: jid,
		Error: &pipeline.StepError{Error: "Job.EncodeFailed", Cause: "test"}}); err != nil {
		t.Fatal(err)
	}
	if h := current(t, e, w, "hour"); h.Reserved != 2*price {
		t.Fatalf("after failure: reserved %d, want %d", h.Reserved, 2*price)
	}
	submit(202)

	// Completed: the pipeline probed 30 s, so it costs half its reservation.
	var j3id id.JobID
	if err := j3id.UnmarshalText([]byte(j3)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		inWS(t, e, w, func(tx pgx.Tx) error {
			j, err := job.Load(context.Background(), tx, w, j3id, true)
			if err != nil {
				return err
			}
			d := 30.0
			j.Duration = &d
			j.Status = job.Completed // settle twice: the second must not charge again
			return e.App.Billing.JobChanged(context.Background(), tx, job.Change{Job: j, From: job.Running, Reason: job.ReasonVerified})
		})
	}
	h := current(t, e, w, "hour")
	if h.Spent != price/2 || h.Reserved != 2*price || h.Spent+h.Reserved > h.Ceiling {
		t.Fatalf("after completion: spent %d reserved %d, want %d and %d", h.Spent, h.Reserved, price/2, 2*price)
	}
	if got := credits(t, e, ws); got != -price/2 {
		t.Fatalf("credit ledger balance %d, want %d (one debit)", got, -price/2)
	}
	_ = j4
}
