package stack

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// Metric of webhook endpoints disabled by the circuit breaker (T-08), from
// a metric filter on the Lambdas' logs: shared/webhook logs
// "webhook endpoint disabled" at WARN when it opens the breaker.
const (
	MetricNamespace       = "Framebroker"
	MetricWebhookDisabled = "WebhookEndpointsDisabled"
	WebhookDisabledLog    = "webhook endpoint disabled"
)

// newAlarms alarms on failed encode executions, Lambda errors (one alarm
// per function) and webhook endpoints disabled; all notify one SNS topic.
func newAlarms(st awscdk.Stack, p Props, d *data, l *lambdas, w *worker) {
	topic := awssns.NewTopic(st, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("Framebroker alarms"), MasterKey: d.key, EnforceSSL: jsii.Bool(true),
	})
	if p.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id string, m awscloudwatch.IMetric, desc string) {
		a := awscloudwatch.NewAlarm(st, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(desc),
		})
		a.AddAlarmAction(action)
	}
	alarm("EncodeFailedAlarm", w.machine.MetricFailed(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		"An encode-job execution failed (after its retries)")
	alarm("EncodeTimedOutAlarm", w.machine.MetricTimedOut(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		"An encode-job execution timed out")
	names := make([]string, 0, len(l.byName))
	for n := range l.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		alarm("Errors-"+n, l.byName[n].MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			"Lambda "+n+" returned errors")
		awslogs.NewMetricFilter(st, jsii.String("WebhookDisabled-"+n), &awslogs.MetricFilterProps{
			LogGroup:        l.logs[n],
			FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(WebhookDisabledLog)),
			MetricNamespace: jsii.String(MetricNamespace),
			MetricName:      jsii.String(MetricWebhookDisabled),
			MetricValue:     jsii.String("1"),
		})
	}
	alarm("WebhookDisabledAlarm", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(MetricNamespace), MetricName: jsii.String(MetricWebhookDisabled),
		Period: five, Statistic: jsii.String("Sum"),
	}), "A webhook endpoint was disabled after consecutive failures (its owner was mailed)")
}
