// Package config reads Framebroker's runtime configuration from the
// environment. The same variables configure a Lambda in AWS and the local
// stack; only their values differ.
package config

import (
	"fmt"
	"os"
	"time"
)

// Config is everything a Framebroker process needs to wire its dependencies.
type Config struct {
	// DatabaseURL is the DSN of the application role (no BYPASSRLS).
	DatabaseURL string
	// OwnerDatabaseURL is the DSN of the role that owns the schema and runs
	// migrations. Empty in request-serving Lambdas.
	OwnerDatabaseURL string

	// S3Endpoint overrides the S3 endpoint (versitygw locally); empty in AWS.
	S3Endpoint string
	// S3Region is the bucket region.
	S3Region string
	// S3AccessKey and S3SecretKey are static credentials for the local S3
	// server; empty in AWS, where the Lambda role is used.
	S3AccessKey string
	S3SecretKey string
	// MediaBucket holds uploaded assets and encode outputs.
	MediaBucket string

	// UploadTTL bounds presigned upload URLs (at most one hour).
	UploadTTL time.Duration

	// Addr is the local HTTP listen address (FRAMEBROKER_ADDR).
	Addr string
	// LogLevel is the slog level name (debug, info, warn, error).
	LogLevel string

	// SMTPAddr is the mail server (host:port): SES's SMTP endpoint in AWS, a
	// local catcher in development; empty drops mail (logged).
	SMTPAddr     string
	SMTPUsername string
	SMTPPassword string
	// MailFrom is the sender of transactional mail.
	MailFrom string
	// PublicURL is the web app's base URL, which mailed links point to.
	PublicURL string
	// APIURL is this API's public base URL (OAuth redirect URIs).
	APIURL string
	// OAuth client credentials; a provider is enabled when its id is set.
	GoogleClientID     string
	GoogleClientSecret string
	GitHubClientID     string
	GitHubClientSecret string

	// WebhookKey is the base64 of the 32-byte AES-GCM key that seals webhook
	// secrets at rest; empty: endpoints cannot be created (503).
	WebhookKey string
	// TOTPKey is the base64 of the 32-byte AES-GCM key that seals TOTP
	// secrets at rest; empty: second factors cannot be enrolled or checked
	// (503).
	TOTPKey string
	// WebhookAllowCIDRs lists address ranges webhook deliveries may reach
	// despite the SSRF guard (comma-separated; loopback locally, empty in
	// production).
	WebhookAllowCIDRs string
	// CronSecret authenticates calls to /internal/cron/{name}; empty refuses
	// every call.
	CronSecret string
	// EncodeBackend selects the encode provider: "local" (the synthesized
	// state machine under aws-local-stepfunctions, worker as a child
	// process) or "stepfunctions" (AWS).
	EncodeBackend string
	// NodeBin, SFNModule and WorkerBin locate the local runner's parts.
	NodeBin   string
	SFNModule string
	WorkerBin string
	// StateMachineARN is the encode-job state machine in AWS.
	StateMachineARN string
	// ProbeFunction names the probe Lambda (shared/media/probefn) that
	// runs ffprobe for the assets and pipeline functions in AWS; empty:
	// ffprobe runs in this process (locally).
	ProbeFunction string

	// Keyring is the signing keyring document (keyring.json format) in AWS,
	// resolved from the operator's secret at cold start; empty locally,
	// where the keyring file under FRAMEBROKER_KEYRING_DIR is used.
	Keyring string

	// StripeKey is the Stripe secret key (sk_…); empty: checkout and the
	// card check answer 503.
	StripeKey string
	// StripeURL overrides the Stripe API base URL (stripe-mock locally);
	// empty in AWS.
	StripeURL string
	// StripeWebhookSecret (whsec_…) verifies Stripe-Signature on
	// /v1/stripe/webhook; empty refuses every event.
	StripeWebhookSecret string

	// DeletionGrace is how long after DELETE /v1/workspaces/{ws} the purge
	// may remove the workspace (at most 30 days; 0 in tests).
	DeletionGrace time.Duration
}

// Env variable names, shared by the local stack (which writes them) and the
// processes that read them.
const (
	EnvDatabaseURL      = "FRAMEBROKER_DATABASE_URL"
	EnvOwnerDatabaseURL = "FRAMEBROKER_OWNER_DATABASE_URL"
	EnvAdminDatabaseURL = "FRAMEBROKER_ADMIN_DATABASE_URL"
	EnvS3Endpoint       = "FRAMEBROKER_S3_ENDPOINT"
	EnvS3Region         = "FRAMEBROKER_S3_REGION"
	EnvS3AccessKey      = "FRAMEBROKER_S3_ACCESS_KEY"
	EnvS3SecretKey      = "FRAMEBROKER_S3_SECRET_KEY"
	EnvMediaBucket      = "FRAMEBROKER_MEDIA_BUCKET"
	EnvUploadTTL        = "FRAMEBROKER_UPLOAD_TTL"
	EnvAddr             = "FRAMEBROKER_ADDR"
	EnvLogLevel         = "FRAMEBROKER_LOG_LEVEL"
	EnvSMTPAddr         = "FRAMEBROKER_SMTP_ADDR"
	EnvSMTPUsername     = "FRAMEBROKER_SMTP_USERNAME"
	EnvSMTPPassword     = "FRAMEBROKER_SMTP_PASSWORD"
	EnvMailFrom         = "FRAMEBROKER_MAIL_FROM"
	EnvPublicURL        = "FRAMEBROKER_PUBLIC_URL"
	EnvAPIURL           = "FRAMEBROKER_API_URL"
	EnvGoogleClientID   = "FRAMEBROKER_GOOGLE_CLIENT_ID"
	EnvGoogleSecret     = "FRAMEBROKER_GOOGLE_CLIENT_SECRET"
	EnvGitHubClientID   = "FRAMEBROKER_GITHUB_CLIENT_ID"
	EnvGitHubSecret     = "FRAMEBROKER_GITHUB_CLIENT_SECRET"
	EnvWebhookKey       = "FRAMEBROKER_WEBHOOK_KEY"
	EnvTOTPKey          = "FRAMEBROKER_TOTP_KEY"
	EnvWebhookAllow     = "FRAMEBROKER_WEBHOOK_ALLOW_CIDRS"
	EnvCronSecret       = "FRAMEBROKER_CRON_SECRET"
	EnvDeletionGrace    = "FRAMEBROKER_DELETION_GRACE"
	EnvKeyring          = "FRAMEBROKER_KEYRING"
	EnvEncodeBackend    = "FRAMEBROKER_ENCODE_BACKEND"
	EnvNodeBin          = "FRAMEBROKER_NODE"
	EnvSFNModule        = "FRAMEBROKER_SFN_MODULE"
	EnvWorkerBin        = "FRAMEBROKER_WORKER"
	EnvStateMachineARN  = "FRAMEBROKER_STATE_MACHINE_ARN"
	EnvProbeFunction    = "FRAMEBROKER_PROBE_FUNCTION"
	EnvStripeKey        = "FRAMEBROKER_STRIPE_KEY"
	EnvStripeURL        = "FRAMEBROKER_STRIPE_URL"
	EnvStripeWebhook    = "FRAMEBROKER_STRIPE_WEBHOOK_SECRET"
)

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) {
	return FromLookup(os.LookupEnv)
}

// FromLookup reads the configuration through lookup, so tests can supply a map.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL:      get(EnvDatabaseURL, ""),
		OwnerDatabaseURL: get(EnvOwnerDatabaseURL, ""),
		S3Endpoint:       get(EnvS3Endpoint, ""),
		S3Region:         get(EnvS3Region, "us-east-1"),
		S3AccessKey:      get(EnvS3AccessKey, ""),
		S3SecretKey:      get(EnvS3SecretKey, ""),
		MediaBucket:      get(EnvMediaBucket, ""),
		Addr:             get(EnvAddr, "127.0.0.1:8080"),
		LogLevel:         get(EnvLogLevel, "info"),
		UploadTTL:        15 * time.Minute,

		SMTPAddr:           get(EnvSMTPAddr, ""),
		SMTPUsername:       get(EnvSMTPUsername, ""),
		SMTPPassword:       get(EnvSMTPPassword, ""),
		MailFrom:           get(EnvMailFrom, "Framebroker <no-reply@framebroker.dev>"),
		PublicURL:          get(EnvPublicURL, "http://127.0.0.1:8080"),
		APIURL:             get(EnvAPIURL, "http://127.0.0.1:8080"),
		GoogleClientID:     get(EnvGoogleClientID, ""),
		GoogleClientSecret: get(EnvGoogleSecret, ""),
		GitHubClientID:     get(EnvGitHubClientID, ""),
		GitHubClientSecret: get(EnvGitHubSecret, ""),

		WebhookKey:        get(EnvWebhookKey, ""),
		TOTPKey:           get(EnvTOTPKey, ""),
		WebhookAllowCIDRs: get(EnvWebhookAllow, ""),
		CronSecret:        get(EnvCronSecret, ""),
		DeletionGrace:     7 * 24 * time.Hour,

		Keyring:         get(EnvKeyring, ""),
		EncodeBackend:   get(EnvEncodeBackend, "stepfunctions"),
		NodeBin:         get(EnvNodeBin, ""),
		SFNModule:       get(EnvSFNModule, ""),
		WorkerBin:       get(EnvWorkerBin, ""),
		StateMachineARN: get(EnvStateMachineARN, ""),
		ProbeFunction:   get(EnvProbeFunction, ""),

		StripeKey:           get(EnvStripeKey, ""),
		StripeURL:           get(EnvStripeURL, ""),
		StripeWebhookSecret: get(EnvStripeWebhook, ""),
	}
	if v := get(EnvDeletionGrace, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return Config{}, fmt.Errorf("config: %s must be a duration in [0, 720h], got %q", EnvDeletionGrace, v)
		}
		c.DeletionGrace = d
	}
	if v := get(EnvUploadTTL, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", EnvUploadTTL, err)
		}
		c.UploadTTL = d
	}
	if c.UploadTTL <= 0 || c.UploadTTL > time.Hour {
		return Config{}, fmt.Errorf("config: %s must be in (0, 1h], got %s", EnvUploadTTL, c.UploadTTL)
	}
	if c.DatabaseURL == "" {
		return Config{}, fmt.Errorf("config: %s is required", EnvDatabaseURL)
	}
	if c.MediaBucket == "" {
		return Config{}, fmt.Errorf("config: %s is required", EnvMediaBucket)
	}
	return c, nil
}

// Environ renders the configuration as KEY=VALUE lines, the inverse of
// FromEnv; the local stack writes it to .local/<name>/env.
func (c Config) Environ() []string {
	return []string{
		EnvDatabaseURL + "=" + c.DatabaseURL,
		EnvOwnerDatabaseURL + "=" + c.OwnerDatabaseURL,
		EnvS3Endpoint + "=" + c.S3Endpoint,
		EnvS3Region + "=" + c.S3Region,
		EnvS3AccessKey + "=" + c.S3AccessKey,
		EnvS3SecretKey + "=" + c.S3SecretKey,
		EnvMediaBucket + "=" + c.MediaBucket,
		EnvUploadTTL + "=" + c.UploadTTL.String(),
		EnvAddr + "=" + c.Addr,
		EnvLogLevel + "=" + c.LogLevel,
		EnvWebhookKey + "=" + c.WebhookKey,
		EnvTOTPKey + "=" + c.TOTPKey,
		EnvWebhookAllow + "=" + c.WebhookAllowCIDRs,
		EnvCronSecret + "=" + c.CronSecret,
		EnvDeletionGrace + "=" + c.DeletionGrace.String(),
		EnvEncodeBackend + "=" + c.EncodeBackend,
		EnvNodeBin + "=" + c.NodeBin,
		EnvSFNModule + "=" + c.SFNModule,
		EnvWorkerBin + "=" + c.WorkerBin,
		EnvStateMachineARN + "=" + c.StateMachineARN,
		EnvProbeFunction + "=" + c.ProbeFunction,
		EnvStripeKey + "=" + c.StripeKey,
		EnvStripeURL + "=" + c.StripeURL,
		EnvStripeWebhook + "=" + c.StripeWebhookSecret,
	}
}
