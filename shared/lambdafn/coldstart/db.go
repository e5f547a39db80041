package coldstart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDatabaseWait bounds the cold start's database connect and ping: a
// database that accepts TCP but never answers (a paused cluster, a wrong
// security group on a proxy) fails the start-up after this long, with a
// log line saying what was waited for, instead of hanging until the
// Lambda's timeout without a word.
const DefaultDatabaseWait = 10 * time.Second

// codeInvalidPassword is SQLSTATE 28P01.
const codeInvalidPassword = "28P01"

// PasswordSource keeps the database password read from a secret and reads
// it again when a connection attempt has failed since the last read (the
// secret was rotated: Postgres refuses the old password with 28P01, and
// pgxpool answers that caller with the error), at most once per
// MinInterval. Rotation then costs the container at most the one request
// whose connection attempt failed, never a cold start.
type PasswordSource struct {
	get         SecretGetter
	arn         string
	MinInterval time.Duration
	now         func() time.Time

	mu       sync.Mutex
	user     string
	password string
	fetched  time.Time
	pending  int // connection attempts begun and not (yet) succeeded
	reads    int
}

// NewPasswordSource reads the database secret arn through get.
func NewPasswordSource(ctx context.Context, get SecretGetter, arn string) (*PasswordSource, error) {
	p := &PasswordSource{get: get, arn: arn, MinInterval: 5 * time.Second, now: time.Now}
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// refresh re-reads the secret; p.mu must be held or p unshared.
func (p *PasswordSource) refresh(ctx context.Context) error {
	v, err := p.get.SecretString(ctx, p.arn)
	if err != nil {
		return fmt.Errorf("coldstart: read database secret: %w", err)
	}
	s, err := ParseDatabaseSecret(v)
	if err != nil {
		return err
	}
	if s.Username == "" || s.Password == "" {
		return errors.New("coldstart: database secret lacks username or password")
	}
	p.user, p.password, p.fetched, p.reads = s.Username, s.Password, p.now(), p.reads+1
	return nil
}

// BeforeConnect is the pool's hook: it sets the connection's credentials,
// re-reading the secret first if an earlier attempt failed.
func (p *PasswordSource) BeforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending > 0 && p.now().Sub(p.fetched) >= p.MinInterval {
		if err := p.refresh(ctx); err != nil {
			return err
		}
		slog.InfoContext(ctx, "database secret re-read after a failed connection attempt (rotation)")
		p.pending = 0
	}
	p.pending++
	cc.User, cc.Password = p.user, p.password
	return nil
}

// AfterConnect is the pool's hook for a connection that authenticated.
func (p *PasswordSource) AfterConnect(context.Context, *pgx.Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending > 0 {
		p.pending--
	}
	return nil
}

// invalidate makes the next connection attempt re-read the secret.
func (p *PasswordSource) invalidate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending++
	p.fetched = time.Time{}
}

// Reads is how many times the secret has been read.
func (p *PasswordSource) Reads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
}

// IsAuthFailure reports whether err is Postgres refusing the password.
func IsAuthFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeInvalidPassword
}

// OpenPool opens the pool for dsn and pings it, both bounded by wait; with
// src, each connection takes its credentials from src (and follows the
// secret's rotation). It logs, as JSON, what it waits for before waiting
// and how long it took after; a refused password at the ping re-reads the
// secret once.
func OpenPool(ctx context.Context, dsn string, src *PasswordSource, wait time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("coldstart: the database URL does not parse") // it may hold the password
	}
	if wait <= 0 {
		wait = DefaultDatabaseWait
	}
	cc := cfg.ConnConfig
	cc.ConnectTimeout = wait
	if src != nil {
		cfg.BeforeConnect, cfg.AfterConnect = src.BeforeConnect, src.AfterConnect
	}
	target := []any{"host", cc.Host, "port", strconv.Itoa(int(cc.Port)), "database", cc.Database, "user", cc.User, "timeout", wait.String()}
	slog.InfoContext(ctx, "cold start: waiting for the database (connect and ping)", target...)
	start := time.Now()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("coldstart: database pool: %w", err)
	}
	ping := func() error {
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		return pool.Ping(pctx)
	}
	err = ping()
	if err != nil && src != nil && IsAuthFailure(err) {
		src.invalidate()
		err = ping()
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("coldstart: database %s:%d (%s) did not answer a connect and ping within %s: %w",
			cc.Host, cc.Port, cc.Database, wait, err)
	}
	slog.InfoContext(ctx, "cold start: database ready", append(target, "waited_ms", time.Since(start).Milliseconds())...)
	return pool, nil
}
