package stack

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/lambdafn/keyringinit"
)

// KeyringTimeout is the keyring custom resource's service timeout (see
// MigrateTimeout).
const KeyringTimeout = 5 * 60

// newKeyring makes the signing keys exist before the first request: a
// custom resource served by the keyring-init Lambda generates an Ed25519
// key and an HMAC secret inside AWS and writes them into the keyring
// secret on the first deploy. It never overwrites a secret that already
// holds a valid keyring (updates and re-runs keep the keys), and on delete
// it leaves the secret (retained) alone. The keys never pass through the
// template, CloudFormation or the deploying machine. The Lambda runs
// outside the VPC (it needs Secrets Manager only) with a role that can read
// and write this one secret.
func newKeyring(st awscdk.Stack, p Props, d *data) (awslambda.Function, awscdk.CustomResource) {
	logs := awslogs.NewLogGroup(st, jsii.String("Logs-"+KeyringInitFunction), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(st, jsii.String("Role-"+KeyringInitFunction), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Framebroker keyring-init custom resource"),
	})
	role.AddToPrincipalPolicy(statement([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, logs.LogGroupArn()))
	role.AddToPrincipalPolicy(statement(keyringInitAccess, d.keyringSecret.SecretArn()))
	role.AddToPrincipalPolicy(viaService(st, []string{"kms:Decrypt", "kms:GenerateDataKey"}, "secretsmanager", d.key.KeyArn()))
	props := goFunction("Framebroker keyring-init: fills the keyring secret on first deploy",
		filepath.Join(p.LambdaAssets, KeyringInitFunction),
		map[string]*string{keyringinit.EnvSecretArn: d.keyringSecret.SecretArn()}, logs, role)
	props.MemorySize = jsii.Number(128)
	props.Timeout = awscdk.Duration_Minutes(jsii.Number(1))
	fn := awslambda.NewFunction(st, jsii.String("Fn-"+KeyringInitFunction), props)
	cr := awscdk.NewCustomResource(st, jsii.String("Keyring"), &awscdk.CustomResourceProps{
		ServiceToken:   fn.FunctionArn(),
		ServiceTimeout: awscdk.Duration_Seconds(jsii.Number(KeyringTimeout)),
		ResourceType:   jsii.String("Custom::FramebrokerKeyring"),
		Properties:     &map[string]any{"SecretArn": d.keyringSecret.SecretArn()},
	})
	return fn, cr
}
