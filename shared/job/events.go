package job

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/event"
	"github.com/framebroker/framebroker/shared/id"
)

// EventPayload is the data of every job.* event, in the ledger and in
// webhook deliveries (see the README's event catalogue).
type EventPayload struct {
	Job      id.JobID     `json:"job"`
	Status   Status       `json:"status"`
	Reason   Reason       `json:"reason"`
	Preset   string       `json:"preset"`
	Inputs   []id.AssetID `json:"inputs"`
	Shot     *id.ShotID   `json:"shot,omitempty"`
	Attempt  int          `json:"attempt"`
	Provider string       `json:"provider,omitempty"`
	// Error is set on job.failed.
	Error string `json:"error,omitempty"`
	// Outputs are set on job.completed: the verified, registered outputs.
	Outputs []OutputSummary `json:"outputs,omitempty"`
}

// OutputSummary is one output in a job.completed event.
type OutputSummary struct {
	Name   string     `json:"name"`
	Asset  id.AssetID `json:"asset"`
	SHA256 string     `json:"sha256"`
	Size   int64      `json:"size"`
}

// Payload builds the event data of a change (loading the outputs of a
// completed job from q).
func Payload(ctx context.Context, tx pgx.Tx, c Change) (EventPayload, error) {
	j := c.Job
	p := EventPayload{Job: j.ID, Status: j.Status, Reason: c.Reason, Preset: j.Preset, Inputs: j.Inputs, Shot: j.Shot,
		Attempt: j.Attempt, Provider: j.Provider, Error: j.Error}
	if p.Inputs == nil {
		p.Inputs = []id.AssetID{}
	}
	if j.Status == Completed {
		outs, err := LoadOutputs(ctx, tx, j.Workspace, j.ID)
		if err != nil {
			return p, fmt.Errorf("job: event outputs: %w", err)
		}
		p.Outputs = make([]OutputSummary, len(outs))
		for i, o := range outs {
			p.Outputs[i] = OutputSummary{Name: o.Name, Asset: o.Asset, SHA256: o.SHA256, Size: o.Size}
		}
	}
	return p, nil
}

// Record is the listener that writes every change to the workspace's
// ledger and the webhook outbox, in the change's transaction, with the same
// payload: a customer's audit trail and integrations see every ending the
// same way, whoever caused it.
func Record(ctx context.Context, tx pgx.Tx, c Change) error {
	p, err := Payload(ctx, tx, c)
	if err != nil {
		return err
	}
	return event.Publish(ctx, tx, c.Job.Workspace, c.Actor, c.Event(), c.Job.ID.String(), p)
}
