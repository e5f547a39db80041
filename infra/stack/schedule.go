package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// cronFunction is the Lambda serving the /internal/cron/ route of the
// table (cron.Function unless the table says otherwise).
func cronFunction(t Table) string {
	for _, r := range t.Internal {
		if strings.HasPrefix(r.Path, "/internal/cron/") {
			return r.Function
		}
	}
	return cron.Function
}

// newSchedule creates one EventBridge rule per cron job. The target invokes
// the cron Lambda directly (the /internal/cron route is not on the API) with
// a lambdafn.CronEvent carrying the job name and the cron secret, which
// CloudFormation resolves from Secrets Manager at deploy time.
func newSchedule(st awscdk.Stack, p Props, d *data, l *lambdas) {
	fn := l.get(cronFunction(p.Table))
	secret := d.cronSecret.SecretValue().UnsafeUnwrap()
	for _, e := range p.Schedule {
		rule := awsevents.NewRule(st, jsii.String("Cron-"+e.Name), &awsevents.RuleProps{
			Description: jsii.String("Framebroker cron " + e.Name),
			Schedule:    awsevents.Schedule_Expression(jsii.String(e.Expression())),
		})
		rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			Event:         awsevents.RuleTargetInput_FromObject(lambdafn.CronEvent{Job: e.Name, Secret: *secret}.Object()),
			RetryAttempts: jsii.Number(2),
			MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(10)),
		}))
	}
}
