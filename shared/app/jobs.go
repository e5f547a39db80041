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
// dispatcher, and (locally) the local provider. A per-function App wires
// only the parts its function uses (see functions.go): the jobs function
// has no step handlers, the pipeline function no dispatcher and no job
// service, the cron function no job service.
type Pipeline struct {
	Steps      *pipeline.Steps
	Dispatcher *pipeline.Dispatcher
	Local      *sfnlocal.Backend // nil unless FRAMEBROKER_ENCODE_BACKEND=local
	Jobs       *job.Service
	// Lifecycle is the one owner of job state changes and their listeners.
	Lifecycle *job.Lifecycle
}

// newPipeline wires the whole encode pipeline (the full app) and returns
// the job routes. A missing provider is not fatal here (the API still
// serves everything else); submissions then answer 503.
func (a *App) newPipeline(cfg config.Config, store blob.Store, prober asset.Prober) []guard.Route {
	a.newLifecycle()
	a.newSteps(store, prober)
	a.addLocalProvider(cfg)
	a.addProviders(cfg)
	a.newJobService(cfg, store)
	return a.Pipeline.Jobs.Routes()
}

// newLifecycle starts a.Pipeline with the job lifecycle and the provider
// health the dispatcher uses. Every job state change — submission, start,
// and each ending, whoever causes it — runs these listeners in its
// transaction, in this order. Needs a.Billing.
func (a *App) newLifecycle() {
	health := &pipeline.Health{Pool: a.Pool, Threshold: 3, Cooldown: 5 * time.Minute}
	jobs := &job.Lifecycle{}
	jobs.Listen(
		job.Record,           // ledger event + webhook message
		a.Billing.JobChanged, // settle or release the reservation
		health.JobChanged,    // provider health
	)
	a.Pipeline = &Pipeline{Dispatcher: &pipeline.Dispatcher{Health: health}, Lifecycle: jobs}
}

// newSteps wires the state machine's step handlers (after newLifecycle).
func (a *App) newSteps(store blob.Store, prober asset.Prober) {
	a.Pipeline.Steps = &pipeline.Steps{
		Pool: a.Pool, Store: store, Prober: prober, Jobs: a.Pipeline.Lifecycle,
		Broker:  broker.Broker{Store: store, TTL: spec.EncodeTimeoutMinutes * time.Minute},
		Backoff: pipeline.DefaultBackoff,
		// Every MP4 and JPEG output carries Content Credentials signed in
		// the Verify step with the workspace's keyring-issued certificate.
		Credentials: &credentials.Sealer{Issuer: a.credentialsIssuer(), Store: store},
		Waker:       a.Waker,
	}
}

// addLocalProvider gives the dispatcher the local provider when cfg asks
// for it: the synthesized state machine under aws-local-stepfunctions
// running a.Pipeline.Steps (after newSteps), the worker as a child
// process. Only the full wiring (the local server, tests) calls it, so no
// Lambda links the local runner and, through it, the step handlers.
func (a *App) addLocalProvider(cfg config.Config) {
	if cfg.EncodeBackend != "local" || a.Pool == nil {
		return
	}
	p := a.Pipeline
	b, err := sfnlocal.New(sfnlocal.Config{Node: cfg.NodeBin, Module: cfg.SFNModule, Definition: spec.Definition, Worker: cfg.WorkerBin, Steps: p.Steps})
	if err != nil {
		slog.Warn("local encode provider unavailable; job submissions will answer 503", "err", err.Error())
		return
	}
	p.Local = b
	p.Dispatcher.Backends = append(p.Dispatcher.Backends, b)
}

// addProviders gives the dispatcher the Step Functions provider when a
// state machine is configured (after addLocalProvider, if any).
func (a *App) addProviders(cfg config.Config) {
	p := a.Pipeline
	if cfg.EncodeBackend == "stepfunctions" && cfg.StateMachineARN != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.S3Region))
		if err != nil {
			slog.Warn("step functions provider unavailable", "err", err.Error())
		} else {
			p.Dispatcher.Backends = append(p.Dispatcher.Backends, &sfnaws.Backend{Client: sfn.NewFromConfig(awsCfg), StateMachineARN: cfg.StateMachineARN})
		}
	}
	if len(p.Dispatcher.Backends) == 0 && a.Pool != nil {
		slog.Warn(fmt.Sprintf("no encode provider configured (%s=%q; the local provider runs only in the local server)", config.EnvEncodeBackend, cfg.EncodeBackend))
	}
}

// newJobService wires the job routes' service on the dispatcher (after
// addProviders).
func (a *App) newJobService(cfg config.Config, store blob.Store) {
	p := a.Pipeline
	p.Jobs = job.NewService(a.Pool, store, p.Dispatcher, cfg.UploadTTL, p.Lifecycle)
	// Refusals first: paid work needs a verified email (T-03), checked
	// before billing reserves anything or queues an alert.
	p.Jobs.OnSubmit = append(p.Jobs.OnSubmit, verifiedEmail, a.Billing.OnSubmit)
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
