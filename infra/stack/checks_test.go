package stack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/infra/cfn"
	"github.com/framebroker/framebroker/shared/cron"
)

// The T-13 checks, each over a synthesized template. They return an error
// instead of failing the test so that the adversarial test can prove each
// one fails on a stack that breaks its rule. Checks that use the assertions
// library recover its panic (a failed assertion panics).

// resources is a template's resources of one type, by logical id.
type resources map[string]map[string]any

func find(tpl assertions.Template, typ string) resources {
	out := resources{}
	for id, r := range *tpl.FindResources(jsii.String(typ), nil) {
		out[id] = *r
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// assert runs an assertions call, turning its panic into an error.
func assert(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", what, r)
		}
	}()
	f()
	return nil
}

func str(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// list and refID read template values (infra/cfn).
var (
	list  = cfn.List
	refID = cfn.RefID
)

// checkNoTaskRole: no task definition has a task role (T-04).
func checkNoTaskRole(tpl assertions.Template) error {
	if len(find(tpl, "AWS::ECS::TaskDefinition")) == 0 {
		return fmt.Errorf("no task definition")
	}
	return assert("a task definition has a TaskRoleArn", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::ECS::TaskDefinition"), &map[string]any{
			"TaskRoleArn": assertions.Match_Absent(),
		})
	})
}

// checkPassRole: every statement that can pass a role passes only task
// definitions' execution roles, or a role only EventBridge Scheduler may
// assume passed with the condition that it goes to the scheduler (the cron
// function's one-time wakes), and no statement grants iam:* or *. So no
// role can ever reach the worker's task (it has none, T-04).
func checkPassRole(tpl assertions.Template) error {
	exec := map[string]bool{}
	for _, td := range find(tpl, "AWS::ECS::TaskDefinition") {
		if id := refID(props(td)["ExecutionRoleArn"]); id != "" {
			exec[id] = true
		}
	}
	schedulerOnly := map[string]bool{}
	for id, r := range find(tpl, "AWS::IAM::Role") {
		trust := str(props(r)["AssumeRolePolicyDocument"])
		if strings.Count(trust, `"Service":`) == 1 && strings.Contains(trust, `"Service":"scheduler.amazonaws.com"`) {
			schedulerOnly[id] = true
		}
	}
	var bad []string
	for id, pol := range find(tpl, "AWS::IAM::Policy") {
		doc, _ := props(pol)["PolicyDocument"].(map[string]any)
		for _, s := range list(doc["Statement"]) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			passes := false
			for _, a := range list(st["Action"]) {
				switch a {
				case "iam:PassRole":
					passes = true
				case "*", "iam:*":
					bad = append(bad, id+": grants "+a.(string))
				}
			}
			if !passes {
				continue
			}
			toScheduler := str(st["Condition"]) == `{"StringEquals":{"iam:PassedToService":"scheduler.amazonaws.com"}}`
			for _, r := range list(st["Resource"]) {
				if !exec[refID(r)] && !(toScheduler && schedulerOnly[refID(r)]) {
					bad = append(bad, id+": iam:PassRole on "+str(r))
				}
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// checkBuckets: every bucket is SSE-KMS encrypted, blocks public access and
// has a policy denying requests without TLS.
func checkBuckets(tpl assertions.Template) error {
	buckets := find(tpl, "AWS::S3::Bucket")
	if len(buckets) == 0 {
		return fmt.Errorf("no bucket")
	}
	// Access-log buckets are the exception: S3 log delivery writes only
	// with SSE-S3.
	logTargets := map[string]bool{}
	for _, b := range buckets {
		if lc, ok := props(b)["LoggingConfiguration"].(map[string]any); ok {
			logTargets[refID(lc["DestinationBucketName"])] = true
		}
	}
	for id, b := range buckets {
		want := "aws:kms"
		if logTargets[id] {
			want = "AES256"
		}
		enc := str(props(b)["BucketEncryption"])
		if !strings.Contains(enc, `"SSEAlgorithm":"`+want+`"`) || (want == "aws:kms" && !strings.Contains(enc, "KMSMasterKeyID")) {
			return fmt.Errorf("bucket %s is not SSE-KMS (or SSE-S3 for an access-log bucket): %s", id, enc)
		}
		if str(props(b)["PublicAccessBlockConfiguration"]) != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			return fmt.Errorf("bucket %s does not block public access", id)
		}
	}
	tls := map[string]bool{}
	for _, bp := range find(tpl, "AWS::S3::BucketPolicy") {
		doc, _ := props(bp)["PolicyDocument"].(map[string]any)
		for _, s := range list(doc["Statement"]) {
			st := s.(map[string]any)
			if st["Effect"] == "Deny" && str(st["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` && str(st["Principal"]) == `{"AWS":"*"}` && str(st["Action"]) == `"s3:*"` {
				tls[refID(props(bp)["Bucket"])] = true
			}
		}
	}
	for id := range buckets {
		if !tls[id] {
			return fmt.Errorf("bucket %s does not deny non-TLS requests", id)
		}
	}
	return nil
}

// checkLambdas: every function is a Go bootstrap on provided.al2023 or a
// container image (the probe function's: no runtime of its own, its
// bootstrap is the image's Go binary), on arm64, and none has a layer (the
// ffprobe layer did not fit Lambda's 250 MiB beside a function).
func checkLambdas(tpl assertions.Template) error {
	for id, r := range find(tpl, "AWS::Lambda::Function") {
		p := props(r)
		switch p["PackageType"] {
		case "Image":
			if p["Runtime"] != nil || p["Handler"] != nil {
				return fmt.Errorf("image Lambda %s names a runtime or handler", id)
			}
		case nil, "Zip":
			if p["Runtime"] != "provided.al2023" {
				return fmt.Errorf("Lambda %s is %s, not provided.al2023", id, str(p["Runtime"]))
			}
		default:
			return fmt.Errorf("Lambda %s has package type %s", id, str(p["PackageType"]))
		}
		if str(p["Architectures"]) != `["arm64"]` {
			return fmt.Errorf("Lambda %s is %s, not arm64", id, str(p["Architectures"]))
		}
		if p["Layers"] != nil {
			return fmt.Errorf("Lambda %s has layers %s", id, str(p["Layers"]))
		}
	}
	return nil
}

// checkRoutes: the API's routes are exactly the table's; public ones have no
// authorizer, every other has the Lambda authorizer; nothing under
// /internal/ is exposed; the authorizer does not cache.
func checkRoutes(tpl assertions.Template, t Table) error {
	want := map[string]Route{}
	for _, r := range t.Routes {
		want[r.Key()] = r
	}
	authorizers := find(tpl, "AWS::ApiGatewayV2::Authorizer")
	var bad []string
	got := map[string]bool{}
	for id, r := range find(tpl, "AWS::ApiGatewayV2::Route") {
		p := props(r)
		key, _ := p["RouteKey"].(string)
		got[key] = true
		rt, ok := want[key]
		switch {
		case strings.Contains(key, " /internal/"):
			bad = append(bad, key+" is exposed")
		case !ok:
			bad = append(bad, key+" is not in the router table")
		case rt.Public:
			if at := p["AuthorizationType"]; at != nil && at != "NONE" {
				bad = append(bad, key+" is public in the table but has "+str(at))
			}
		default:
			az := authorizers[refID(p["AuthorizerId"])]
			if p["AuthorizationType"] != "CUSTOM" || az == nil {
				bad = append(bad, key+" ("+id+") lacks the authorizer")
				continue
			}
			ap := props(az)
			if ap["AuthorizerType"] != "REQUEST" || str(ap["IdentitySource"]) != `["$request.header.Authorization"]` {
				bad = append(bad, key+": authorizer is not the session authorizer")
			}
			if ttl, ok := ap["AuthorizerResultTtlInSeconds"].(float64); !ok || ttl != 0 {
				bad = append(bad, key+": authorizer caches results (revocation would lag)")
			}
		}
	}
	for k := range want {
		if !got[k] {
			bad = append(bad, k+" is missing from the API")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// checkCrons: one rule per scheduled job, at its rate, whose target input
// names the job and carries the cron secret from Secrets Manager.
func checkCrons(tpl assertions.Template, schedule []cron.Entry) error {
	rules := find(tpl, "AWS::Events::Rule")
	for _, e := range schedule {
		found := false
		for _, r := range rules {
			p := props(r)
			// Due-only jobs' rules are deployed off (the wakers switch
			// them on); every other rule is on.
			if p["ScheduleExpression"] != e.Expression() || (p["State"] == "DISABLED") != e.DueOnly {
				continue
			}
			for _, tg := range list(p["Targets"]) {
				// The input names the job and carries nothing else: no
				// secret in the template or the rule.
				in := str(tg.(map[string]any)["Input"])
				if in == str(`{"job":"`+e.Name+`"}`) {
					found = true
				}
			}
		}
		if !found {
			return fmt.Errorf("no %s rule for cron %s (disabled: %v) whose input is only the job name", e.Expression(), e.Name, e.DueOnly)
		}
	}
	return nil
}

// workerSecurityGroups are the security groups the state machines run
// tasks in.
func workerSecurityGroups(tpl assertions.Template) []string {
	var out []string
	for _, sm := range find(tpl, "AWS::StepFunctions::StateMachine") {
		def := str(props(sm)["DefinitionString"])
		for id := range find(tpl, "AWS::EC2::SecurityGroup") {
			if strings.Contains(def, `"Fn::GetAtt":["`+id+`","GroupId"]`) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkWorkerEgress: the worker's security groups allow TCP 443 out and
// nothing else, and nothing in.
func checkWorkerEgress(tpl assertions.Template) error {
	sgs := workerSecurityGroups(tpl)
	if len(sgs) == 0 {
		return fmt.Errorf("no worker security group found in a state machine")
	}
	all := find(tpl, "AWS::EC2::SecurityGroup")
	for _, id := range sgs {
		p := props(all[id])
		want := `[{"CidrIp":"0.0.0.0/0","Description":"HTTPS only","FromPort":443,"IpProtocol":"tcp","ToPort":443}]`
		if got := str(p["SecurityGroupEgress"]); got != want {
			return fmt.Errorf("worker security group %s egress %s, want 443 only", id, got)
		}
		if p["SecurityGroupIngress"] != nil {
			return fmt.Errorf("worker security group %s has ingress", id)
		}
		for _, typ := range []string{"AWS::EC2::SecurityGroupEgress", "AWS::EC2::SecurityGroupIngress"} {
			for rid, r := range find(tpl, typ) {
				if refID(props(r)["GroupId"]) == id {
					return fmt.Errorf("%s %s adds a rule to the worker security group", typ, rid)
				}
			}
		}
	}
	return nil
}
