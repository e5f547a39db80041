// Package broker is the strict broker of T-04: it mints, for one attempt of
// one job, presigned URLs for exactly that job's inputs (GET) and outputs
// (PUT) and its report (PUT), each valid for at most an hour, and nothing
// else. A worker's whole authority is this Grant.
package broker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/preset"
)

// Broker mints grants.
type Broker struct {
	Store blob.Store
	TTL   time.Duration // ≤ blob.MaxTTL
}

// Input is a job input: where its bytes are.
type Input struct {
	Asset id.AssetID
	Key   string
}

// Grant is what one worker run may touch.
type Grant struct {
	Inputs    []string          // GET URLs, in input order
	Outputs   map[string]string // output name → PUT URL
	Report    string            // PUT URL for the report
	ExpiresAt time.Time
}

// AttemptPrefix is where an attempt's outputs and report are written. Each
// attempt has its own prefix, so a killed attempt's partial files can never
// be mistaken for a later attempt's.
func AttemptPrefix(ws id.WorkspaceID, job id.JobID, attempt int) string {
	return "ws/" + ws.String() + "/jobs/" + job.String() + "/a" + strconv.Itoa(attempt) + "/"
}

// OutputKey is the object key of an output of an attempt.
func OutputKey(ws id.WorkspaceID, job id.JobID, attempt int, name string) string {
	return AttemptPrefix(ws, job, attempt) + name
}

// ReportKey is the object key of an attempt's report.
func ReportKey(ws id.WorkspaceID, job id.JobID, attempt int) string {
	return AttemptPrefix(ws, job, attempt) + "report.json"
}

// Mint returns the grant for one attempt of job.
func (b Broker) Mint(ctx context.Context, ws id.WorkspaceID, job id.JobID, attempt int, inputs []Input, outputs []preset.Output) (Grant, error) {
	if err := blob.CheckTTL(b.TTL); err != nil {
		return Grant{}, err
	}
	g := Grant{Outputs: map[string]string{}, ExpiresAt: time.Now().Add(b.TTL).UTC()}
	for _, in := range inputs {
		u, err := b.Store.PresignGet(ctx, in.Key, b.TTL)
		if err != nil {
			return Grant{}, fmt.Errorf("broker: input %s: %w", in.Asset, err)
		}
		g.Inputs = append(g.Inputs, u)
	}
	for _, o := range outputs {
		u, err := b.Store.PresignPut(ctx, OutputKey(ws, job, attempt, o.Name), o.ContentType, 0, b.TTL)
		if err != nil {
			return Grant{}, fmt.Errorf("broker: output %s: %w", o.Name, err)
		}
		g.Outputs[o.Name] = u
	}
	u, err := b.Store.PresignPut(ctx, ReportKey(ws, job, attempt), "application/json", 0, b.TTL)
	if err != nil {
		return Grant{}, fmt.Errorf("broker: report: %w", err)
	}
	g.Report = u
	return g, nil
}

// Command is the worker's argv (without the program name) for a grant.
func (g Grant) Command(presetName string, duration float64, outputs []preset.Output) []string {
	argv := []string{"--preset", presetName, "--duration", strconv.FormatFloat(duration, 'f', 3, 64)}
	for _, u := range g.Inputs {
		argv = append(argv, "--input", u)
	}
	for _, o := range outputs {
		argv = append(argv, "--output", o.Name+"="+g.Outputs[o.Name])
	}
	return append(argv, "--report", g.Report)
}
