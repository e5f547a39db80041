package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// newMigration applies the schema on every deploy whose migrations changed:
// a custom resource served by the migrate Lambda (lambdafn.MainMigrate),
// which connects with the owner's secret, runs db.Migrate, and sets
// framebroker_app's password from its secret.
func newMigration(st awscdk.Stack, p Props, d *data, l *lambdas) {
	cr := awscdk.NewCustomResource(st, jsii.String("Migrate"), &awscdk.CustomResourceProps{
		ServiceToken: l.get(MigrateFunction).FunctionArn(),
		ResourceType: jsii.String("Custom::FramebrokerMigrate"),
		Properties: &map[string]any{
			"Migrations": dirHash(p.MigrationsDir),
		},
	})
	if d.cluster != nil {
		cr.Node().AddDependency(d.cluster)
	}
	cr.Node().AddDependency(d.appSecret)
}
