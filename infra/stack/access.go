package stack

import (
	"fmt"
	"sort"

	"github.com/framebroker/framebroker/shared/cron"
)

// Functions the stack deploys beyond the router table's and the fixed ones.
const (
	// PurgeFunction runs the workspace-purge cron with the cron bootstrap
	// but its own role: the only role that may delete object versions.
	PurgeFunction = "purge"
	// KeyringInitFunction serves the custom resource that fills the
	// keyring secret on first deploy (functions/keyring-init).
	KeyringInitFunction = "keyring-init"
)

// Secret names a secret a function may read.
type Secret string

// The stack's secrets.
const (
	// SecretAppDatabase is framebroker_app's credentials and endpoint.
	SecretAppDatabase Secret = "app-database"
	// SecretOwnerDatabase is the schema owner's (migrate only).
	SecretOwnerDatabase Secret = "owner-database"
	// SecretCron is the cron route's shared secret (cron and purge only).
	SecretCron Secret = "cron"
	// SecretKeyring is the signing keyring document (shared/keyring).
	SecretKeyring Secret = "keyring"
	// SecretOperator is the operator's JSON secret of FRAMEBROKER_*
	// settings (Stripe, webhook sealing key, SMTP, OAuth, TOTP key). One
	// secret: every function that needs any of its values reads all of
	// them (Secrets Manager grants whole secrets).
	SecretOperator Secret = "operator"
)

// ObjectGrant is a set of S3 object actions on a key pattern of the media
// bucket ("ws/*/assets/*").
type ObjectGrant struct {
	Pattern string
	Actions []string
}

// Access is everything one function may do besides writing its own log
// group and attaching to the VPC. Presigned URLs are signed with the
// function's credentials, so a function that presigns a PUT needs
// s3:PutObject itself.
type Access struct {
	Secrets []Secret
	Objects []ObjectGrant
	// ListPrefixes lets the function list keys under these prefixes
	// (s3:ListBucket with an s3:prefix condition); ListVersions also lists
	// object versions there.
	ListPrefixes []string
	ListVersions bool
	// Executions are Step Functions actions on the encode-job state
	// machine: states:StartExecution on the machine, the others on its
	// executions.
	Executions []string
	// Wakes are the due-only cron jobs (cron.Entry.DueOnly) this function
	// commits work for: it may enable their rules (events:EnableRule on
	// those rules only) after its transaction commits (shared/cron/wake).
	Wakes []string
	// Settles lets the function disable the due-only rules too
	// (events:DisableRule): only the cron function, whose runs switch
	// their own rule off when nothing is left.
	Settles bool
	// Invokes are the functions it may call synchronously
	// (lambda:InvokeFunction): ProbeFunction for those that probe media.
	Invokes []string
}

// The due-only jobs, for the Wakes lists.
const (
	wakeWebhooks  = cron.WebhookRetries
	wakeMail      = cron.MailOutbox
	wakeAssets    = cron.AssetVerify
	wakeReconcile = cron.JobReconcile
	wakeLedger    = cron.LedgerFull
)

// S3 actions the functions use.
const (
	s3Get           = "s3:GetObject"
	s3Put           = "s3:PutObject"
	s3Delete        = "s3:DeleteObject"
	s3DeleteVersion = "s3:DeleteObjectVersion"
)

// FunctionAccess is the least privilege of every Lambda, by function name.
// A function missing here is refused at synth (Props.Validate), so a new
// function starts with nothing rather than with everything. The infra test
// TestLeastPrivilegePerFunction checks each role against this table and
// fails on any extra permission.
var FunctionAccess = map[string]Access{
	// Serves /healthz; the runtime connects to the database at start-up.
	"health": {Secrets: []Secret{SecretAppDatabase}},
	// Session lookup only.
	AuthorizerFunction: {Secrets: []Secret{SecretAppDatabase}},
	// Login, signup, TOTP (TOTP sealing key), OAuth client secrets, mail
	// (left in the outbox when the immediate send fails).
	"auth": {Secrets: []Secret{SecretAppDatabase, SecretOperator}, Wakes: []string{wakeMail}},
	// Memberships, invitations (mail), deletion requests (signed
	// tombstones); member and deletion events go to webhooks.
	"workspaces": {Secrets: []Secret{SecretAppDatabase, SecretOperator, SecretKeyring}, Wakes: []string{wakeWebhooks, wakeMail}},
	// Uploads: presigned PUTs into assets/, downloads of any asset (encode
	// outputs are assets too), probing reads (presigned for the probe
	// function, which it invokes), deletes (a delete marker in
	// the versioned bucket: the evidence version stays). Asset events go
	// to webhooks; multipart uploads await the asset-verify cron.
	"assets": {Secrets: []Secret{SecretAppDatabase}, Objects: []ObjectGrant{
		{"ws/*/assets/*", []string{s3Put, s3Delete}},
		{"ws/*", []string{s3Get}},
	}, Wakes: []string{wakeWebhooks, wakeAssets}, Invokes: []string{ProbeFunction}},
	// Job submission and cancellation (billing reservations), output
	// download URLs. A new job is what job-reconcile watches; job events go
	// to webhooks; spend alerts are mail.
	JobsFunction: {Secrets: []Secret{SecretAppDatabase, SecretOperator},
		Objects:    []ObjectGrant{{"ws/*/jobs/*", []string{s3Get}}},
		Executions: []string{"states:StartExecution", "states:StopExecution"},
		Wakes:      []string{wakeWebhooks, wakeReconcile, wakeMail}},
	// State machine steps: input URLs (the Probe step's go to the probe
	// function) and the worker's grant (presigned
	// PUTs of outputs and report), verification reads, trail signing,
	// billing on job end; job events go to webhooks.
	PipelineFunction: {Secrets: []Secret{SecretAppDatabase, SecretOperator, SecretKeyring}, Objects: []ObjectGrant{
		{"ws/*/jobs/*", []string{s3Put}},
		{"ws/*", []string{s3Get}},
	}, Wakes: []string{wakeWebhooks}, Invokes: []string{ProbeFunction}},
	// Webhook endpoints (sealing key); test events, resends and
	// re-enabled endpoints have deliveries due.
	"webhooks": {Secrets: []Secret{SecretAppDatabase, SecretOperator}, Wakes: []string{wakeWebhooks}},
	// Stripe checkout and Stripe's webhook.
	"checkout": {Secrets: []Secret{SecretAppDatabase, SecretOperator}},
	// Signed ledger exports and verification; a full verification that
	// does not finish within its request is handed to the ledger-full job.
	"ledger": {Secrets: []Secret{SecretAppDatabase, SecretKeyring}, Wakes: []string{wakeLedger}},
	// Published public keys and manifests.
	"provenance": {Secrets: []Secret{SecretAppDatabase, SecretKeyring}},
	// Publishing (signs manifests); release events go to webhooks.
	"releases": {Secrets: []Secret{SecretAppDatabase, SecretKeyring}, Wakes: []string{wakeWebhooks}},
	// Webhook retries (sealing key), retention, job reconcile (stops or
	// restarts executions), mail outbox (SMTP). Its runs create due work
	// of every kind (a reconciled job's events, a circuit breaker's mail),
	// switch a due-only rule off when nothing is left, and the daily jobs'
	// safety sweep wakes any due-only job with pending work.
	cron.Function: {Secrets: []Secret{SecretAppDatabase, SecretCron, SecretOperator, SecretKeyring},
		Executions: []string{"states:StartExecution", "states:StopExecution"},
		Wakes:      []string{wakeWebhooks, wakeMail, wakeAssets, wakeReconcile, wakeLedger}, Settles: true,
		// asset-verify probes the uploads it verifies (probe function).
		Invokes: []string{ProbeFunction}},
	// Workspace purge: removes every object and version under the
	// workspace's prefix, signs the tombstone.
	PurgeFunction: {Secrets: []Secret{SecretAppDatabase, SecretCron, SecretOperator, SecretKeyring},
		Objects:      []ObjectGrant{{"ws/*", []string{s3Delete, s3DeleteVersion}}},
		ListPrefixes: []string{"ws/*"}, ListVersions: true,
		Executions: []string{"states:StopExecution"}},
	// Schema owner: applies migrations, sets framebroker_app's password.
	MigrateFunction: {Secrets: []Secret{SecretOwnerDatabase, SecretAppDatabase}},
}

// keyringInitAccess is the keyring-init custom resource's: read and write
// the keyring secret, nothing else (no VPC, no database).
var keyringInitAccess = []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}

// checkAccess refuses functions without an entry in FunctionAccess, and
// entries that wake a job that is not a due-only entry of schedule.
func checkAccess(fns []string, schedule []cron.Entry) error {
	due := map[string]bool{}
	for _, j := range cron.DueOnlyJobs(schedule) {
		due[j] = true
	}
	for _, f := range fns {
		for _, j := range FunctionAccess[f].Wakes {
			if !due[j] {
				return fmt.Errorf("FunctionAccess[%q] wakes %q, which is not a due-only cron job", f, j)
			}
		}
	}
	var missing []string
	for _, f := range fns {
		if f == KeyringInitFunction {
			continue
		}
		if _, ok := FunctionAccess[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("functions %v have no entry in infra/stack FunctionAccess: declare what each may read before it can deploy", missing)
	}
	return nil
}

func (a Access) has(s Secret) bool {
	for _, x := range a.Secrets {
		if x == s {
			return true
		}
	}
	return false
}
