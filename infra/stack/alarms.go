package stack

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
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

// alarms is the alarm topic and its key.
type alarms struct {
	topic awssns.Topic
	// key encrypts the topic: the stack's key, or with keyArn a dedicated
	// key (an imported key's policy cannot be changed from the stack).
	key awskms.IKey
}

// newAlarms alarms on failed encode executions, Lambda errors (one alarm
// per function), cron events dead-lettered and webhook endpoints disabled;
// all notify one SNS topic. CloudWatch publishes to an encrypted topic only
// if the key's policy lets cloudwatch.amazonaws.com use it (observed:
// without that grant no alarm was ever delivered).
func newAlarms(st awscdk.Stack, p Props, n *network, d *data, l *lambdas, w *worker, s *schedule) *alarms {
	a := &alarms{key: d.key}
	if p.KeyArn != "" {
		a.key = awskms.NewKey(st, jsii.String("AlarmKey"), &awskms.KeyProps{
			Description:       jsii.String("Framebroker alarm topic (keyArn's policy is the customer's)"),
			EnableKeyRotation: jsii.Bool(true),
		})
	}
	a.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), jsii.Bool(false))
	topic := awssns.NewTopic(st, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("Framebroker alarms"), MasterKey: a.key, EnforceSSL: jsii.Bool(true),
	})
	a.topic = topic
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
	alarm("Errors-"+ProbeFunction, l.probe.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		"The probe function failed (not a refused or unreadable file: ffprobe did not run or crashed)")
	alarm("WebhookDisabledAlarm", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(MetricNamespace), MetricName: jsii.String(MetricWebhookDisabled),
		Period: five, Statistic: jsii.String("Sum"),
	}), "A webhook endpoint was disabled after consecutive failures (its owner was mailed)")
	// The NAT instance (default egress) recovers onto healthy hardware by
	// itself when AWS's system status check fails, and says so.
	if n.natInstance != nil {
		for i, inst := range *n.natInstance.GatewayInstances() {
			a := awscloudwatch.NewAlarm(st, jsii.String(fmt.Sprintf("NatInstanceRecover%d", i)), &awscloudwatch.AlarmProps{
				Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
					Namespace: jsii.String("AWS/EC2"), MetricName: jsii.String("StatusCheckFailed_System"),
					DimensionsMap: &map[string]*string{"InstanceId": inst.InstanceId()},
					Period:        awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
				}),
				Threshold:          jsii.Number(1),
				EvaluationPeriods:  jsii.Number(2),
				ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
				TreatMissingData:   awscloudwatch.TreatMissingData_MISSING,
				AlarmDescription:   jsii.String("The NAT instance failed its system status check: recovering it (outbound calls fail meanwhile)"),
			})
			a.AddAlarmAction(awscloudwatchactions.NewEc2Action(awscloudwatchactions.Ec2InstanceAction_RECOVER), action)
		}
	}
	alarm("CronDeadLettersAlarm", s.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
		"A scheduled job could not be delivered to its Lambda (see the CronDeadLetters queue)")
	return a
}
