package lambdafn

import "os"

// Environment variables naming the Secrets Manager secrets the CDK stack
// gives a Lambda. Each is read at cold start (package coldstart) and fills
// the configuration value it stands for; the values never appear in the
// Lambda's environment or in the template.
const (
	// EnvDatabaseSecretArn: framebroker_app's secret (RDS JSON: username,
	// password, host, port, dbname) → config.EnvDatabaseURL. Re-read when a
	// connection attempt fails, so the functions follow its rotation.
	EnvDatabaseSecretArn = "FRAMEBROKER_DATABASE_SECRET_ARN"
	// EnvOwnerDatabaseSecretArn: the schema owner's secret, given to the
	// migrate Lambda only → config.EnvOwnerDatabaseURL.
	EnvOwnerDatabaseSecretArn = "FRAMEBROKER_OWNER_DATABASE_SECRET_ARN"
	// EnvCronSecretArn: a plain-string secret → config.EnvCronSecret. The
	// cron Lambda reads it itself, so schedule targets carry no secret.
	EnvCronSecretArn = "FRAMEBROKER_CRON_SECRET_ARN"
	// EnvKeyringSecretArn: a plain-string secret holding the signing
	// keyring document (keyring.json format) → config.EnvKeyring.
	EnvKeyringSecretArn = "FRAMEBROKER_KEYRING_SECRET_ARN"
	// EnvSecretsArn: the operator's secret, a JSON object of FRAMEBROKER_*
	// variables (Stripe key, webhook sealing key, SMTP and OAuth secrets…),
	// each filling its variable unless the environment sets it.
	EnvSecretsArn = "FRAMEBROKER_SECRETS_ARN"
)

// EnvRuntimeAPI is set by the Lambda runtime (and the Runtime Interface
// Emulator) in every function's environment.
const EnvRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// InLambda reports whether the process runs as a Lambda function.
func InLambda() bool { return os.Getenv(EnvRuntimeAPI) != "" }

// KeyringFunctions are the functions whose routes or jobs sign or publish
// with the keyring (ledger checkpoints, provenance manifests, the public
// key set, retention trims, workspace deletion): in Lambda they refuse to
// start without FRAMEBROKER_KEYRING, and only they are given the keyring
// secret. Every other function runs without keys and never generates any.
var KeyringFunctions = []string{"ledger", "provenance", "releases", "workspaces", "pipeline", "cron"}

// NeedsKeyring reports whether function is one of KeyringFunctions.
func NeedsKeyring(function string) bool {
	for _, f := range KeyringFunctions {
		if f == function {
			return true
		}
	}
	return false
}
