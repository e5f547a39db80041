package coldstart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// EnvDatabaseWait overrides DefaultDatabaseWait (a Go duration, at most 1m).
const EnvDatabaseWait = "FRAMEBROKER_DATABASE_WAIT"

// Options say what a function needs before its first request.
type Options struct {
	// Function names the function (for messages).
	Function string
	// Keyring: the function signs or publishes keys, so FRAMEBROKER_KEYRING
	// must hold a valid keyring (lambdafn.NeedsKeyring).
	Keyring bool
	// DatabaseWait bounds the connect and ping (DefaultDatabaseWait if 0).
	DatabaseWait time.Duration
}

// Start is what a function has once it started.
type Start struct {
	Config config.Config
	Pool   *pgxpool.Pool
	// Keys is the parsed keyring when Options.Keyring (else nil).
	Keys *keyring.Static
	// Password follows the database secret (nil when the DSN is given
	// directly, as on the local stack).
	Password *PasswordSource
}

// ErrNoKeyring: a signing function started without a keyring. Lambda
// containers never generate their own keys: each cold start would publish
// a different key id and sign with a key nobody keeps.
var ErrNoKeyring = errors.New("coldstart: " + config.EnvKeyring + " is not set (the stack gives signing functions " +
	lambdafn.EnvKeyringSecretArn + ", a secret holding the keyring document): refusing to start without keys")

// Load reads the configuration through lookup (secrets through get),
// checks the keyring when opts.Keyring, and opens the database pool,
// bounded and logged (OpenPool).
func Load(ctx context.Context, lookup func(string) (string, bool), get SecretGetter, opts Options) (*Start, error) {
	resolved, err := ResolveSecrets(ctx, opts.Function, lookup, get)
	if err != nil {
		return nil, err
	}
	cfg, err := config.FromLookup(resolved)
	if err != nil {
		return nil, err
	}
	lambdafn.SetupLogging(cfg.LogLevel)
	st := &Start{Config: cfg}
	if opts.Keyring {
		if cfg.Keyring == "" {
			return nil, ErrNoKeyring
		}
		if st.Keys, err = keyring.ParseKeyring([]byte(cfg.Keyring)); err != nil {
			return nil, fmt.Errorf("coldstart: %s: %w", config.EnvKeyring, err)
		}
	}
	if arn, _ := lookup(lambdafn.EnvDatabaseSecretArn); arn != "" {
		if v, _ := lookup(config.EnvDatabaseURL); v == "" {
			if st.Password, err = NewPasswordSource(ctx, get, arn); err != nil {
				return nil, err
			}
		}
	}
	wait := opts.DatabaseWait
	if v, ok := lookup(EnvDatabaseWait); ok && v != "" && wait == 0 {
		if wait, err = time.ParseDuration(v); err != nil || wait <= 0 || wait > time.Minute {
			return nil, fmt.Errorf("coldstart: %s must be a duration in (0, 1m], got %q", EnvDatabaseWait, v)
		}
	}
	if st.Pool, err = OpenPool(ctx, cfg.DatabaseURL, st.Password, wait); err != nil {
		return nil, err
	}
	return st, nil
}

// LoadEnv is Load from the process environment and Secrets Manager.
func LoadEnv(ctx context.Context, opts Options) (*Start, error) {
	return Load(ctx, os.LookupEnv, &secretsManager{}, opts)
}

// SecretsManager is the SecretGetter over AWS Secrets Manager (the Lambda
// role's credentials).
func SecretsManager() SecretGetter { return &secretsManager{} }
