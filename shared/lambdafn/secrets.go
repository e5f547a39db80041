package lambdafn

import "slices"

// OperatorSecret is one purpose of the operator's secret settings: the
// FRAMEBROKER_* variables it may set. The operator gives them either as
// one JSON secret (EnvSecretsArn, every purpose in one object) or as one
// JSON secret per purpose (ArnEnv); either way a function takes only the
// settings of the purposes FunctionSecrets gives it, and a per-purpose
// secret may set only its own Keys.
type OperatorSecret struct {
	// Purpose names it ("stripe", "smtp", …).
	Purpose string
	// ArnEnv names the per-purpose secret's ARN in a function's
	// environment.
	ArnEnv string
	// Keys are the settings it holds.
	Keys []string
}

// The operator secrets' purposes.
const (
	SecretStripe  = "stripe"
	SecretSMTP    = "smtp"
	SecretTOTP    = "totp"
	SecretWebhook = "webhook-sealing"
	SecretOAuth   = "oauth"
)

// OperatorSecrets are the purposes and the settings each holds (names as
// in shared/config; coldstart's tests check they are configuration
// variables).
var OperatorSecrets = []OperatorSecret{
	{SecretStripe, "FRAMEBROKER_STRIPE_SECRET_ARN", []string{"FRAMEBROKER_STRIPE_KEY", "FRAMEBROKER_STRIPE_WEBHOOK_SECRET"}},
	{SecretSMTP, "FRAMEBROKER_SMTP_SECRET_ARN", []string{"FRAMEBROKER_SMTP_ADDR", "FRAMEBROKER_SMTP_USERNAME", "FRAMEBROKER_SMTP_PASSWORD", "FRAMEBROKER_MAIL_FROM"}},
	{SecretTOTP, "FRAMEBROKER_TOTP_SECRET_ARN", []string{"FRAMEBROKER_TOTP_KEY"}},
	{SecretWebhook, "FRAMEBROKER_WEBHOOK_SECRET_ARN", []string{"FRAMEBROKER_WEBHOOK_KEY"}},
	{SecretOAuth, "FRAMEBROKER_OAUTH_SECRET_ARN", []string{"FRAMEBROKER_GOOGLE_CLIENT_ID", "FRAMEBROKER_GOOGLE_CLIENT_SECRET",
		"FRAMEBROKER_GITHUB_CLIENT_ID", "FRAMEBROKER_GITHUB_CLIENT_SECRET"}},
}

// FunctionSecrets are the operator secrets each function's wiring uses
// (a function not listed uses none):
//   - stripe: only checkout builds the Stripe client and verifies Stripe's
//     webhook;
//   - totp and oauth: only auth serves the second factor and OAuth sign-in
//     (the guard's session check in every function uses neither);
//   - webhook-sealing: webhooks seals endpoint secrets, cron opens them to
//     sign retried deliveries (the purge function runs cron's bootstrap);
//   - smtp: the functions whose work queues mail deliver it right after
//     commit (sign-up, invitations, spend alerts on submission, job end,
//     credit purchases, endpoint notices) and cron's mail-outbox job
//     delivers the rest; a function without it leaves its mail queued for
//     the outbox job.
var FunctionSecrets = map[string][]string{
	"auth":       {SecretSMTP, SecretTOTP, SecretOAuth},
	"checkout":   {SecretStripe, SecretSMTP},
	"cron":       {SecretSMTP, SecretWebhook},
	"purge":      {SecretSMTP, SecretWebhook},
	"jobs":       {SecretSMTP},
	"pipeline":   {SecretSMTP},
	"webhooks":   {SecretSMTP, SecretWebhook},
	"workspaces": {SecretSMTP},
}

// OperatorKeys are the operator settings function may take: the keys of
// its purposes (FunctionSecrets).
func OperatorKeys(function string) []string {
	var keys []string
	for _, s := range OperatorSecrets {
		if slices.Contains(FunctionSecrets[function], s.Purpose) {
			keys = append(keys, s.Keys...)
		}
	}
	return keys
}

// OperatorKey reports whether key belongs to one of the operator secrets'
// purposes (settings outside them, if the operator's secret holds any, are
// not secret-scoped and every function takes them).
func OperatorKey(key string) bool {
	for _, s := range OperatorSecrets {
		if slices.Contains(s.Keys, key) {
			return true
		}
	}
	return false
}
