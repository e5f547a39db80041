package stack

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// names maps the logical ids of the resources policies point at to
// stable names, so grants read "${media.Arn}/ws/*" in any stack.
func names(fx *fixture) map[string]string {
	s := fx.stack
	lid := func(c constructs.IConstruct) string {
		return *s.Stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
	}
	m := map[string]string{
		lid(s.data.media):         "media",
		lid(s.data.appSecret):     "appSecret",
		lid(s.data.cronSecret):    "cronSecret",
		lid(s.data.keyringSecret): "keyringSecret",
		lid(s.worker.machine):     "machine",
		lid(s.schedule.dlq):       "dlq",
	}
	if s.schedule.timer != nil {
		m[lid(s.schedule.timer)] = "schedulerRole"
	}
	if k, ok := s.data.key.(awscdk.Resource); ok && fx.props.KeyArn == "" {
		m[lid(k)] = "key"
	}
	if s.data.cluster != nil {
		m[*s.Stack.GetLogicalId(s.data.ownerSecret.Node().DefaultChild().(awscdk.CfnElement))] = "ownerSecret"
	}
	for name, lg := range s.fns.logs {
		m[lid(lg)] = "logs-" + name
	}
	m[lid(s.fns.probe.fn)] = "probe"
	m[lid(s.fns.probe.logs)] = "logs-probe"
	return m
}

// render flattens a CloudFormation value: Ref and GetAtt become ${name}
// and ${name.Attr}, Fn::Join is joined, literals stay.
func render(v any, n map[string]string) string {
	name := func(id string) string {
		if x, ok := n[id]; ok {
			return x
		}
		return id
	}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			return "${" + name(r) + "}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return "${" + name(ga[0].(string)) + "." + ga[1].(string) + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p, n))
			}
			return strings.Join(parts, j[0].(string))
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+render(x[k], n))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, render(p, n))
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// grants are a role's Allow statements as "action resource [condition]"
// lines: its inline policies and the AWS::IAM::Policy resources attached
// to it. Managed policies are returned apart.
func grants(t *testing.T, fx *fixture, roleID string, n map[string]string) (map[string]bool, []any) {
	t.Helper()
	out := map[string]bool{}
	add := func(doc any) {
		d, _ := doc.(map[string]any)
		for _, s := range list(d["Statement"]) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("role %s: a %v statement (only Allow is expected)", roleID, st["Effect"])
				continue
			}
			cond := ""
			if c, ok := st["Condition"]; ok {
				cond = " if " + render(c, n)
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					out[a.(string)+" "+render(r, n)+cond] = true
				}
			}
		}
	}
	role := find(fx.tpl, "AWS::IAM::Role")[roleID]
	for _, p := range list(props(role)["Policies"]) {
		add(p.(map[string]any)["PolicyDocument"])
	}
	for _, pol := range find(fx.tpl, "AWS::IAM::Policy") {
		for _, r := range list(props(pol)["Roles"]) {
			if refID(r) == roleID {
				add(props(pol)["PolicyDocument"])
			}
		}
	}
	return out, list(props(role)["ManagedPolicyArns"])
}

// expectedGrants is what one function's role must hold, derived from
// the function's FunctionAccess entry.
func expectedGrants(fx *fixture, fn string) map[string]bool {
	acc := FunctionAccess[fn]
	key := "${key.Arn}"
	if fx.props.KeyArn != "" {
		key = fx.props.KeyArn
	}
	via := func(svc string) string {
		return " if {StringEquals={kms:ViaService=" + svc + ".${AWS::Region}.amazonaws.com}}"
	}
	if r := fx.props.StackProps.Env; r != nil && r.Region != nil {
		via = func(svc string) string {
			return " if {StringEquals={kms:ViaService=" + svc + "." + *r.Region + ".amazonaws.com}}"
		}
	}
	want := map[string]bool{
		"logs:CreateLogStream ${logs-" + fn + ".Arn}": true,
		"logs:PutLogEvents ${logs-" + fn + ".Arn}":    true,
	}
	for _, a := range eniActions {
		want[a+" *"] = true
	}
	secrets := 0
	for _, s := range acc.Secrets {
		var arn string
		switch s {
		case SecretAppDatabase:
			arn = "${appSecret}"
		case SecretOwnerDatabase:
			arn = "${ownerSecret}"
			if fx.props.DatabaseSecretArn != "" {
				arn = fx.props.DatabaseSecretArn
			}
		case SecretCron:
			arn = "${cronSecret}"
		case SecretKeyring:
			arn = "${keyringSecret}"
		case SecretOperator:
			if fx.props.SecretsArn == "" {
				// Per-purpose secrets: exactly those of the function's
				// purposes that the operator gave.
				for _, purpose := range lambdafn.FunctionSecrets[fn] {
					if a := fx.props.OperatorSecretArns[purpose]; a != "" {
						want["secretsmanager:GetSecretValue "+a] = true
						secrets++
					}
				}
				continue
			}
			arn = fx.props.SecretsArn
		}
		want["secretsmanager:GetSecretValue "+arn] = true
		secrets++
	}
	if secrets > 0 {
		want["kms:Decrypt "+key+via("secretsmanager")] = true
	}
	var get, put bool
	for _, o := range acc.Objects {
		for _, a := range o.Actions {
			want[a+" ${media.Arn}/"+o.Pattern] = true
			get, put = get || a == s3Get, put || a == s3Put
		}
	}
	if get {
		want["kms:Decrypt "+key+via("s3")] = true
	}
	if put {
		want["kms:GenerateDataKey "+key+via("s3")] = true
	}
	for _, p := range acc.ListPrefixes {
		cond := " if {StringLike={s3:prefix=[" + p + "]}}"
		want["s3:ListBucket ${media.Arn}"+cond] = true
		if acc.ListVersions {
			want["s3:ListBucketVersions ${media.Arn}"+cond] = true
		}
	}
	for _, a := range acc.Executions {
		if a == "states:StartExecution" {
			want[a+" ${machine}"] = true
		} else {
			region, account := "${AWS::Region}", "${AWS::AccountId}"
			if e := fx.props.StackProps.Env; e != nil && e.Account != nil {
				region, account = *e.Region, *e.Account
			}
			want[a+" arn:${AWS::Partition}:states:"+region+":"+account+":execution:${machine.Name}:*"] = true
		}
	}
	if fn == cron.Function || fn == PurgeFunction {
		want["sqs:SendMessage ${dlq.Arn}"] = true // the Lambda dead-letter queue
	}
	for _, target := range acc.Invokes {
		want["lambda:InvokeFunction ${"+target+".Arn}"] = true
	}
	for _, j := range acc.Wakes {
		want["events:EnableRule "+ruleArn(fx, j)] = true
	}
	if acc.Settles {
		for _, j := range cron.DueOnlyJobs(fx.props.Schedule) {
			want["events:DisableRule "+ruleArn(fx, j)] = true
		}
		// One-time wakes: its own schedules, and the scheduler's role
		// passed to the scheduler only.
		for _, j := range cron.TimedJobs(fx.props.Schedule) {
			arn := strings.Replace(strings.Replace(ruleArn(fx, j), ":events:", ":scheduler:", 1), ":rule/", ":schedule/default/", 1)
			want["scheduler:CreateSchedule "+arn] = true
			want["scheduler:UpdateSchedule "+arn] = true
		}
		want["iam:PassRole ${schedulerRole.Arn} if {StringEquals={iam:PassedToService=scheduler.amazonaws.com}}"] = true
	}
	return want
}

// ruleArn is a due-only job's rule ARN as render prints it.
func ruleArn(fx *fixture, job string) string {
	region, account := "${AWS::Region}", "${AWS::AccountId}"
	if e := fx.props.StackProps.Env; e != nil && e.Account != nil {
		region, account = *e.Region, *e.Account
	}
	return "arn:${AWS::Partition}:events:" + region + ":" + account + ":rule/" + CronRuleName(fx.stack.Stack, job)
}

// TestLeastPrivilegePerFunction: every function the router table names
// (and the fixed ones) has its own role holding exactly what
// FunctionAccess grants it: no managed policy, no extra action or
// resource. Independently of that table: only the purge role may delete
// object versions, health and the authorizer read the app database secret
// and nothing else, no function reads the owner secret but migrate, and no
// S3 action is a wildcard.
func TestLeastPrivilegePerFunction(t *testing.T) {
	for _, f := range append(variants[:len(variants):len(variants)], struct {
		name string
		fix  func(*testing.T) *fixture
	}{"purposes", purposesStack}) {
		fx := f.fix(t)
		n := names(fx)
		fns := deployed(fx.props.Functions)
		for _, want := range append(fx.props.Table.Functions(), AuthorizerFunction, PipelineFunction, MigrateFunction, cron.Function, PurgeFunction) {
			if !contains(fns, want) {
				t.Errorf("%s: the router table names %s, which is not deployed", f.name, want)
			}
		}
		for _, fn := range fns {
			t.Run(f.name+"/"+fn, func(t *testing.T) {
				role := *fx.stack.Stack.GetLogicalId(fx.stack.fns.roles[fn].Node().DefaultChild().(awscdk.CfnElement))
				got, managed := grants(t, fx, role, n)
				if len(managed) > 0 {
					t.Errorf("managed policies %s", str(managed))
				}
				want := expectedGrants(fx, fn)
				for g := range got {
					if !want[g] {
						t.Errorf("extra permission: %s", g)
					}
				}
				for g := range want {
					if !got[g] {
						t.Errorf("missing permission: %s", g)
					}
				}
				// Invariants that hold whatever FunctionAccess says.
				for g := range got {
					action := strings.Fields(g)[0]
					if action == s3DeleteVersion && fn != PurgeFunction {
						t.Errorf("%s may delete object versions", fn)
					}
					if strings.HasPrefix(action, "s3:") && strings.Contains(action, "*") {
						t.Errorf("wildcard S3 action %s", g)
					}
					if strings.Contains(g, "${ownerSecret}") || (fx.props.DatabaseSecretArn != "" && strings.Contains(g, fx.props.DatabaseSecretArn)) {
						if fn != MigrateFunction {
							t.Errorf("%s reads the owner's secret", fn)
						}
					}
					// Only the cron function switches schedules off; the
					// others may only switch on the rules of due-only jobs.
					if action == "events:DisableRule" && fn != cron.Function {
						t.Errorf("%s may disable cron rules: %s", fn, g)
					}
					if strings.HasPrefix(action, "events:") && !strings.Contains(g, ":rule/"+CronRulePrefix(fx.stack.Stack)) {
						t.Errorf("%s: an events grant outside the due-only cron rules: %s", fn, g)
					}
					if (fn == "health" || fn == AuthorizerFunction) && (strings.HasPrefix(action, "s3:") ||
						(action == "secretsmanager:GetSecretValue" && !strings.HasSuffix(g, "${appSecret}"))) {
						t.Errorf("%s holds %s", fn, g)
					}
				}
			})
		}
		// No other role in the stack may delete object versions either.
		for id, pol := range find(fx.tpl, "AWS::IAM::Policy") {
			if strings.Contains(str(props(pol)["PolicyDocument"]), s3DeleteVersion) &&
				refID(list(props(pol)["Roles"])[0]) != *fx.stack.Stack.GetLogicalId(fx.stack.fns.roles[PurgeFunction].Node().DefaultChild().(awscdk.CfnElement)) {
				t.Errorf("%s: policy %s grants %s", f.name, id, s3DeleteVersion)
			}
		}
	}
}

// TestFunctionAccessCoversTheTable: a function without an entry is refused
// at synth, so a new route function cannot deploy with a default grant.
func TestFunctionAccessCoversTheTable(t *testing.T) {
	_, fns := tableAndFunctions(t)
	if err := checkAccess(fns, cron.Schedule); err != nil {
		t.Fatal(err)
	}
	err := checkAccess(append(fns, "newfunction"), cron.Schedule)
	if err == nil || !strings.Contains(err.Error(), "newfunction") {
		t.Fatalf("a function without FunctionAccess entry was accepted: %v", err)
	}
}

// operatorSecretsByPurpose is the purposes stack's per-purpose operator
// secrets.
var operatorSecretsByPurpose = map[string]string{
	lambdafn.SecretStripe:  "arn:aws:secretsmanager:eu-west-1:111122223333:secret:fb/stripe-AbCdEf",
	lambdafn.SecretSMTP:    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:fb/smtp-AbCdEf",
	lambdafn.SecretTOTP:    "arn:aws:secretsmanager:eu-west-1:111122223333:secret:fb/totp-AbCdEf",
	lambdafn.SecretWebhook: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:fb/webhook-AbCdEf",
	lambdafn.SecretOAuth:   "arn:aws:secretsmanager:eu-west-1:111122223333:secret:fb/oauth-AbCdEf",
}

// purposesStack is the default stack given one operator secret per
// purpose instead of one for everything.
func purposesStack(t *testing.T) *fixture {
	return synth(t, "purposes", func(p *Props) { p.OperatorSecretArns = operatorSecretsByPurpose })
}

// TestOperatorSecretsPerPurpose (issue 12, "reads only the secrets it
// needs"): with one secret per purpose, each function is told (env) and
// may read (TestLeastPrivilegePerFunction checks the grants) exactly the
// secrets of its purposes: only checkout the Stripe keys, only auth the
// TOTP and OAuth ones, only webhooks, cron and purge the webhook sealing
// key; no function is given the one-for-everything secret.
func TestOperatorSecretsPerPurpose(t *testing.T) {
	fx := purposesStack(t)
	fns := find(fx.tpl, "AWS::Lambda::Function")
	readers := map[string][]string{} // purpose → functions told its ARN
	for name, fn := range fx.stack.fns.byName {
		id := *fx.stack.Stack.GetLogicalId(fn.Node().DefaultChild().(awscdk.CfnElement))
		vars, _ := props(fns[id])["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := vars[lambdafn.EnvSecretsArn]; ok {
			t.Errorf("%s is given %s", name, lambdafn.EnvSecretsArn)
		}
		for _, s := range lambdafn.OperatorSecrets {
			v, ok := vars[s.ArnEnv]
			if want := slices.Contains(lambdafn.FunctionSecrets[name], s.Purpose); ok != want || (ok && v != operatorSecretsByPurpose[s.Purpose]) {
				t.Errorf("%s: %s = %v (set %v, want set %v)", name, s.ArnEnv, v, ok, want)
			}
			if ok {
				readers[s.Purpose] = append(readers[s.Purpose], name)
			}
		}
	}
	for purpose, want := range map[string][]string{
		lambdafn.SecretStripe:  {"checkout"},
		lambdafn.SecretTOTP:    {"auth"},
		lambdafn.SecretOAuth:   {"auth"},
		lambdafn.SecretWebhook: {"cron", "purge", "webhooks"},
	} {
		if got := slices.Sorted(slices.Values(readers[purpose])); !slices.Equal(got, want) {
			t.Errorf("%s secret told to %v, want %v", purpose, got, want)
		}
	}
}
