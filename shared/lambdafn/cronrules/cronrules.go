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
	"fmt"
	"os"
	"slices"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// EnvRulePrefix is the prefix of the due-only rules' names ("<stack>-cron-");
// a function without it wakes nothing (it commits no due work).
const EnvRulePrefix = "FRAMEBROKER_CRON_RULE_PREFIX"

// API is the part of the EventBridge client the switch uses.
type API interface {
	EnableRule(ctx context.Context, in *eventbridge.EnableRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.EnableRuleOutput, error)
	DisableRule(ctx context.Context, in *eventbridge.DisableRuleInput, opts ...func(*eventbridge.Options)) (*eventbridge.DisableRuleOutput, error)
}

// Switch enables and disables the rules of Jobs (a wake.Switch).
type Switch struct {
	Client API
	Prefix string
	// Jobs are the due-only jobs; any other name is refused.
	Jobs []string
}

// FromEnv is the Switch of this function (nil without EnvRulePrefix): the
// default AWS configuration (the function's role, AWS_REGION).
func FromEnv(ctx context.Context, jobs []string) (*Switch, error) {
	prefix := os.Getenv(EnvRulePrefix)
	if prefix == "" {
		return nil, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("cronrules: aws config: %w", err)
	}
	// A throttled wake is retried a little longer than the SDK's default:
	// a wake that still fails leaves the work to the daily sweep.
	client := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.RetryMaxAttempts = 6 })
	return &Switch{Client: client, Prefix: prefix, Jobs: jobs}, nil
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
