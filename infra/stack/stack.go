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
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/cron"
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
	// LayerAsset is the ffprobe/ffmpeg layer directory
	// (ffmpeg-layer/build-layer.sh writes build/ffmpeg-layer).
	LayerAsset string
	// WorkerContext is the Docker build context of the worker image (the
	// repository root) and WorkerDockerfile its Dockerfile relative to it.
	WorkerContext    string
	WorkerDockerfile string
	// MigrationsDir is hashed so that a changed migration re-runs the
	// migrate custom resource.
	MigrationsDir string

	// Context values (README "Deploying to AWS").
	// KeyArn is a customer-managed KMS key; empty creates one.
	KeyArn string
	// VpcID deploys into an existing VPC (a lookup: needs credentials and
	// an account/region at synth).
	VpcID string
	// NatGateways is the number of NAT gateways of a new VPC (default 1).
	NatGateways int
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
	// Environment adds non-secret FRAMEBROKER_* settings to every Lambda
	// (mail sender, SMTP host, public URL, OAuth client ids, …).
	Environment map[string]string
	// AlarmEmail subscribes an address to the alarm topic.
	AlarmEmail string
}

// Stack is the synthesized stack and the constructs tests look at.
type Stack struct {
	awscdk.Stack
	net    *network
	data   *data
	fns    *lambdas
	worker *worker
}

// New builds the stack.
func New(scope constructs.Construct, id string, p Props) *Stack {
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	s := &Stack{Stack: st}
	s.net = newNetwork(st, p)
	s.data = newData(st, p, s.net)
	s.fns = newLambdas(st, p, s.net, s.data)
	newAPI(st, p, s.fns)
	s.worker = newWorker(st, p, s.net, s.data, s.fns)
	newMigration(st, p, s.data, s.fns)
	newSchedule(st, p, s.data, s.fns)
	newAlarms(st, p, s.data, s.fns, s.worker)
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
