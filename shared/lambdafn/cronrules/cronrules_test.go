package cronrules

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

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
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := FromEnv(context.Background(), nil); err == nil {
		t.Fatal("a rule prefix without the role's credentials in the environment was accepted")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	sw, err := FromEnv(context.Background(), []string{cron.JobReconcile})
	if err != nil || sw == nil || sw.Prefix != "S-cron-" {
		t.Fatalf("%+v %v", sw, err)
	}
	if n, _ := sw.Rule(cron.JobReconcile); n != "S-cron-job-reconcile" {
		t.Fatal(n)
	}
}

type fakeScheduler struct {
	created, updated []*scheduler.CreateScheduleInput
	exists           bool
}

func (f *fakeScheduler) CreateSchedule(_ context.Context, in *scheduler.CreateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	if f.exists {
		return nil, &types.ConflictException{Message: aws.String("exists")}
	}
	f.created = append(f.created, in)
	f.exists = true
	return &scheduler.CreateScheduleOutput{}, nil
}

func (f *fakeScheduler) UpdateSchedule(_ context.Context, in *scheduler.UpdateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	f.updated = append(f.updated, &scheduler.CreateScheduleInput{Name: in.Name, ScheduleExpression: in.ScheduleExpression, Target: in.Target})
	return &scheduler.UpdateScheduleOutput{}, nil
}

// TestWakeAt: a one-time wake is a self-deleting schedule named like the
// rule that invokes this function (unqualified ARN) with {"job": …}
// through the scheduler role, dead letters to the cron queue; a second
// wake moves it; without the scheduler configuration WakeAt refuses, so
// the caller keeps the rule on.
func TestWakeAt(t *testing.T) {
	fs := &fakeScheduler{}
	sw := &Switch{Client: &fakeAPI{}, Prefix: "Fb-cron-", Jobs: cron.DueOnlyJobs(cron.Schedule),
		Scheduler: fs, Role: "arn:aws:iam::1:role/sched", DeadLetters: "arn:aws:sqs:eu-west-1:1:dlq"}
	var _ wake.Timer = sw
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:eu-west-1:1:function:Fb-cron:live"})
	at := time.Date(2026, 11, 30, 12, 34, 56, 0, time.FixedZone("X", 3600))
	if err := sw.WakeAt(ctx, cron.WebhookRetries, at); err != nil {
		t.Fatal(err)
	}
	if err := sw.WakeAt(ctx, cron.WebhookRetries, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(fs.created) != 1 || len(fs.updated) != 1 {
		t.Fatalf("created %d updated %d", len(fs.created), len(fs.updated))
	}
	c := fs.created[0]
	if *c.Name != "Fb-cron-webhook-retries" || *c.ScheduleExpression != "at(2026-11-30T11:34:56)" || c.ActionAfterCompletion != types.ActionAfterCompletionDelete ||
		*c.Target.Arn != "arn:aws:lambda:eu-west-1:1:function:Fb-cron" || *c.Target.RoleArn != "arn:aws:iam::1:role/sched" ||
		*c.Target.Input != `{"job":"webhook-retries"}` || *c.Target.DeadLetterConfig.Arn != "arn:aws:sqs:eu-west-1:1:dlq" {
		t.Fatalf("schedule %+v target %+v", c, c.Target)
	}
	if *fs.updated[0].ScheduleExpression != "at(2026-11-30T12:34:56)" {
		t.Fatalf("moved to %s", *fs.updated[0].ScheduleExpression)
	}
	if err := (&Switch{Client: &fakeAPI{}, Prefix: "p", Jobs: []string{cron.MailOutbox}}).WakeAt(ctx, cron.MailOutbox, at); err == nil {
		t.Fatal("a function without the scheduler role set a one-time wake")
	}
	if err := sw.WakeAt(context.Background(), cron.MailOutbox, at); err == nil {
		t.Fatal("a one-time wake outside a Lambda invocation")
	}
}

// TestUngrantedWakeIsLogged: a function without the grant logs each wake
// (a wiring bug: the work waits for the daily sweep) and reports no error
// to the committed request.
func TestUngrantedWakeIsLogged(t *testing.T) {
	var buf strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	var w wake.Waker = Ungranted{Function: "checkout"}
	if err := w.Wake(context.Background(), cron.MailOutbox); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "function=checkout") || !strings.Contains(s, "job=mail-outbox") {
		t.Fatalf("log %q", s)
	}
}
