package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/cron/wake"
	"github.com/framebroker/framebroker/shared/httpx"
	"github.com/framebroker/framebroker/shared/localstack"
	"github.com/framebroker/framebroker/shared/mail/mailtest"
)

// devPorts are the loopback ports of `framebroker dev`; the test stack uses
// others (stack.go), so both can run at once.
var devPorts = localstack.Options{PGPort: 54329, S3Port: 7070, StripePort: 12111}

// runDev starts the dev stack and serves the API on it until SIGINT or
// SIGTERM, then shuts the server down and stops the stack.
func runDev(args []string) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", ".local/dev", "state directory of the local stack")
	defAddr := "127.0.0.1:8080"
	if v := os.Getenv(config.EnvAddr); v != "" {
		defAddr = v
	}
	addr := fs.String("addr", defAddr, "HTTP listen address (default from "+config.EnvAddr+" when set)")
	ports := devPorts
	fs.IntVar(&ports.PGPort, "pg-port", envPort("FRAMEBROKER_DEV_PG_PORT", ports.PGPort), "Postgres port (default from FRAMEBROKER_DEV_PG_PORT when set)")
	fs.IntVar(&ports.S3Port, "s3-port", envPort("FRAMEBROKER_DEV_S3_PORT", ports.S3Port), "versitygw port (default from FRAMEBROKER_DEV_S3_PORT when set)")
	fs.IntVar(&ports.StripePort, "stripe-port", envPort("FRAMEBROKER_DEV_STRIPE_PORT", ports.StripePort), "stripe-mock HTTP port, HTTPS is the next one (default from FRAMEBROKER_DEV_STRIPE_PORT when set)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := dev(*dir, *addr, ports); err != nil {
		fmt.Fprintln(os.Stderr, "framebroker dev:", err)
		return 1
	}
	return 0
}

// envPort is the port in environment variable name, or def when it is
// unset or not a port number.
func envPort(name string, def int) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n < 1 || n > 65535 {
		return def
	}
	return n
}

func dev(dir, addr string, ports localstack.Options) error {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	log := newProgressLogger(os.Stderr)
	begun := time.Now()

	// Take the port first: a busy port should not cost a stack start.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	// The stack's config and env file then name the address actually served.
	os.Setenv(config.EnvAddr, ln.Addr().String())

	opts := ports
	opts.Dir, opts.Logger = dir, log
	st, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer st.Stop()
	// In-process code that reads the environment (stripe URL, admin DSN)
	// sees what a test inside `framebroker stack` would.
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	cfg := st.Config()
	if err := devSecrets(&cfg, dir); err != nil {
		return err
	}
	// Mail (verification links, resets, webhook alerts) goes over real SMTP
	// to an in-process catcher that prints each message and keeps a copy.
	catcher, err := mailtest.Listen("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("mail catcher: %w", err)
	}
	defer catcher.Close()
	catcher.OnMessage = func(m mailtest.Received) { printMail(filepath.Join(dir, "mail"), m) }
	cfg.SMTPAddr = catcher.Addr
	a, err := app.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	defer a.Close()
	srv := httpx.NewServer(a.Handler())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// EventBridge's stand-in: the same schedules, over HTTP, with the secret
	// (the due-only ones switched on and off through the app's Waker, as
	// the rules are in AWS); and a dispatcher woken by each committed
	// webhook event.
	a.Waker.Set(cron.Tick(ctx, baseURL(ln.Addr()), cfg.CronSecret, cron.Schedule, 1))
	go func() { _ = a.Webhooks.NewDispatcher().Run(wake.With(ctx, a.Waker)) }()
	log.Info("serving", "addr", cfg.Addr)
	printDevBanner(baseURL(ln.Addr()), st, time.Since(begun))

	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	}
	stopSignals() // a second Ctrl-C kills at once; the kernel then ends the peers
	fmt.Fprintln(os.Stderr, "\nshutting down…")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", serr)
	}
	a.Close()
	st.Stop()
	fmt.Fprintln(os.Stderr, "stopped")
	return err
}

// devKey reads the base64 32-byte key kept at path, creating it (0600) on
// first use so what it sealed survives restarts.
func devKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		b = []byte(base64.StdEncoding.EncodeToString(k))
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// devSecrets fills what the dev stack does not generate: the webhook and
// TOTP sealing keys (kept in DIR/webhook.key and DIR/totp.key so sealed
// secrets survive restarts), a
// per-process cron secret, and loopback allowed as a webhook destination.
func devSecrets(cfg *config.Config, dir string) error {
	for _, k := range []struct {
		file string
		val  *string
	}{{"webhook.key", &cfg.WebhookKey}, {"totp.key", &cfg.TOTPKey}} {
		if *k.val != "" {
			continue
		}
		key, err := devKey(filepath.Join(dir, k.file))
		if err != nil {
			return err
		}
		*k.val = key
	}
	if cfg.CronSecret == "" {
		cfg.CronSecret = rand.Text()
	}
	// Stripe: the stack's stripe-mock with a test key, and a webhook secret
	// kept under dir so `framebroker stripe trigger` can sign events.
	// stripe-mock refuses keys that do not look like Stripe's own test keys
	// (letters and digits after sk_test_): sk_test_framebroker_dev was
	// answered 401 there and 503 here.
	if cfg.StripeKey == "" {
		cfg.StripeKey = DevStripeKey
	}
	if cfg.StripeWebhookSecret == "" {
		secret, err := devStripeSecret(dir)
		if err != nil {
			return err
		}
		cfg.StripeWebhookSecret = secret
	}
	if cfg.WebhookAllowCIDRs == "" {
		cfg.WebhookAllowCIDRs = "127.0.0.0/8,::1/128"
	}
	return nil
}

// DevStripeKey is the Stripe secret key of the dev stack: one stripe-mock
// accepts.
const DevStripeKey = "sk_test_framebrokerdev"

// baseURL turns a listen address into a URL a browser or curl can use.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		host := "127.0.0.1"
		if ok {
			host = net.JoinHostPort(host, fmt.Sprint(tcp.Port))
		}
		return "http://" + host
	}
	return "http://" + tcp.String()
}

func printDevBanner(url string, st *localstack.Stack, took time.Duration) {
	const body = `{"email":"dev@example.com","password":"correct-horse-battery-staple"}`
	fmt.Printf(`
Framebroker is up in %.1fs at %s
  env file: %s   (set -a; . %[3]s; set +a)
  logs:     %s/
Try:
  curl -s %[2]s/healthz
  curl -s -X POST %[2]s/v1/auth/signup -H 'Content-Type: application/json' -d '%[5]s'
  TOKEN=$(curl -s -X POST %[2]s/v1/auth/login -H 'Content-Type: application/json' -d '%[5]s' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  curl -s -X POST %[2]s/v1/workspaces -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"My studio"}'
Ctrl-C stops the server and the stack.

`, took.Seconds(), url, st.EnvFile(), st.LogDir(), body)
}
