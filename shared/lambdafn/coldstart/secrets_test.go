package coldstart

import (
	"context"
	"errors"
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
	}}
	for _, c := range []struct {
		name    string
		env     map[string]string
		want    map[string]string
		wantErr string
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
		{name: "missing secret", env: map[string]string{lambdafn.EnvDatabaseSecretArn: "arn:nope"}, wantErr: "ResourceNotFoundException"},
		{name: "malformed secret is not quoted", env: map[string]string{lambdafn.EnvDatabaseSecretArn: "arn:bad"}, wantErr: "not valid JSON"},
		{name: "operator secret may not set other variables", env: map[string]string{lambdafn.EnvSecretsArn: "arn:evil"}, wantErr: "not a FRAMEBROKER_ setting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			secrets.calls = nil
			lookup, err := ResolveSecrets(context.Background(), env(c.env), secrets)
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
			if len(c.env) == 1 && c.env[config.EnvDatabaseURL] != "" && len(secrets.calls) != 0 {
				t.Fatalf("Secrets Manager called without an ARN: %v", secrets.calls)
			}
		})
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
