package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/sfnaws"
	"github.com/framebroker/framebroker/shared/pipeline/sfnlocal"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/provenance"
	"github.com/framebroker/framebroker/shared/webhook"
)

// Pipeline is the encode side of the app: the step handlers, the provider
// dispatcher, and (locally) the local provider.
type Pipeline struct {
	Steps      *pipeline.Steps
	Dispatcher *pipeline.Dispatcher
	Local      *sfnlocal.Backend // nil unless FRAMEBROKER_ENCODE_BACKEND=local
	Jobs       *job.Service
}

// newPipeline wires the encode pipeline and returns the job routes. A
// missing provider is not fatal here (the API still serves everything else);
// submissions then answer 503.
func (a *App) newPipeline(cfg config.Config, store blob.Store, prober asset.Prober) []guard.Route {
	health := &pipeline.Health{Pool: a.Pool, Threshold: 3, Cooldown: 5 * time.Minute}
	steps := &pipeline.Steps{
		Pool: a.Pool, Store: store, Prober: prober, Health: health,
		Broker:  broker.Broker{Store: store, TTL: spec.EncodeTimeoutMinutes * time.Minute},
		Backoff: pipeline.DefaultBackoff,
	}
	steps.Notify = append(steps.Notify, a.Billing.JobEnded)
	p := &Pipeline{Steps: steps, Dispatcher: &pipeline.Dispatcher{Health: health}}
	if cfg.EncodeBackend == "local" && a.Pool != nil {
		b, err := sfnlocal.New(sfnlocal.Config{Node: cfg.NodeBin, Module: cfg.SFNModule, Definition: spec.Definition, Worker: cfg.WorkerBin, Steps: steps})
		if err != nil {
			slog.Warn("local encode provider unavailable; job submissions will answer 503", "err", err.Error())
		} else {
			p.Local = b
			p.Dispatcher.Backends = append(p.Dispatcher.Backends, b)
		}
	}
	if cfg.EncodeBackend == "stepfunctions" && cfg.StateMachineARN != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.S3Region))
		if err != nil {
			slog.Warn("step functions provider unavailable", "err", err.Error())
		} else {
			p.Dispatcher.Backends = append(p.Dispatcher.Backends, &sfnaws.Backend{Client: sfn.NewFromConfig(awsCfg), StateMachineARN: cfg.StateMachineARN})
		}
	}
	if len(p.Dispatcher.Backends) == 0 && a.Pool != nil {
		slog.Warn(fmt.Sprintf("no encode provider configured (%s=%q)", config.EnvEncodeBackend, cfg.EncodeBackend))
	}
	p.Jobs = job.NewService(a.Pool, store, p.Dispatcher, cfg.UploadTTL)
	p.Jobs.OnSubmit = append(p.Jobs.OnSubmit, a.Billing.OnSubmit)
	p.Jobs.OnCancel = append(p.Jobs.OnCancel, a.Billing.JobEnded)
	// Paid work needs a verified email (T-03), checked in the submission
	// transaction before anything is reserved or recorded.
	p.Jobs.OnSubmit = append(p.Jobs.OnSubmit, func(ctx context.Context, tx pgx.Tx, acc *guard.Access, _ job.Job) error {
		return identity.RequireVerifiedEmail(ctx, tx, acc.Principal.User)
	})
	p.Jobs.OnSubmit = append(p.Jobs.OnSubmit, func(ctx context.Context, tx pgx.Tx, acc *guard.Access, j job.Job) error {
		_, err := ledger.Append(ctx, tx, acc.Workspace, acc.Principal.User.String(), "job.queued", j.ID.String(),
			map[string]any{"preset": j.Preset, "inputs": j.Inputs})
		return err
	})
	// A finished job is recorded in the ledger and announced to webhooks,
	// in the transaction that finishes it.
	steps.Notify = append(steps.Notify, func(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID, j job.Job, event string) error {
		outs, err := job.LoadOutputs(ctx, tx, ws, j.ID)
		if err != nil {
			return err
		}
		summary := make([]map[string]any, len(outs))
		for i, o := range outs {
			summary[i] = map[string]any{"name": o.Name, "asset": o.Asset, "sha256": o.SHA256, "size": o.Size}
		}
		payload := map[string]any{"job": j.ID, "preset": j.Preset, "status": j.Status, "outputs": summary}
		if _, err := ledger.Append(ctx, tx, ws, "system:pipeline", event, j.ID.String(), payload); err != nil {
			return err
		}
		_, err = webhook.Enqueue(ctx, tx, ws, event, payload)
		return err
	})
	a.Pipeline = p
	return p.Jobs.Routes()
}

// provenanceRoutes wires publishing with the job trail digests, so a
// manifest binds the trails of the jobs behind each shot's outputs.
func (a *App) provenanceRoutes(pool *pgxpool.Pool) []guard.Route {
	p := provenance.NewService(pool, a.Keys)
	p.Trails = job.Digester{}
	return p.Routes()
}
