package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/infra/cost"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn/cronrules"
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

// CronRulePrefix is the name prefix of the stack's due-only cron rules
// (the value of cronrules.EnvRulePrefix in the functions that wake them).
func CronRulePrefix(st awscdk.Stack) string { return *st.StackName() + "-cron-" }

// CronRuleName is the name of a due-only job's rule.
func CronRuleName(st awscdk.Stack, job string) string { return CronRulePrefix(st) + job }

// cronRuleArn is the ARN of a due-only job's rule (on the default bus).
func cronRuleArn(st awscdk.Stack, job string) *string {
	return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("rule"),
		ResourceName: jsii.String(CronRuleName(st, job))})
}

// maxRuleName is EventBridge's limit on rule names.
const maxRuleName = 64

// CronEvent is the input of every cron rule target: the job's name and
// nothing else. No secret is in the template or the rule: the cron Lambda
// reads its own (FRAMEBROKER_CRON_SECRET_ARN), and only these rules may
// invoke it (its resource policy).
func CronEvent(job string) map[string]any { return map[string]any{"job": job} }

// newDeadLetters is the queue of scheduled events that could not be
// delivered (rule targets) or failed in the cron Lambdas after Lambda's
// asynchronous retries.
func newDeadLetters(st awscdk.Stack) awssqs.Queue {
	return awssqs.NewQueue(st, jsii.String("CronDeadLetters"), &awssqs.QueueProps{
		// SQS-managed encryption: EventBridge can write to it without a
		// grant in the customer's key policy (keyArn).
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// schedule is the cron rules, their dead-letter queue and the role
// EventBridge Scheduler uses for one-time wakes.
type schedule struct {
	dlq   awssqs.Queue
	timer awsiam.Role
}

// cronScheduleArn is the ARN of a Timed job's one-time wake schedule
// (default group, named like its rule).
func cronScheduleArn(st awscdk.Stack, job string) *string {
	return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("scheduler"), Resource: jsii.String("schedule"),
		ResourceName: jsii.String("default/" + CronRuleName(st, job))})
}

// newSchedule creates one EventBridge rule per cron job. Each target
// invokes the cron Lambda directly (the /internal/cron route is not on the
// API); the workspace purge invokes the purge Lambda, the only role that
// may delete object versions. Events that still fail after the retries go
// to a dead-letter queue, which alarms.
func newSchedule(st awscdk.Stack, p Props, d *data, l *lambdas, dlq awssqs.Queue) *schedule {
	s := &schedule{dlq: dlq}
	fn := l.get(cronFunction(p.Table))
	// One-time wakes (cron.SettleUntil): a run whose only work left is a
	// retry hours away switches its rule off and asks EventBridge Scheduler
	// to invoke the cron function once at that time, through this role,
	// which may do nothing else. The cron function alone may create or move
	// those schedules and pass this role, to the scheduler only.
	if timed := cron.TimedJobs(p.Schedule); len(timed) > 0 {
		s.timer = awsiam.NewRole(st, jsii.String("CronSchedulerRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
				Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": st.Account()}}}),
			Description: jsii.String("EventBridge Scheduler: one-time wakes of the Framebroker cron Lambda"),
		})
		s.timer.AddToPrincipalPolicy(statement([]string{"lambda:InvokeFunction"}, fn.FunctionArn()))
		s.timer.AddToPrincipalPolicy(statement([]string{"sqs:SendMessage"}, dlq.QueueArn()))
		var arns []*string
		for _, j := range timed {
			arns = append(arns, cronScheduleArn(st, j))
		}
		role := l.roles[cronFunction(p.Table)]
		role.AddToPrincipalPolicy(statement([]string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule"}, arns...))
		pass := statement([]string{"iam:PassRole"}, s.timer.RoleArn())
		pass.AddCondition(jsii.String("StringEquals"), map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"})
		role.AddToPrincipalPolicy(pass)
		fn.AddEnvironment(jsii.String(cronrules.EnvSchedulerRole), s.timer.RoleArn(), nil)
		fn.AddEnvironment(jsii.String(cronrules.EnvDeadLetters), dlq.QueueArn(), nil)
	}
	for _, e := range p.Schedule {
		target := fn
		if e.Name == cron.WorkspacePurge {
			target = l.get(PurgeFunction)
		}
		props := &awsevents.RuleProps{
			Description: jsii.String("Framebroker cron " + e.Name),
			Schedule:    awsevents.Schedule_Expression(jsii.String(e.Expression())),
		}
		if e.DueOnly {
			// Scheduled only while it has work (shared/cron/wake): deployed
			// off, enabled by the functions that commit its work, disabled
			// by its own run when nothing is left. Named, so those
			// functions' grants and environment can name it without a
			// dependency cycle (the cron function is its target).
			props.Description = jsii.String(*props.Description + " " + cost.DueOnlyMarker)
			props.RuleName = jsii.String(CronRuleName(st, e.Name))
			props.Enabled = jsii.Bool(false)
		}
		rule := awsevents.NewRule(st, jsii.String("Cron-"+e.Name), props)
		rule.AddTarget(awseventstargets.NewLambdaFunction(target, &awseventstargets.LambdaFunctionProps{
			Event:           awsevents.RuleTargetInput_FromObject(CronEvent(e.Name)),
			RetryAttempts:   jsii.Number(2),
			MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(10)),
			DeadLetterQueue: s.dlq,
		}))
	}
	return s
}
