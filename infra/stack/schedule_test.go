package stack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/framebroker/framebroker/infra/cost"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn/cronrules"
)

// checkWakeGrants: over every IAM policy of the template, events actions
// are only events:EnableRule and events:DisableRule, on named due-only
// rules (no wildcard); a role may enable a job's rule only if its function
// wakes that job (FunctionAccess Wakes), and only the cron function may
// disable one. roles maps role logical ids to function names.
func checkWakeGrants(tpl map[string]any, roles map[string]string, prefix string) error {
	res, _ := tpl["Resources"].(map[string]any)
	var errs []string
	for id, r := range res {
		rm := r.(map[string]any)
		if rm["Type"] != "AWS::IAM::Policy" && rm["Type"] != "AWS::IAM::Role" {
			continue
		}
		p := props(rm)
		var docs []any
		var fns []string
		if rm["Type"] == "AWS::IAM::Policy" {
			docs = append(docs, p["PolicyDocument"])
			for _, role := range list(p["Roles"]) {
				fns = append(fns, roles[refID(role)])
			}
		} else {
			for _, pol := range list(p["Policies"]) {
				docs = append(docs, pol.(map[string]any)["PolicyDocument"])
			}
			fns = append(fns, roles[id])
		}
		for _, doc := range docs {
			d, _ := doc.(map[string]any)
			for _, s := range list(d["Statement"]) {
				st := s.(map[string]any)
				for _, a := range list(st["Action"]) {
					action, _ := a.(string)
					if !strings.HasPrefix(action, "events:") {
						continue
					}
					// Other roles' events grants on their own rules (the
					// state machine's managed ECS rule) are not the
					// schedule's; switching rules on or off is.
					switchy := action == "events:EnableRule" || action == "events:DisableRule" || action == "events:*"
					if !switchy && !anyFunction(fns) {
						continue
					}
					for _, rsc := range list(st["Resource"]) {
						arn := render(rsc, nil)
						job, ok := strings.CutPrefix(arn[strings.LastIndex(arn, "/")+1:], prefix)
						if !ok || !strings.Contains(arn, ":rule/") || !contains(cron.DueOnlyJobs(cron.Schedule), job) {
							errs = append(errs, fmt.Sprintf("%s: %s on %s, not a due-only cron rule", id, action, arn))
							continue
						}
						for _, fn := range fns {
							switch {
							case fn == "":
								errs = append(errs, fmt.Sprintf("%s: %s on %s for a role that is no function's", id, action, arn))
							case action == "events:EnableRule" && !contains(FunctionAccess[fn].Wakes, job):
								errs = append(errs, fmt.Sprintf("%s may enable %s's rule, but commits no work for it", fn, job))
							case action == "events:DisableRule" && fn != cron.Function:
								errs = append(errs, fmt.Sprintf("%s may disable %s's rule", fn, job))
							case action != "events:EnableRule" && action != "events:DisableRule":
								errs = append(errs, fmt.Sprintf("%s holds %s", fn, action))
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func anyFunction(fns []string) bool {
	for _, f := range fns {
		if f != "" {
			return true
		}
	}
	return false
}

// TestDueOnlyRulesStartDisabled (issue 16, idle cost): in the template as
// deployed, every due-only cron job's rule is DISABLED and named
// "<stack>-cron-<job>" (what the functions' FRAMEBROKER_CRON_RULE_PREFIX
// and grants name), every other rule is enabled; only the functions that
// commit a job's work may enable its rule, only the cron function may
// disable one, and nothing else in the stack may touch rules. The check
// refuses a widened grant (adversarial copies of the template).
func TestDueOnlyRulesStartDisabled(t *testing.T) {
	fx := defaultStack(t)
	prefix := CronRulePrefix(fx.stack.Stack)
	due := cron.DueOnlyJobs(cron.Schedule)
	if len(due) != 5 { // webhook-retries, job-reconcile, mail-outbox, asset-verify, ledger-full
		t.Fatalf("due-only jobs %v", due)
	}
	seen := map[string]bool{}
	for id, r := range find(fx.tpl, "AWS::Events::Rule") {
		p := props(r)
		desc, _ := p["Description"].(string)
		job := strings.Fields(strings.TrimPrefix(desc, "Framebroker cron "))[0]
		if contains(due, job) {
			seen[job] = true
			if p["State"] != "DISABLED" || p["Name"] != prefix+job || !strings.Contains(desc, cost.DueOnlyMarker) {
				t.Errorf("%s (%s): state %v, name %v, description %q", id, job, p["State"], p["Name"], desc)
			}
		} else if p["State"] == "DISABLED" {
			t.Errorf("%s (%s) is disabled but not due-only: it would never run", id, job)
		}
	}
	if len(seen) != len(due) {
		t.Errorf("rules for %v, want %v", seen, due)
	}
	roles := map[string]string{}
	for name, role := range fx.stack.fns.roles {
		roles[*fx.stack.Stack.GetLogicalId(role.Node().DefaultChild().(awscdk.CfnElement))] = name
	}
	if err := checkWakeGrants(fx.json, roles, prefix); err != nil {
		t.Error(err)
	}
	// The runtime finds the rules by the prefix in its environment:
	// exactly the functions that wake have it.
	for name, fn := range fx.stack.fns.byName {
		id := *fx.stack.Stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
		v, set := props(find(fx.tpl, "AWS::Lambda::Function")[id])["Environment"].(map[string]any)["Variables"].(map[string]any)[cronrules.EnvRulePrefix]
		if wakes := len(FunctionAccess[name].Wakes) > 0; set != wakes || (set && v != prefix) {
			t.Errorf("%s: %s = %v (set %v, wakes %v)", name, cronrules.EnvRulePrefix, v, set, FunctionAccess[name].Wakes)
		}
	}
	if len(FunctionAccess["provenance"].Wakes)+len(FunctionAccess["health"].Wakes)+len(FunctionAccess[AuthorizerFunction].Wakes) != 0 ||
		!FunctionAccess[cron.Function].Settles {
		t.Error("FunctionAccess: only functions that commit due work wake; the cron function settles")
	}

	// One-time wakes: EventBridge Scheduler's role (assumed by the
	// scheduler service of this account only) may invoke the cron function
	// and write the dead-letter queue, nothing else; only the cron function
	// knows it (environment) and may pass it.
	n := names(fx)
	timerID := *fx.stack.Stack.GetLogicalId(fx.stack.schedule.timer.Node().DefaultChild().(awscdk.CfnElement))
	got, _ := grants(t, fx, timerID, n)
	cronFn := *fx.stack.Stack.GetLogicalId(fx.stack.fns.get(cron.Function).Node().DefaultChild().(awscdk.CfnElement))
	want := map[string]bool{"lambda:InvokeFunction ${" + cronFn + ".Arn}": true, "sqs:SendMessage ${dlq.Arn}": true}
	if str(got) != str(want) {
		t.Errorf("scheduler role grants %v, want %v", got, want)
	}
	trust := str(props(find(fx.tpl, "AWS::IAM::Role")[timerID])["AssumeRolePolicyDocument"])
	if !strings.Contains(trust, `"Service":"scheduler.amazonaws.com"`) || !strings.Contains(trust, `"aws:SourceAccount"`) {
		t.Errorf("scheduler role trust %s", trust)
	}
	for name, fn := range fx.stack.fns.byName {
		id := *fx.stack.Stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
		_, set := props(find(fx.tpl, "AWS::Lambda::Function")[id])["Environment"].(map[string]any)["Variables"].(map[string]any)[cronrules.EnvSchedulerRole]
		if set != (name == cron.Function) {
			t.Errorf("%s: %s set %v", name, cronrules.EnvSchedulerRole, set)
		}
		role := *fx.stack.Stack.GetLogicalId(fx.stack.fns.roles[name].Node().DefaultChild().(awscdk.CfnElement))
		g, _ := grants(t, fx, role, n)
		for line := range g {
			if (strings.HasPrefix(line, "scheduler:") || strings.Contains(line, "${schedulerRole")) && name != cron.Function {
				t.Errorf("%s holds %s", name, line)
			}
		}
	}

	// Adversarial: the same template with one grant widened each way.
	for _, tc := range []struct {
		name string
		edit func(st map[string]any)
		want string
	}{
		{"enable on every rule", func(st map[string]any) { st["Resource"] = "*" }, "not a due-only cron rule"},
		{"disable from a waker", func(st map[string]any) { st["Action"] = "events:DisableRule" }, "may disable"},
		{"PutRule", func(st map[string]any) { st["Action"] = "events:PutRule" }, "holds events:PutRule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(fx.json)
			var tpl map[string]any
			if err := json.Unmarshal(b, &tpl); err != nil {
				t.Fatal(err)
			}
			edited := false
			for _, r := range tpl["Resources"].(map[string]any) {
				rm := r.(map[string]any)
				if rm["Type"] != "AWS::IAM::Policy" || edited {
					continue
				}
				fns := list(props(rm)["Roles"])
				if len(fns) == 0 || roles[refID(fns[0])] != "assets" {
					continue
				}
				for _, s := range list(props(rm)["PolicyDocument"].(map[string]any)["Statement"]) {
					st := s.(map[string]any)
					if st["Action"] == "events:EnableRule" && !edited {
						tc.edit(st)
						edited = true
					}
				}
			}
			if !edited {
				t.Fatal("no events:EnableRule statement in the assets role's policy")
			}
			if err := checkWakeGrants(tpl, roles, prefix); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("widened grant accepted or misreported: %v", err)
			}
		})
	}
}

// TestPassRoleToSchedulerOnly: the cron function's PassRole of the
// scheduler's role is accepted by the T-13 check only with the condition
// that the role goes to EventBridge Scheduler; without it, it is refused.
func TestPassRoleToSchedulerOnly(t *testing.T) {
	fx := defaultStack(t)
	if err := checkPassRole(fx.tpl); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(fx.json)
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	dropped := false
	for _, r := range tpl["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] != "AWS::IAM::Policy" {
			continue
		}
		for _, s := range list(props(rm)["PolicyDocument"].(map[string]any)["Statement"]) {
			st := s.(map[string]any)
			if st["Action"] == "iam:PassRole" && st["Condition"] != nil {
				delete(st, "Condition")
				dropped = true
			}
		}
	}
	if !dropped {
		t.Fatal("no conditioned PassRole in the template")
	}
	if err := checkPassRole(assertions.Template_FromJSON(&tpl, nil)); err == nil || !strings.Contains(err.Error(), "iam:PassRole on") {
		t.Fatalf("a PassRole of the scheduler role without its condition passed: %v", err)
	}
}
