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
	"github.com/framebroker/framebroker/shared/credentials"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/job"
	"github.com/framebroker/framebroker/shared/pipeline"
	"github.com/framebroker/framebroker/shared/pipeline/sfnaws"
	"github.com/framebroker/framebroker/shared/pipeline/sfnlocal"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/provenance"
)

// Pipeline is the encode side of the app: the step handlers, the provider
// dispatcher, and (locally) the local provider.
type Pipeline struct {
	Steps      *pipeline.Steps
	Dispatcher *pipeline.Dispatcher
	Local      *sfnlocal.Backend // nil unless FRAMEBROKER_ENCODE_BACKEND=local
	Jobs       *job.Service
	// Lifecycle is the one owner of job state changes and their listeners.
	Lifecycle *job.Lifecycle
}

// newPipeline wires the encode pipeline and returns the job routes. A
// missing provider is not fatal here (the API still serves everything else);
// submissions then answer 503.
func (a *App) newPipeline(cfg config.Config, store blob.Store, prober asset.Prober) []guard.Route {
	health := &pipeline.Health{Pool: a.Pool, Threshold: 3, Cooldown: 5 * time.Minute}
	// Every job state change — submission, start, and each ending, whoever
	// causes it — runs these listeners in its transaction, in this order.
	jobs := &job.Lifecycle{}
	jobs.Listen(
		job.Record,           // ledger event + webhook message
		a.Billing.JobChanged, // settle or release the reservation
		health.JobChanged,    // provider health
	)
	steps := &pipeline.Steps{
		Pool: a.Pool, Store: store, Prober: prober, Jobs: jobs,
		Broker:  broker.Broker{Store: store, TTL: spec.EncodeTimeoutMinutes * time.Minute},
		Backoff: pipeline.DefaultBackoff,
		// Every MP4 and JPEG output carries Content Credentials signed in
		// the Verify step with the workspace's keyring-issued certificate.
		Credentials: &credentials.Sealer{Issuer: a.credentialsIssuer(), Store: store},
		Waker:       a.Waker,
	}
	p := &Pipeline{Steps: steps, Dispatcher: &pipeline.Dispatcher{Health: health}, Lifecycle: jobs}
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
	p.Jobs = job.NewService(a.Pool, store, p.Dispatcher, cfg.UploadTTL, jobs)
	// Refusals first: paid work needs a verified email (T-03), checked
	// before billing reserves anything or queues an alert.
	p.Jobs.OnSubmit = append(p.Jobs.OnSubmit, verifiedEmail, a.Billing.OnSubmit)
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

// verifiedEmail is the job submission check (job.Hook): paid work needs the
// caller's verified email (T-03). Wired before billing's, so nothing is
// reserved or queued for a caller who is refused. It lives here, not in
// identity, so that identity (which the authorizer Lambda links) does not
// import job and, through it, the ledger, webhook and store packages.
func verifiedEmail(ctx context.Context, tx pgx.Tx, a *guard.Access, _ job.Job) error {
	return identity.RequireVerifiedEmail(ctx, tx, a.Principal.User)
}

// credentialsIssuer is the one Content Credentials issuer (root cache,
// uploaded chains) shared by the pipeline and the settings routes.
func (a *App) credentialsIssuer() *credentials.Issuer {
	if a.credIssuer == nil {
		a.credIssuer = &credentials.Issuer{Keys: a.Keys, Pool: a.Pool}
	}
	return a.credIssuer
}
