// Package coldstart is a Lambda's start-up: the configuration with its
// secrets read from Secrets Manager, the keyring a signing function needs,
// and a database pool whose connect is bounded and logged and which
// follows rotation of its secret. Every failure here is returned for
// lambdafn.Fatal to log as JSON and exit non-zero before the first request.
package coldstart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/awsenv"
)

// SecretGetter reads a secret's string value.
type SecretGetter interface {
	SecretString(ctx context.Context, arn string) (string, error)
}

// DatabaseSecret is the JSON layout RDS and the CDK stack use for database
// secrets. Port is a number in RDS's secrets and may be a string in ours.
type DatabaseSecret struct {
	Username string          `json:"username"`
	Password string          `json:"password"`
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"`
	DBName   string          `json:"dbname"`
}

// DSN is the secret as a pgx connection string, TLS required.
func (s DatabaseSecret) DSN() (string, error) {
	port := strings.Trim(string(s.Port), `"`)
	if port == "" {
		port = "5432"
	}
	if s.Username == "" || s.Password == "" || s.Host == "" {
		return "", errors.New("coldstart: database secret lacks username, password or host")
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", errors.New("coldstart: database secret port is not a number")
		}
	}
	db := s.DBName
	if db == "" {
		db = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.Username, s.Password),
		Host:     net.JoinHostPort(s.Host, port),
		Path:     "/" + db,
		RawQuery: "sslmode=require",
	}
	return u.String(), nil
}

// ParseDatabaseSecret decodes a database secret's JSON.
func ParseDatabaseSecret(raw string) (DatabaseSecret, error) {
	var s DatabaseSecret
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		// The error would quote the secret: say only that it is malformed.
		return DatabaseSecret{}, errors.New("coldstart: database secret is not valid JSON")
	}
	return s, nil
}

// ResolveSecrets returns lookup with every configuration value that has a
// secret ARN (and no value of its own) filled from Secrets Manager through
// get. Without any ARN set (the local stack) get is never called. Of the
// operator's settings, function takes only those of its purposes
// (lambdafn.FunctionSecrets): it reads only its own per-purpose secrets,
// and from the single operator secret (lambdafn.EnvSecretsArn) keeps only
// their keys.
func ResolveSecrets(ctx context.Context, function string, lookup func(string) (string, bool), get SecretGetter) (func(string) (string, bool), error) {
	filled := map[string]string{}
	set := func(k string) bool { v, ok := lookup(k); return ok && v != "" }
	for _, s := range []struct {
		arnEnv, env string
		database    bool
	}{
		{lambdafn.EnvDatabaseSecretArn, config.EnvDatabaseURL, true},
		{lambdafn.EnvOwnerDatabaseSecretArn, config.EnvOwnerDatabaseURL, true},
		{lambdafn.EnvCronSecretArn, config.EnvCronSecret, false},
		{lambdafn.EnvKeyringSecretArn, config.EnvKeyring, false},
	} {
		arn, _ := lookup(s.arnEnv)
		if arn == "" || set(s.env) {
			continue
		}
		v, err := get.SecretString(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("coldstart: read secret %s: %w", s.arnEnv, err)
		}
		if s.database {
			sec, err := ParseDatabaseSecret(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.arnEnv, err)
			}
			if v, err = sec.DSN(); err != nil {
				return nil, fmt.Errorf("%s: %w", s.arnEnv, err)
			}
		}
		filled[s.env] = v
	}
	purposes := lambdafn.FunctionSecrets[function]
	for _, sec := range lambdafn.OperatorSecrets {
		arn, _ := lookup(sec.ArnEnv)
		if arn == "" || !slices.Contains(purposes, sec.Purpose) {
			continue
		}
		m, err := settingsSecret(ctx, get, sec.ArnEnv, arn)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			if !slices.Contains(sec.Keys, k) {
				return nil, fmt.Errorf("coldstart: %s: key %q is not a %s setting", sec.ArnEnv, k, sec.Purpose)
			}
			if _, done := filled[k]; !done && !set(k) {
				filled[k] = v
			}
		}
	}
	if arn, _ := lookup(lambdafn.EnvSecretsArn); arn != "" {
		m, err := settingsSecret(ctx, get, lambdafn.EnvSecretsArn, arn)
		if err != nil {
			return nil, err
		}
		mine := lambdafn.OperatorKeys(function)
		for k, v := range m {
			if lambdafn.OperatorKey(k) && !slices.Contains(mine, k) {
				continue // another function's secret
			}
			if _, done := filled[k]; !done && !set(k) {
				filled[k] = v
			}
		}
	}
	return func(k string) (string, bool) {
		if v, ok := filled[k]; ok {
			return v, true
		}
		return lookup(k)
	}, nil
}

// NewSecretsManagerClient is the Secrets Manager client of a Lambda
// function: its role's credentials and region from the environment
// (awsenv), AWS_ENDPOINT_URL_SECRETS_MANAGER honoured.
func NewSecretsManagerClient() (*secretsmanager.Client, error) {
	cfg, err := awsenv.Config()
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = awsenv.Endpoint("SECRETS_MANAGER") }), nil
}

// settingsSecret reads the secret arn (named by env) as a JSON object of
// FRAMEBROKER_* settings.
func settingsSecret(ctx context.Context, get SecretGetter, env, arn string) (map[string]string, error) {
	v, err := get.SecretString(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("coldstart: read secret %s: %w", env, err)
	}
	var m map[string]string
	if json.Unmarshal([]byte(v), &m) != nil {
		return nil, fmt.Errorf("coldstart: %s is not a JSON object of strings", env)
	}
	for k := range m {
		if !strings.HasPrefix(k, "FRAMEBROKER_") || strings.HasSuffix(k, "_ARN") {
			return nil, fmt.Errorf("coldstart: %s: key %q is not a FRAMEBROKER_ setting", env, k)
		}
	}
	return m, nil
}

// secretsManager is the SecretGetter over AWS Secrets Manager, built on
// first use with the Lambda role's credentials.
type secretsManager struct{ client *secretsmanager.Client }

func (s *secretsManager) SecretString(ctx context.Context, arn string) (string, error) {
	if s.client == nil {
		c, err := NewSecretsManagerClient()
		if err != nil {
			return "", err
		}
		s.client = c
	}
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("secret has no string value")
	}
	return *out.SecretString, nil
}

// AppRolePassword reads framebroker_app's password from its secret.
func AppRolePassword(ctx context.Context, lookup func(string) (string, bool), get SecretGetter) (string, error) {
	arn, _ := lookup(lambdafn.EnvDatabaseSecretArn)
	if arn == "" {
		return "", fmt.Errorf("coldstart: %s is not set", lambdafn.EnvDatabaseSecretArn)
	}
	v, err := get.SecretString(ctx, arn)
	if err != nil {
		return "", err
	}
	s, err := ParseDatabaseSecret(v)
	if err != nil {
		return "", err
	}
	if s.Password == "" {
		return "", errors.New("coldstart: app role secret has no password")
	}
	return s.Password, nil
}
