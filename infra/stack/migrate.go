package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// MigrateTimeout is the migrate custom resource's service timeout: a
// handler that never answers (it crashed before replying) fails the
// deploy after this long instead of CloudFormation's hour, for the create
// and again for the rollback.
const MigrateTimeout = 10 * 60

// newMigration applies the schema on every deploy whose migrations changed:
// a custom resource served by the migrate Lambda (lambdafn.MainMigrate),
// which connects with the owner's secret, runs db.Migrate, and sets
// framebroker_app's password from its secret. It waits for the database,
// the app secret and (bring-your-own database) the ingress rule that lets
// the Lambdas reach it.
func newMigration(st awscdk.Stack, p Props, d *data, l *lambdas) awscdk.CustomResource {
	cr := awscdk.NewCustomResource(st, jsii.String("Migrate"), &awscdk.CustomResourceProps{
		ServiceToken:   l.get(MigrateFunction).FunctionArn(),
		ServiceTimeout: awscdk.Duration_Seconds(jsii.Number(MigrateTimeout)),
		ResourceType:   jsii.String("Custom::FramebrokerMigrate"),
		Properties: &map[string]any{
			"Migrations": dirHash(p.MigrationsDir),
		},
	})
	if d.cluster != nil {
		cr.Node().AddDependency(d.cluster)
	}
	if d.ingress != nil {
		cr.Node().AddDependency(d.ingress)
	}
	cr.Node().AddDependency(d.appSecret)
	return cr
}
