// Package stack is Framebroker's CDK stack: everything one `cdk deploy`
// creates in a customer's AWS account (T-13). infra/main.go builds it from
// the context values in cdk.json; the assertion tests in this package build
// it with placeholder assets and check every trust requirement on the
// synthesized template.
//
// What it holds:
//   - network: a VPC (or an existing one) with private subnets, an S3
//     gateway endpoint, NAT for the Lambdas' outbound calls;
//   - data: a KMS key (or the customer's), the media bucket, Aurora
//     Serverless v2 PostgreSQL (or an existing database), secrets;
//   - api: the HTTP API with one route per router-table row, the Lambda
//     authorizer on every non-public route, access logs and throttling;
//   - worker: an ECS cluster and a Fargate task definition with no task role,
//     the encode-job state machine (infra/workflow) with its own role;
//   - schedule: one EventBridge rule per cron job carrying the cron secret;
//   - alarms.
package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// Props configure the stack. Paths are absolute or relative to the process's
// working directory (the repository root under `cdk synth`).
type Props struct {
	awscdk.StackProps

	// Table is the router table (TableFromApp).
	Table Table
	// Functions are the Lambdas to deploy (Functions).
	Functions []string
	// Schedule is the cron schedule (cron.Schedule).
	Schedule []cron.Entry

	// LambdaAssets holds one directory per function with its bootstrap
	// (`make build` writes build/lambda/<fn>/bootstrap).
	LambdaAssets string
	// WorkerContext is the Docker build context of the worker image (the
	// repository root) and WorkerDockerfile its Dockerfile relative to it.
	WorkerContext    string
	WorkerDockerfile string
	// WorkerImageDigest (sha256:…) runs the worker image pushed by make
	// deploy (built without Docker) from WorkerImageRepository (default:
	// the CDK bootstrap's container-asset repository), as the Fargate
	// worker and as the probe function; empty builds WorkerDockerfile with
	// Docker at deploy.
	WorkerImageDigest     string
	WorkerImageRepository string
	// MigrationsDir is hashed so that a changed migration re-runs the
	// migrate custom resource.
	MigrationsDir string

	// Context values (README "Deploying to AWS").
	// KeyArn is a customer-managed KMS key; empty creates one.
	KeyArn string
	// VpcID deploys into an existing VPC (a lookup: needs credentials and
	// an account/region at synth).
	VpcID string
	// NatGateways is the number of NAT gateways of a new VPC. 0 (the
	// default) gives the private subnets one NAT instance instead
	// (t4g.nano, ~$7 a month with its public IPv4 address, against ~$36 for
	// a NAT gateway): see README "Idle cost".
	NatGateways int
	// S3GatewayEndpoint says, with VpcID, whether the stack adds an S3
	// gateway endpoint to the VPC's private route tables ("create") or the
	// VPC already has one ("existing"; a second one would fail the deploy).
	S3GatewayEndpoint string
	// DatabaseSecretArn names an existing database's owner secret (RDS JSON
	// format: username, password, host, port, dbname); empty creates an
	// Aurora Serverless v2 cluster.
	DatabaseSecretArn string
	// DatabaseSecurityGroupID is the existing database's security group,
	// which gets an ingress rule from the Lambdas.
	DatabaseSecurityGroupID string
	// DomainName and CertificateArn give the API a custom domain.
	DomainName     string
	CertificateArn string
	// SecretsArn is the operator's secret: a JSON object of FRAMEBROKER_*
	// settings that are secrets (FRAMEBROKER_WEBHOOK_KEY, the Stripe keys,
	// SMTP password, OAuth client secrets), read by every Lambda at cold
	// start (lambdafn.EnvSecretsArn).
	SecretsArn string
	// OperatorSecretArns are the operator's settings as one secret per
	// purpose (lambdafn.OperatorSecrets: stripe, smtp, totp,
	// webhook-sealing, oauth → secret ARN), instead of SecretsArn: each
	// function is then granted and told only the secrets of its purposes
	// (lambdafn.FunctionSecrets), so e.g. the jobs function cannot read
	// the Stripe key. Context values stripeSecretArn, smtpSecretArn, ….
	OperatorSecretArns map[string]string
	// Environment adds non-secret FRAMEBROKER_* settings to every Lambda
	// (mail sender, SMTP host, public URL, OAuth client ids, …).
	Environment map[string]string
	// AlarmEmail subscribes an address to the alarm topic.
	AlarmEmail string
	// IsolatedWorker limits the Fargate worker's egress to S3 (the gateway
	// endpoint's prefix list) and interface endpoints for ECR and CloudWatch
	// Logs that the stack adds (three endpoints × the private subnets' AZs,
	// billed by the hour: README "Worker egress"). Off: HTTPS to anywhere.
	// Needs a concrete account and region (the prefix list is looked up at
	// synth) and a new VPC.
	IsolatedWorker bool
	// CorsOrigins are the browser origins allowed to PUT and GET media
	// with presigned URLs (https://app.example.com); none: no CORS rule,
	// so browsers cannot upload cross-origin (the CLI and servers can).
	CorsOrigins []string
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// S3GatewayEndpoint values.
const (
	S3EndpointCreate   = "create"
	S3EndpointExisting = "existing"
)

// OperatorSecretContext is the context value naming each purpose's
// operator secret (Props.OperatorSecretArns).
var OperatorSecretContext = map[string]string{
	lambdafn.SecretStripe:  "stripeSecretArn",
	lambdafn.SecretSMTP:    "smtpSecretArn",
	lambdafn.SecretTOTP:    "totpSecretArn",
	lambdafn.SecretWebhook: "webhookSecretArn",
	lambdafn.SecretOAuth:   "oauthSecretArn",
}

// Validate refuses option combinations that synth would accept and a
// deploy would reject or mishandle, saying what is missing.
func (p Props) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := checkAccess(p.Functions, p.Schedule); err != nil {
		errs = append(errs, err)
	}
	if p.SecretsArn != "" && len(p.OperatorSecretArns) > 0 {
		bad("secretsArn and the per-purpose secrets (%s) exclude each other: give one JSON secret for every setting, or one secret per purpose", strings.Join(slices.Sorted(maps.Values(OperatorSecretContext)), ", "))
	}
	for purpose, arn := range p.OperatorSecretArns {
		if _, ok := OperatorSecretContext[purpose]; !ok {
			bad("operator secret purpose %q is not one of %s", purpose, strings.Join(slices.Sorted(maps.Keys(OperatorSecretContext)), ", "))
		} else if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":secretsmanager:") {
			bad("%s: %q is not a Secrets Manager secret ARN", OperatorSecretContext[purpose], arn)
		}
	}
	if p.DatabaseSecurityGroupID != "" && p.VpcID == "" {
		bad("databaseSecurityGroupId needs vpcId: the Lambdas must run in the database's VPC to reach it through that security group")
	}
	if p.DatabaseSecurityGroupID != "" && p.DatabaseSecretArn == "" {
		bad("databaseSecurityGroupId needs databaseSecretArn: without it the stack creates its own database and the group would be unused")
	}
	if p.VpcID != "" && p.S3GatewayEndpoint != S3EndpointCreate && p.S3GatewayEndpoint != S3EndpointExisting {
		bad("vpcId needs s3GatewayEndpoint=create (the stack adds an S3 gateway endpoint to the private route tables) or s3GatewayEndpoint=existing (they already have one; a second fails the deploy), got %q", p.S3GatewayEndpoint)
	}
	if p.VpcID == "" && p.S3GatewayEndpoint != "" {
		bad("s3GatewayEndpoint applies to an existing VPC (vpcId) only; a new VPC always gets its endpoint")
	}
	if p.VpcID != "" && p.NatGateways != 0 {
		bad("natGateways applies to a new VPC only; with vpcId the VPC's own routes are used")
	}
	if p.NatGateways < 0 {
		bad("natGateways must be 0 (one NAT instance) or more (NAT gateways), got %d", p.NatGateways)
	}
	if p.DomainName != "" && p.CertificateArn == "" {
		bad("domainName needs certificateArn: an ACM certificate for %s in the stack's region (without it the API URL and OAuth redirects would point nowhere)", p.DomainName)
	}
	if p.CertificateArn != "" && p.DomainName == "" {
		bad("certificateArn needs domainName (the name the certificate is for)")
	}
	if p.KeyArn != "" && !(strings.HasPrefix(p.KeyArn, "arn:") && strings.Contains(p.KeyArn, ":kms:") && strings.Contains(p.KeyArn, ":key/")) {
		bad("keyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or id: %q", p.KeyArn)
	}
	if p.WorkerImageDigest != "" && !digestRE.MatchString(p.WorkerImageDigest) {
		bad("workerImageDigest must be sha256:<64 hex digits>, got %q", p.WorkerImageDigest)
	}
	if p.WorkerImageRepository != "" && p.WorkerImageDigest == "" {
		bad("workerImageRepository needs workerImageDigest (the image to run from it)")
	}
	if p.IsolatedWorker {
		if p.VpcID != "" {
			bad("isolatedWorker adds ECR and CloudWatch Logs interface endpoints with private DNS to a new VPC; with vpcId the VPC may already have them (a second one fails the deploy): add them to your VPC and leave isolatedWorker off")
		}
		if e := p.StackProps.Env; e == nil || e.Account == nil || e.Region == nil || *e.Account == "" || *e.Region == "" ||
			strings.HasPrefix(*e.Account, "${Token") || strings.HasPrefix(*e.Region, "${Token") {
			bad("isolatedWorker needs the stack's account and region (credentials in use, or -c account=… -c region=…): S3's prefix list is looked up at synth")
		}
	}
	for _, o := range p.CorsOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || strings.Contains(o, "*") ||
			!(u.Scheme == "https" || (u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"))) {
			bad("corsOrigins: %q is not an https origin (scheme://host[:port], no wildcard, no path)", o)
		}
	}
	return errors.Join(errs...)
}

// Stack is the synthesized stack and the constructs tests look at.
type Stack struct {
	awscdk.Stack
	net    *network
	data   *data
	fns    *lambdas
	worker *worker
	// migrate and keyring are the custom resources; keyringFn serves the
	// latter.
	migrate, keyring awscdk.CustomResource
	keyringFn        awslambda.Function
	schedule         *schedule
	alarms           *alarms
}

// New builds the stack. It panics on Props that Validate refuses (the
// CDK app calls Validate first and prints the error).
func New(scope constructs.Construct, id string, p Props) *Stack {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	for _, j := range cron.DueOnlyJobs(p.Schedule) {
		if n := len(CronRuleName(st, j)); n > maxRuleName {
			panic(fmt.Sprintf("stack name %q is too long for its cron rule %s (%d characters; EventBridge allows %d)", *st.StackName(), j, n, maxRuleName))
		}
	}
	s := &Stack{Stack: st}
	s.net = newNetwork(st, p)
	s.data = newData(st, p, s.net)
	if p.IsolatedWorker {
		s.net.limitS3Endpoint(st, s.data.media)
	}
	dlq := newDeadLetters(st)
	repo := imageRepository(st, p)
	s.fns = newLambdas(st, p, s.net, s.data, dlq, repo)
	newAPI(st, p, s.fns)
	s.worker = newWorker(st, p, s.net, s.data, s.fns, repo)
	s.migrate = newMigration(st, p, s.data, s.fns)
	s.keyringFn, s.keyring = newKeyring(st, p, s.data)
	// No function serves a request before its keys exist.
	for _, fn := range s.fns.byName {
		fn.Node().AddDependency(s.keyring)
	}
	s.schedule = newSchedule(st, p, s.data, s.fns, dlq)
	s.alarms = newAlarms(st, p, s.net, s.data, s.fns, s.worker, s.schedule)
	suppressNag(s, p)
	return s
}

// FeatureFlags are the CDK feature flags the app runs with. cdk.json context
// reaches the app only through the CLI, so the flags live in code and both
// `cdk synth` and the tests use them.
func FeatureFlags() map[string]any {
	return map[string]any{
		"@aws-cdk/aws-stepfunctions-tasks:fixRunEcsTaskPolicy": true,
		"@aws-cdk/aws-iam:minimizePolicies":                    true,
		"@aws-cdk/aws-s3:createDefaultLoggingPolicy":           true,
		"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy":      true,
		"@aws-cdk/aws-ecs:arnFormatIncludesClusterName":        true,
		"@aws-cdk/aws-apigateway:disableCloudWatchRole":        true,
		"@aws-cdk/aws-kms:aliasNameRef":                        true,
		"@aws-cdk/aws-ec2:restrictDefaultSecurityGroup":        false,
		"@aws-cdk/aws-lambda:recognizeLayerVersion":            true,
	}
}

// dirHash fingerprints a directory's files (names and contents).
func dirHash(dir string) string {
	h := sha256.New()
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel + "\x00"))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}
