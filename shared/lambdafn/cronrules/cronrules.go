// Package cronrules is the AWS side of package wake: the due-only crons'
// EventBridge rules, enabled (Wake) and disabled (Sleep) by name. The CDK
// stack names each rule EnvRulePrefix's value + the job name, deploys it
// DISABLED, and grants events:EnableRule on exactly those rules to the
// functions that commit due work, and events:DisableRule only to the cron
// function (infra/stack FunctionAccess). Domain packages never see this
// client: they get a wake.Waker in their context.
package cronrules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/framebroker/framebroker/shared/lambdafn/awsenv"
)

// EnvRulePrefix is the prefix of the due-only rules' names ("<stack>-cron-");
// a function without it wakes nothing (it commits no due work).
const EnvRulePrefix = "FRAMEBROKER_CRON_RULE_PREFIX"

// One-time wakes (wake.Timer), the cron function's only: EnvSchedulerRole
// is the role EventBridge Scheduler assumes to invoke the function (and to
// write EnvDeadLetters, the cron dead-letter queue). Schedules are named
// like the rules ("<prefix><job>", default group) and delete themselves
// after they fire.
const (
	EnvSchedulerRole = "FRAMEBROKER_CRON_SCHEDULER_ROLE_ARN"
	EnvDeadLetters   = "FRAMEBROKER_CRON_DEAD_LETTER_ARN"
)

// SchedulerAPI is the part of the EventBridge Scheduler client WakeAt uses.
type SchedulerAPI interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, opts ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
}

// API is the part of the EventBridge client the switch uses.
type API interface {
	EnableRule(ctx context.Context, in *eventbridge.EnableRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.EnableRuleOutput, error)
	DisableRule(ctx context.Context, in *eventbridge.DisableRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.DisableRuleOutput, error)
}

// Switch enables and disables the rules of Jobs (a wake.Switch) and, with
// Scheduler, sets one-time wakes (a wake.Timer).
type Switch struct {
	Client API
	Prefix string
	// Jobs are the due-only jobs; any other name is refused.
	Jobs []string
	// Scheduler, Role and DeadLetters set one-time wakes; without them
	// WakeAt refuses (the caller then keeps the rule on).
	Scheduler   SchedulerAPI
	Role        string
	DeadLetters string
	// Target is the function a one-time wake invokes (nil: the function
	// this invocation runs in, from the Lambda context).
	Target func(ctx context.Context) (string, error)
}

// FromEnv is the Switch of this function (nil without EnvRulePrefix): the
// function's role and region from the environment (awsenv).
func FromEnv(ctx context.Context, jobs []string) (*Switch, error) {
	prefix := os.Getenv(EnvRulePrefix)
	if prefix == "" {
		return nil, nil
	}
	cfg, err := awsenv.Config()
	if err != nil {
		return nil, fmt.Errorf("cronrules: aws config: %w", err)
	}
	// A throttled wake is retried a little longer than the SDK's default:
	// a wake that still fails leaves the work to the daily sweep.
	client := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		o.RetryMaxAttempts = 6
		o.BaseEndpoint = awsenv.Endpoint("EVENTBRIDGE")
	})
	sw := &Switch{Client: client, Prefix: prefix, Jobs: jobs}
	if role := os.Getenv(EnvSchedulerRole); role != "" {
		sw.Scheduler, sw.Role, sw.DeadLetters = scheduler.NewFromConfig(cfg, func(o *scheduler.Options) { o.BaseEndpoint = awsenv.Endpoint("SCHEDULER") }), role, os.Getenv(EnvDeadLetters)
	}
	return sw, nil
}

// Rule is job's rule name.
func (s *Switch) Rule(job string) (string, error) {
	if !slices.Contains(s.Jobs, job) {
		return "", fmt.Errorf("cronrules: %q is not a due-only job", job)
	}
	return s.Prefix + job, nil
}

// Wake enables job's rule (enabling an enabled rule does nothing).
func (s *Switch) Wake(ctx context.Context, job string) error {
	name, err := s.Rule(job)
	if err != nil {
		return err
	}
	if _, err := s.Client.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: &name}); err != nil {
		return fmt.Errorf("cronrules: enable %s: %w", name, err)
	}
	return nil
}

// Sleep disables job's rule.
func (s *Switch) Sleep(ctx context.Context, job string) error {
	name, err := s.Rule(job)
	if err != nil {
		return err
	}
	if _, err := s.Client.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: &name}); err != nil {
		return fmt.Errorf("cronrules: disable %s: %w", name, err)
	}
	return nil
}

// WakeAt sets job's one-time wake at at (wake.Timer): a schedule
// "<prefix><job>" that invokes this function with {"job": job} once and
// deletes itself; an existing one is moved to at.
func (s *Switch) WakeAt(ctx context.Context, job string, at time.Time) error {
	name, err := s.Rule(job)
	if err != nil {
		return err
	}
	if s.Scheduler == nil || s.Role == "" {
		return errors.New("cronrules: no one-time wakes in this function")
	}
	target := s.Target
	if target == nil {
		target = invokedFunction
	}
	fn, err := target(ctx)
	if err != nil {
		return err
	}
	input, _ := json.Marshal(map[string]string{"job": job})
	t := &types.Target{Arn: aws.String(fn), RoleArn: aws.String(s.Role), Input: aws.String(string(input)),
		RetryPolicy: &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(2), MaximumEventAgeInSeconds: aws.Int32(600)}}
	if s.DeadLetters != "" {
		t.DeadLetterConfig = &types.DeadLetterConfig{Arn: aws.String(s.DeadLetters)}
	}
	expr := "at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"
	desc := "Framebroker cron " + job + ": one-time wake for its earliest pending retry"
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	_, err = s.Scheduler.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: &name, ScheduleExpression: &expr,
		ScheduleExpressionTimezone: aws.String("UTC"), FlexibleTimeWindow: window, Target: t, Description: &desc,
		ActionAfterCompletion: types.ActionAfterCompletionDelete})
	var conflict *types.ConflictException
	if errors.As(err, &conflict) {
		_, err = s.Scheduler.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: &name, ScheduleExpression: &expr,
			ScheduleExpressionTimezone: aws.String("UTC"), FlexibleTimeWindow: window, Target: t, Description: &desc,
			ActionAfterCompletion: types.ActionAfterCompletionDelete})
	}
	if err != nil {
		return fmt.Errorf("cronrules: one-time wake %s at %s: %w", name, expr, err)
	}
	return nil
}

// invokedFunction is the unqualified ARN of the function this invocation
// runs in.
func invokedFunction(ctx context.Context) (string, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.InvokedFunctionArn == "" {
		return "", errors.New("cronrules: not in a Lambda invocation")
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 7 || parts[5] != "function" {
		return "", fmt.Errorf("cronrules: unexpected function ARN %q", lc.InvokedFunctionArn)
	}
	return strings.Join(parts[:7], ":"), nil
}

// Ungranted is the Waker of a function that may wake no job (no
// EnvRulePrefix): a wake is logged as a warning, since work it commits for
// a due-only job then waits for the daily safety sweep — the function's
// FunctionAccess entry lacks that job in Wakes.
type Ungranted struct{ Function string }

// Wake implements wake.Waker: it only logs.
func (u Ungranted) Wake(ctx context.Context, job string) error {
	slog.WarnContext(ctx, "cronrules: this function committed work for a due-only job it may not wake; the daily sweep will (add the job to its FunctionAccess Wakes)",
		"function", u.Function, "job", job)
	return nil
}
