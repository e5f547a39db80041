package coldstart

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// fakeSecrets is an in-memory SecretGetter. The real getter (Secrets
// Manager through the AWS SDK) is not exercised offline.
type fakeSecrets struct {
	values map[string]string
	calls  []string
}

func (f *fakeSecrets) SecretString(_ context.Context, arn string) (string, error) {
	f.calls = append(f.calls, arn)
	v, ok := f.values[arn]
	if !ok {
		return "", errors.New("ResourceNotFoundException")
	}
	return v, nil
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const hardPassword = `p@ss:w/o?rd#%&'"` + " x"

func TestResolveSecrets(t *testing.T) {
	secrets := &fakeSecrets{values: map[string]string{
		"arn:app":   `{"username":"framebroker_app","password":"` + strings.ReplaceAll(hardPassword, `"`, `\"`) + `","host":"db.internal","port":5432,"dbname":"framebroker"}`,
		"arn:owner": `{"username":"framebroker_owner","password":"o","host":"db.internal","port":"6543"}`,
		"arn:cron":  "cron-secret-value",
		"arn:keys":  `{"ed25519":[],"hmac":[]}`,
		"arn:ops":   `{"FRAMEBROKER_STRIPE_KEY":"sk_live_x","FRAMEBROKER_CRON_SECRET":"not-this-one"}`,
		"arn:bad":   `{"password": "leaky-secret"`,
		"arn:evil":  `{"PATH":"/tmp"}`,
		"arn:all": `{"FRAMEBROKER_STRIPE_KEY":"sk_live_x","FRAMEBROKER_SMTP_PASSWORD":"smtp-pw","FRAMEBROKER_WEBHOOK_KEY":"wh-key",` +
			`"FRAMEBROKER_TOTP_KEY":"totp-key","FRAMEBROKER_GITHUB_CLIENT_SECRET":"gh","FRAMEBROKER_PUBLIC_URL":"https://app.example"}`,
		"arn:stripe":      `{"FRAMEBROKER_STRIPE_KEY":"sk_live_s","FRAMEBROKER_STRIPE_WEBHOOK_SECRET":"whsec_s"}`,
		"arn:smtp":        `{"FRAMEBROKER_SMTP_PASSWORD":"smtp-s"}`,
		"arn:webhook":     `{"FRAMEBROKER_WEBHOOK_KEY":"wh-s"}`,
		"arn:stripe-smtp": `{"FRAMEBROKER_STRIPE_KEY":"sk","FRAMEBROKER_SMTP_PASSWORD":"smuggled"}`,
	}}
	perPurpose := map[string]string{"FRAMEBROKER_STRIPE_SECRET_ARN": "arn:stripe", "FRAMEBROKER_SMTP_SECRET_ARN": "arn:smtp",
		"FRAMEBROKER_WEBHOOK_SECRET_ARN": "arn:webhook"}
	for _, c := range []struct {
		name     string
		function string // "checkout" when empty
		env      map[string]string
		want     map[string]string // "" = absent
		read     []string          // when set: exactly the secrets read
		wantErr  string
	}{
		{name: "local stack: nothing to resolve", env: map[string]string{config.EnvDatabaseURL: "postgres://local"},
			want: map[string]string{config.EnvDatabaseURL: "postgres://local"}},
		{name: "app database", env: map[string]string{lambdafn.EnvDatabaseSecretArn: "arn:app"},
			want: map[string]string{config.EnvDatabaseURL: "check-dsn"}},
		{name: "owner database, string port, default dbname", env: map[string]string{lambdafn.EnvOwnerDatabaseSecretArn: "arn:owner"},
			want: map[string]string{config.EnvOwnerDatabaseURL: "postgres://framebroker_owner:o@db.internal:6543/postgres?sslmode=require"}},
		{name: "explicit value wins over the secret", env: map[string]string{config.EnvCronSecret: "set", lambdafn.EnvCronSecretArn: "arn:cron"},
			want: map[string]string{config.EnvCronSecret: "set"}},
		{name: "cron secret", env: map[string]string{lambdafn.EnvCronSecretArn: "arn:cron"},
			want: map[string]string{config.EnvCronSecret: "cron-secret-value"}},
		{name: "keyring document", env: map[string]string{lambdafn.EnvKeyringSecretArn: "arn:keys"},
			want: map[string]string{config.EnvKeyring: `{"ed25519":[],"hmac":[]}`}},
		{name: "operator secrets fill, dedicated secrets win", env: map[string]string{lambdafn.EnvCronSecretArn: "arn:cron", lambdafn.EnvSecretsArn: "arn:ops"},
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "sk_live_x", config.EnvCronSecret: "cron-secret-value"}},
		{name: "ledger takes no operator secret", function: "ledger", env: map[string]string{lambdafn.EnvSecretsArn: "arn:all"},
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "", "FRAMEBROKER_SMTP_PASSWORD": "", "FRAMEBROKER_WEBHOOK_KEY": "",
				"FRAMEBROKER_TOTP_KEY": "", "FRAMEBROKER_GITHUB_CLIENT_SECRET": "", "FRAMEBROKER_PUBLIC_URL": "https://app.example"}},
		{name: "webhooks takes sealing and smtp only", function: "webhooks", env: map[string]string{lambdafn.EnvSecretsArn: "arn:all"},
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "", "FRAMEBROKER_SMTP_PASSWORD": "smtp-pw", "FRAMEBROKER_WEBHOOK_KEY": "wh-key",
				"FRAMEBROKER_TOTP_KEY": "", "FRAMEBROKER_GITHUB_CLIENT_SECRET": ""}},
		{name: "auth takes totp, oauth, smtp", function: "auth", env: map[string]string{lambdafn.EnvSecretsArn: "arn:all"},
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "", "FRAMEBROKER_SMTP_PASSWORD": "smtp-pw", "FRAMEBROKER_WEBHOOK_KEY": "",
				"FRAMEBROKER_TOTP_KEY": "totp-key", "FRAMEBROKER_GITHUB_CLIENT_SECRET": "gh"}},
		{name: "per-purpose: checkout reads stripe and smtp, never the sealing key", env: perPurpose,
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "sk_live_s", "FRAMEBROKER_STRIPE_WEBHOOK_SECRET": "whsec_s",
				"FRAMEBROKER_SMTP_PASSWORD": "smtp-s", "FRAMEBROKER_WEBHOOK_KEY": ""},
			read: []string{"arn:smtp", "arn:stripe"}},
		{name: "per-purpose: jobs reads smtp only", function: "jobs", env: perPurpose,
			want: map[string]string{"FRAMEBROKER_STRIPE_KEY": "", "FRAMEBROKER_SMTP_PASSWORD": "smtp-s", "FRAMEBROKER_WEBHOOK_KEY": ""},
			read: []string{"arn:smtp"}},
		{name: "per-purpose: health reads nothing", function: "health", env: perPurpose, read: []string{}},
		{name: "per-purpose secret may not set another purpose's key", env: map[string]string{"FRAMEBROKER_STRIPE_SECRET_ARN": "arn:stripe-smtp"},
			wantErr: "not a stripe setting"},
		{name: "missing secret", env: map[string]string{lambdafn.EnvDatabaseSecretArn: "arn:nope"}, wantErr: "ResourceNotFoundException"},
		{name: "malformed secret is not quoted", env: map[string]string{lambdafn.EnvDatabaseSecretArn: "arn:bad"}, wantErr: "not valid JSON"},
		{name: "operator secret may not set other variables", env: map[string]string{lambdafn.EnvSecretsArn: "arn:evil"}, wantErr: "not a FRAMEBROKER_ setting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			secrets.calls = nil
			fn := c.function
			if fn == "" {
				fn = "checkout"
			}
			lookup, err := ResolveSecrets(context.Background(), fn, env(c.env), secrets)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "leaky-secret") {
					t.Fatal("error quotes the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range c.want {
				got, _ := lookup(k)
				if want == "check-dsn" {
					cfg, err := pgx.ParseConfig(got)
					if err != nil {
						t.Fatalf("DSN does not parse: %v", err)
					}
					if cfg.User != "framebroker_app" || cfg.Password != hardPassword || cfg.Host != "db.internal" || cfg.Port != 5432 || cfg.Database != "framebroker" {
						t.Fatalf("DSN round trip: %+v", cfg)
					}
					continue
				}
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if c.read != nil {
				got := slices.Sorted(slices.Values(secrets.calls))
				if !slices.Equal(got, c.read) {
					t.Errorf("read secrets %v, want exactly %v", got, c.read)
				}
			}
			if len(c.env) == 1 && c.env[config.EnvDatabaseURL] != "" && len(secrets.calls) != 0 {
				t.Fatalf("Secrets Manager called without an ARN: %v", secrets.calls)
			}
		})
	}
}

// TestOperatorSecretKeys: every setting an operator secret may hold is a
// configuration variable (a typo would silently never be read), and the
// purposes do not overlap.
func TestOperatorSecretKeys(t *testing.T) {
	known := map[string]bool{}
	for _, k := range []string{config.EnvStripeKey, config.EnvStripeWebhook, config.EnvSMTPAddr, config.EnvSMTPUsername,
		config.EnvSMTPPassword, config.EnvMailFrom, config.EnvTOTPKey, config.EnvWebhookKey, config.EnvGoogleClientID,
		config.EnvGoogleSecret, config.EnvGitHubClientID, config.EnvGitHubSecret} {
		known[k] = true
	}
	seen := map[string]string{}
	for _, s := range lambdafn.OperatorSecrets {
		for _, k := range s.Keys {
			if !known[k] {
				t.Errorf("%s: %s is not a configuration variable", s.Purpose, k)
			}
			if p, dup := seen[k]; dup {
				t.Errorf("%s is in both %s and %s", k, p, s.Purpose)
			}
			seen[k] = s.Purpose
		}
	}
	for fn, ps := range lambdafn.FunctionSecrets {
		for _, p := range ps {
			if !slices.ContainsFunc(lambdafn.OperatorSecrets, func(s lambdafn.OperatorSecret) bool { return s.Purpose == p }) {
				t.Errorf("%s: unknown purpose %s", fn, p)
			}
		}
	}
}

func TestDatabaseSecretRefusesIncomplete(t *testing.T) {
	for _, raw := range []string{
		`{"username":"u","host":"h"}`,
		`{"password":"p","host":"h"}`,
		`{"username":"u","password":"p"}`,
		`{"username":"u","password":"p","host":"h","port":"54x"}`,
	} {
		s, err := ParseDatabaseSecret(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DSN(); err == nil {
			t.Errorf("%s: DSN built", raw)
		}
	}
}

// FuzzDatabaseSecret: whatever the secret holds, DSN either refuses it or
// builds a DSN that pgx parses back to the same user, password and host.
func FuzzDatabaseSecret(f *testing.F) {
	f.Add(`{"username":"framebroker_app","password":"p","host":"db","port":5432,"dbname":"framebroker"}`)
	f.Add(`{"username":"u@x","password":"a:b/c?d#e","host":"10.0.0.1","port":"5432"}`)
	f.Add(`{"username":"u","password":"p","host":"::1"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseDatabaseSecret(raw)
		if err != nil {
			return
		}
		dsn, err := s.DSN()
		if err != nil {
			return
		}
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return // e.g. a host pgx cannot resolve the syntax of; never a wrong identity
		}
		if cfg.User != s.Username || cfg.Password != s.Password {
			t.Fatalf("round trip changed the identity: %q/%q → %q/%q", s.Username, s.Password, cfg.User, cfg.Password)
		}
	})
}
