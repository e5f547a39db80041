package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/framebroker/framebroker/shared/job"
)

// enteredKey holds, in a step's context, when Handle was entered.
type enteredKey struct{}

// timed adds to a step's trail detail when the step handler was entered
// (step_entered_at) and how long it had run when the entry was written
// (step_ms), so the trail shows each step and, between steps, each state
// transition (see Timeline).
func timed(ctx context.Context, detail map[string]any) map[string]any {
	if t, ok := ctx.Value(enteredKey{}).(time.Time); ok {
		detail["step_entered_at"] = t.UTC()
		detail["step_ms"] = float64(time.Since(t).Microseconds()) / 1000
	}
	return detail
}

// Span is one interval of a job's run, read from its trail.
type Span struct {
	// Name says what the job waited for: "dispatch", "runner start", a
	// step ("probe", "presign", "verify and record", "notify"), a
	// "transition" between states, "worker start" or "encode".
	Name     string
	Start    time.Time
	Duration time.Duration
	// Encoding is true for the worker's run (download, ffmpeg, upload).
	Encoding bool
}

// Timeline lays a completed job's trail out as consecutive spans, from
// its submission (queued) to its notification: the dispatch (starting the
// execution), the runner's start (state machine start and the first step
// invocation), each step and each transition between states, the worker's
// start (in AWS: Fargate placement and image pull) and its run. The
// spans of the last attempt are used. Everything but the encode span is
// the job's fixed cost.
func Timeline(events []job.Event) ([]Span, error) {
	type step struct {
		entered time.Time
		ms      float64
	}
	last := map[string]job.Event{}
	for _, e := range events {
		last[e.Stage] = e
	}
	var detail struct {
		Entered time.Time `json:"step_entered_at"`
		MS      float64   `json:"step_ms"`
		Started time.Time `json:"worker_started_at"`
		Ended   time.Time `json:"worker_finished_at"`
	}
	stepOf := func(stage string) (step, map[string]time.Time, error) {
		e, ok := last[stage]
		if !ok {
			return step{}, nil, fmt.Errorf("pipeline: trail has no %q entry", stage)
		}
		detail = struct {
			Entered time.Time `json:"step_entered_at"`
			MS      float64   `json:"step_ms"`
			Started time.Time `json:"worker_started_at"`
			Ended   time.Time `json:"worker_finished_at"`
		}{}
		if err := json.Unmarshal(e.Detail, &detail); err != nil {
			return step{}, nil, fmt.Errorf("pipeline: trail %q: %w", stage, err)
		}
		if detail.Entered.IsZero() {
			return step{}, nil, fmt.Errorf("pipeline: trail %q is not timed", stage)
		}
		return step{detail.Entered, detail.MS}, map[string]time.Time{"started": detail.Started, "ended": detail.Ended}, nil
	}
	queued, ok := last["queued"]
	if !ok {
		return nil, fmt.Errorf("pipeline: trail has no queued entry")
	}
	dispatched, ok := last["dispatched"]
	if !ok {
		return nil, fmt.Errorf("pipeline: trail has no dispatched entry")
	}
	var spans []Span
	at := queued.At
	add := func(name string, until time.Time, encoding bool) {
		spans = append(spans, Span{Name: name, Start: at, Duration: until.Sub(at), Encoding: encoding})
		at = until
	}
	add("dispatch", dispatched.At, false)
	for i, st := range []struct{ stage, name string }{
		{"probed", "probe"}, {"presigned", "presign"}, {"recorded", "verify and record"}, {"notified", "notify"},
	} {
		s, worker, err := stepOf(st.stage)
		if err != nil {
			return nil, err
		}
		if st.stage == "recorded" {
			if worker["started"].IsZero() || worker["ended"].IsZero() {
				return nil, fmt.Errorf("pipeline: trail has no worker times")
			}
			add("worker start", worker["started"], false)
			add("encode", worker["ended"], true)
		}
		name := "transition"
		if i == 0 {
			name = "runner start"
		}
		add(name, s.entered, false)
		add(st.name, s.entered.Add(time.Duration(s.ms*float64(time.Millisecond))), false)
	}
	return spans, nil
}
