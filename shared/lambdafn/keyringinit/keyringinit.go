// Package keyringinit is the keyring-init custom resource Lambda: it fills
// the stack's keyring secret with fresh signing keys on the first deploy
// (infra/stack keyring.go), inside AWS, so no key material passes through
// the template or the deploying machine.
package keyringinit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
)

// EnvSecretArn names the secret the custom resource fills.
const EnvSecretArn = "FRAMEBROKER_KEYRING_INIT_SECRET_ARN"

// SecretStore reads and replaces a secret's string value.
type SecretStore interface {
	coldstart.SecretGetter
	PutSecretString(ctx context.Context, arn, value string) error
}

// Handler is the keyring-init custom resource: on Create and Update it
// makes the keyring secret hold a keyring. The stack creates the secret
// with a random placeholder; the first run replaces it with
// keyring.NewKeyring (an Ed25519 key and an HMAC secret generated here,
// inside AWS). A secret that already holds a keyring is never touched, and
// one that holds something keyring-shaped but invalid is refused rather
// than overwritten (its keys may still verify published signatures).
// Delete does nothing: the secret is retained. No key material is returned
// to CloudFormation.
func Handler(store SecretStore, arn string, now func() time.Time) cfn.CustomResourceFunction {
	return func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		if ev.RequestType == cfn.RequestDelete {
			return ev.PhysicalResourceID, nil, nil
		}
		if arn == "" {
			return "", nil, fmt.Errorf("keyringinit: %s is not set", EnvSecretArn)
		}
		cur, err := store.SecretString(ctx, arn)
		if err != nil {
			// Never overwrite what could not be read.
			return arn, nil, fmt.Errorf("keyringinit: read keyring secret: %w", err)
		}
		if _, err := keyring.ParseKeyring([]byte(cur)); err == nil {
			slog.InfoContext(ctx, "keyring secret already holds a keyring; kept")
			return arn, nil, nil
		}
		var shape map[string]json.RawMessage
		if json.Unmarshal([]byte(cur), &shape) == nil && (shape["ed25519"] != nil || shape["hmac"] != nil) {
			return arn, nil, errors.New("keyringinit: the keyring secret holds an invalid keyring; refusing to replace it (repair it by hand)")
		}
		doc, err := keyring.NewKeyring(now())
		if err != nil {
			return arn, nil, err
		}
		if err := store.PutSecretString(ctx, arn, string(doc)); err != nil {
			return arn, nil, fmt.Errorf("keyringinit: write keyring secret: %w", err)
		}
		slog.InfoContext(ctx, "keyring secret filled with new keys")
		return arn, nil, nil
	}
}

// secretsManager is SecretStore over AWS Secrets Manager with the
// function role's credentials: reads through coldstart's getter, writes
// with a client built on first use.
type secretsManager struct {
	coldstart.SecretGetter
	client *secretsmanager.Client
}

// PutSecretString stores value as the secret's new current version.
func (s *secretsManager) PutSecretString(ctx context.Context, arn, value string) error {
	if s.client == nil {
		c, err := coldstart.NewSecretsManagerClient()
		if err != nil {
			return err
		}
		s.client = c
	}
	_, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &arn, SecretString: &value})
	return err
}

// Main runs the keyring-init custom resource Lambda. Every failure, a
// missing setting included, is answered to CloudFormation.
func Main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	lambda.Start(cfn.LambdaWrap(Handler(&secretsManager{SecretGetter: coldstart.SecretsManager()}, os.Getenv(EnvSecretArn), time.Now)))
}
