package cronrules

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/cron/wake"
)

type fakeAPI struct {
	calls []string
	err   error
}

func (f *fakeAPI) EnableRule(_ context.Context, in *eventbridge.EnableRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.EnableRuleOutput, error) {
	f.calls = append(f.calls, "enable "+*in.Name)
	return &eventbridge.EnableRuleOutput{}, f.err
}

func (f *fakeAPI) DisableRule(_ context.Context, in *eventbridge.DisableRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.DisableRuleOutput, error) {
	f.calls = append(f.calls, "disable "+*in.Name)
	return &eventbridge.DisableRuleOutput{}, f.err
}

// TestSwitch: Wake and Sleep enable and disable "<prefix><job>" for the
// due-only jobs only (a daily job's rule is never switched), and report
// the API's refusal.
func TestSwitch(t *testing.T) {
	api := &fakeAPI{}
	var sw wake.Switch = &Switch{Client: api, Prefix: "Framebroker-cron-", Jobs: cron.DueOnlyJobs(cron.Schedule)}
	ctx := context.Background()
	if err := sw.Wake(ctx, cron.WebhookRetries); err != nil {
		t.Fatal(err)
	}
	if err := sw.Sleep(ctx, cron.MailOutbox); err != nil {
		t.Fatal(err)
	}
	if err := sw.Wake(ctx, cron.Retention); err == nil {
		t.Fatal("woke a daily job's rule")
	}
	if got := strings.Join(api.calls, "; "); got != "enable Framebroker-cron-webhook-retries; disable Framebroker-cron-mail-outbox" {
		t.Fatalf("calls %q", got)
	}
	api.err = errors.New("AccessDeniedException")
	if err := sw.Wake(ctx, cron.AssetVerify); err == nil || !strings.Contains(err.Error(), "Framebroker-cron-asset-verify") {
		t.Fatalf("refused enable: %v", err)
	}
}

// TestFromEnv: without the prefix a function wakes nothing.
func TestFromEnv(t *testing.T) {
	t.Setenv(EnvRulePrefix, "")
	if sw, err := FromEnv(context.Background(), nil); sw != nil || err != nil {
		t.Fatalf("%v %v", sw, err)
	}
	t.Setenv(EnvRulePrefix, "S-cron-")
	t.Setenv("AWS_REGION", "eu-west-1")
	sw, err := FromEnv(context.Background(), []string{cron.JobReconcile})
	if err != nil || sw == nil || sw.Prefix != "S-cron-" {
		t.Fatalf("%+v %v", sw, err)
	}
	if n, _ := sw.Rule(cron.JobReconcile); n != "S-cron-job-reconcile" {
		t.Fatal(n)
	}
}
