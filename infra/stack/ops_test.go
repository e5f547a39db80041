package stack

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/cron"
)

// checkAlarmDelivery: every alarm notifies an SNS topic, and each topic's
// KMS key (if any) is one of the stack's keys whose policy lets
// cloudwatch.amazonaws.com use it; CloudWatch cannot publish to a topic
// encrypted with a key it may not use (observed #4).
func checkAlarmDelivery(tpl assertions.Template) error {
	topics := find(tpl, "AWS::SNS::Topic")
	keys := find(tpl, "AWS::KMS::Key")
	alarms := find(tpl, "AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		return fmt.Errorf("no alarm")
	}
	for id, a := range alarms {
		actions := list(props(a)["AlarmActions"])
		if len(actions) == 0 {
			return fmt.Errorf("alarm %s notifies nobody", id)
		}
		notified := false
		for _, act := range actions {
			if strings.Contains(str(act), ":automate:") {
				continue // an EC2 action (NAT instance recovery)
			}
			notified = true
			topic, ok := topics[refID(act)]
			if !ok {
				return fmt.Errorf("alarm %s notifies %s, not a topic of the stack", id, str(act))
			}
			km, encrypted := props(topic)["KmsMasterKeyId"]
			if !encrypted {
				continue
			}
			key, ok := keys[refID(km)]
			if !ok {
				return fmt.Errorf("topic %s is encrypted with %s, whose key policy the stack cannot show", refID(act), str(km))
			}
			granted := map[string]bool{}
			for _, s := range list(props(key)["KeyPolicy"].(map[string]any)["Statement"]) {
				st := s.(map[string]any)
				if st["Effect"] == "Allow" && str(st["Principal"]) == `{"Service":"cloudwatch.amazonaws.com"}` {
					for _, a := range list(st["Action"]) {
						granted[a.(string)] = true
					}
				}
			}
			if !granted["kms:Decrypt"] || !(granted["kms:GenerateDataKey*"] || granted["kms:GenerateDataKey"]) {
				return fmt.Errorf("topic %s: key %s does not let CloudWatch use it (alarms would never be delivered)", refID(act), refID(km))
			}
		}
		if !notified {
			return fmt.Errorf("alarm %s notifies no topic", id)
		}
	}
	return nil
}

// TestAlarmsAreDeliverable: with the stack's key and with keyArn (then a
// dedicated alarm key), and the check fails on a topic encrypted with a
// key lacking the grant.
func TestAlarmsAreDeliverable(t *testing.T) {
	for _, f := range variants {
		if err := checkAlarmDelivery(f.fix(t).tpl); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: ptr(FeatureFlags())})
	st := awscdk.NewStack(app, jsii.String("Bad"), nil)
	topic := awssns.NewTopic(st, jsii.String("T"), &awssns.TopicProps{MasterKey: awskms.NewKey(st, jsii.String("K"), nil)})
	m := topic.MetricNumberOfMessagesPublished(nil)
	a := m.CreateAlarm(st, jsii.String("A"), &awscloudwatch.CreateAlarmOptions{Threshold: jsii.Number(1), EvaluationPeriods: jsii.Number(1)})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
	err := checkAlarmDelivery(assertions.Template_FromStack(st, nil))
	if err == nil || !strings.Contains(err.Error(), "does not let CloudWatch use it") {
		t.Fatalf("a topic key without the CloudWatch grant passed: %v", err)
	}
}

// checkCustomResourceTimeouts: every custom resource has a service
// timeout of at most limit seconds (observed #5: without one a handler
// that never answers holds the create and the rollback an hour each).
func checkCustomResourceTimeouts(tpl map[string]any, limit int) error {
	n := 0
	for id, r := range tpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		typ, _ := res["Type"].(string)
		if !strings.HasPrefix(typ, "Custom::") && typ != "AWS::CloudFormation::CustomResource" {
			continue
		}
		n++
		p, _ := res["Properties"].(map[string]any)
		v, ok := p["ServiceTimeout"]
		if !ok {
			return fmt.Errorf("custom resource %s (%s) has no ServiceTimeout", id, typ)
		}
		var secs int
		if _, err := fmt.Sscan(fmt.Sprint(v), &secs); err != nil || secs <= 0 || secs > limit {
			return fmt.Errorf("custom resource %s: ServiceTimeout %s, want 1..%d", id, str(v), limit)
		}
	}
	if n == 0 {
		return fmt.Errorf("no custom resource")
	}
	return nil
}

// TestCustomResourcesTimeOut: the migrate and keyring custom resources
// time out within MigrateTimeout; the bring-your-own database's migrate
// waits for its ingress rule; the check fails on a custom resource
// without a timeout.
func TestCustomResourcesTimeOut(t *testing.T) {
	for _, f := range variants {
		fx := f.fix(t)
		if err := checkCustomResourceTimeouts(fx.json, MigrateTimeout); err != nil {
			t.Errorf("%s: %v", f.name, err)
		}
	}
	fx := byoStack(t)
	migrate := fx.json["Resources"].(map[string]any)[*fx.stack.Stack.GetLogicalId(fx.stack.migrate.Node().DefaultChild().(awscdk.CfnElement))].(map[string]any)
	ingress := *fx.stack.Stack.GetLogicalId(fx.stack.data.ingress)
	if !strings.Contains(str(migrate["DependsOn"]), `"`+ingress+`"`) {
		t.Errorf("migrate does not wait for the database ingress rule %s: DependsOn %s", ingress, str(migrate["DependsOn"]))
	}
	bad := map[string]any{"Resources": map[string]any{"M": map[string]any{"Type": "Custom::X", "Properties": map[string]any{"ServiceToken": "arn"}}}}
	if err := checkCustomResourceTimeouts(bad, MigrateTimeout); err == nil || !strings.Contains(err.Error(), "no ServiceTimeout") {
		t.Fatalf("a custom resource without a timeout passed: %v", err)
	}
}

// TestOptionsRefusedAtSynth: every option combination a deploy would
// reject or mishandle is refused with a message naming what is missing
// (observed #6); the combinations that deploy are accepted.
func TestOptionsRefusedAtSynth(t *testing.T) {
	_, fns := tableAndFunctions(t)
	base := Props{Functions: fns, Schedule: cron.Schedule}
	for _, tc := range []struct {
		name string
		set  func(*Props)
		want string // "" = accepted
	}{
		{"defaults", func(p *Props) {}, ""},
		{"natGateways=0 is a NAT instance", func(p *Props) { p.NatGateways = 0 }, ""},
		{"two NAT gateways", func(p *Props) { p.NatGateways = 2 }, ""},
		{"negative NAT count", func(p *Props) { p.NatGateways = -1 }, "natGateways must be"},
		{"database SG without VPC", func(p *Props) {
			p.DatabaseSecretArn, p.DatabaseSecurityGroupID = "arn:aws:secretsmanager:eu-west-1:1:secret:db", "sg-1"
		}, "databaseSecurityGroupId needs vpcId"},
		{"database SG without database", func(p *Props) {
			p.VpcID, p.S3GatewayEndpoint, p.DatabaseSecurityGroupID = "vpc-1", S3EndpointCreate, "sg-1"
		}, "databaseSecurityGroupId needs databaseSecretArn"},
		{"VPC without endpoint decision", func(p *Props) { p.VpcID = "vpc-1" }, "vpcId needs s3GatewayEndpoint=create"},
		{"VPC with existing endpoint", func(p *Props) { p.VpcID, p.S3GatewayEndpoint = "vpc-1", S3EndpointExisting }, ""},
		{"endpoint option without VPC", func(p *Props) { p.S3GatewayEndpoint = S3EndpointExisting }, "applies to an existing VPC"},
		{"NAT gateways with VPC", func(p *Props) { p.VpcID, p.S3GatewayEndpoint, p.NatGateways = "vpc-1", S3EndpointCreate, 1 }, "natGateways applies to a new VPC only"},
		{"domain without certificate", func(p *Props) { p.DomainName = "api.studio.example" }, "domainName needs certificateArn"},
		{"certificate without domain", func(p *Props) { p.CertificateArn = "arn:aws:acm:eu-west-1:1:certificate/x" }, "certificateArn needs domainName"},
		{"domain with certificate", func(p *Props) {
			p.DomainName, p.CertificateArn = "api.studio.example", "arn:aws:acm:eu-west-1:1:certificate/x"
		}, ""},
		{"key alias", func(p *Props) { p.KeyArn = "alias/framebroker" }, "keyArn must be a KMS key ARN"},
		{"wildcard CORS origin", func(p *Props) { p.CorsOrigins = []string{"*"} }, "corsOrigins"},
		{"http CORS origin", func(p *Props) { p.CorsOrigins = []string{"http://studio.example"} }, "corsOrigins"},
		{"CORS origin with path", func(p *Props) { p.CorsOrigins = []string{"https://studio.example/app"} }, "corsOrigins"},
		{"CORS origins", func(p *Props) { p.CorsOrigins = []string{"https://studio.example", "http://localhost:5173"} }, ""},
		{"image digest", func(p *Props) { p.WorkerImageDigest = testDigest }, ""},
		{"image tag instead of digest", func(p *Props) { p.WorkerImageDigest = "latest" }, "workerImageDigest must be sha256"},
		{"image repository without digest", func(p *Props) { p.WorkerImageRepository = "framebroker-worker" }, "workerImageRepository needs workerImageDigest"},
		{"function without access entry", func(p *Props) { p.Functions = append(append([]string{}, fns...), "thumbnails") }, "thumbnails"},
		{"per-purpose operator secrets", func(p *Props) {
			p.OperatorSecretArns = map[string]string{"stripe": "arn:aws:secretsmanager:eu-west-1:1:secret:stripe"}
		}, ""},
		{"one operator secret and per-purpose ones", func(p *Props) {
			p.SecretsArn = "arn:aws:secretsmanager:eu-west-1:1:secret:all"
			p.OperatorSecretArns = map[string]string{"stripe": "arn:aws:secretsmanager:eu-west-1:1:secret:stripe"}
		}, "exclude each other"},
		{"per-purpose secret that is not an ARN", func(p *Props) {
			p.OperatorSecretArns = map[string]string{"smtp": "prod/smtp"}
		}, "smtpSecretArn"},
		{"unknown operator secret purpose", func(p *Props) {
			p.OperatorSecretArns = map[string]string{"billing": "arn:aws:secretsmanager:eu-west-1:1:secret:b"}
		}, `purpose "billing"`},
		{"a woken job not due-only", func(p *Props) {
			p.Schedule = []cron.Entry{{Name: cron.WebhookRetries, Rate: time.Minute}}
		}, `wakes "`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.set(&p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPublicRoutesHaveTheirOwnThrottle: every public route of the table
// has a route-level limit below the stage's (observed #8), and no other
// route has one (they share the stage limit and the per-user limits).
func TestPublicRoutesHaveTheirOwnThrottle(t *testing.T) {
	for _, f := range variants {
		fx := f.fix(t)
		_, stage := only(t, fx, "AWS::ApiGatewayV2::Stage")
		settings, _ := props(stage)["RouteSettings"].(map[string]any)
		public := 0
		for _, r := range fx.props.Table.Routes {
			s, ok := settings[r.Key()].(map[string]any)
			if !r.Public {
				if ok {
					t.Errorf("%s: non-public route %s has its own throttle", f.name, r.Key())
				}
				continue
			}
			public++
			rate, _ := s["ThrottlingRateLimit"].(float64)
			burst, _ := s["ThrottlingBurstLimit"].(float64)
			if !ok || rate <= 0 || rate >= ThrottleRate || burst <= 0 || burst >= ThrottleBurst {
				t.Errorf("%s: public route %s throttle %s, want below the stage's %d/%d", f.name, r.Key(), str(s), ThrottleRate, ThrottleBurst)
			}
		}
		if public == 0 || len(settings) != public {
			t.Errorf("%s: %d route settings for %d public routes", f.name, len(settings), public)
		}
	}
}

// TestCronTargetsHaveDeadLetters: every cron rule target and the
// asynchronously invoked cron Lambdas dead-letter to the queue, which
// alarms; only the workspace purge invokes the purge Lambda.
func TestCronTargetsHaveDeadLetters(t *testing.T) {
	fx := defaultStack(t)
	dlq := *fx.stack.Stack.GetLogicalId(fx.stack.schedule.dlq.Node().DefaultChild().(awscdk.CfnElement))
	purge := *fx.stack.Stack.GetLogicalId(fx.stack.fns.get(PurgeFunction).Node().DefaultChild().(awscdk.CfnElement))
	for id, r := range find(fx.tpl, "AWS::Events::Rule") {
		for _, tg := range list(props(r)["Targets"]) {
			target := tg.(map[string]any)
			if refID(target["DeadLetterConfig"].(map[string]any)["Arn"]) != dlq {
				t.Errorf("rule %s: target without the dead-letter queue", id)
			}
			isPurge := refID(target["Arn"]) == purge
			if wantPurge := strings.Contains(str(target["Input"]), "workspace-purge"); isPurge != wantPurge {
				t.Errorf("rule %s (%s) targets the purge Lambda: %v", id, str(target["Input"]), isPurge)
			}
		}
	}
	for _, fn := range []string{"cron", PurgeFunction} {
		id := *fx.stack.Stack.GetLogicalId(fx.stack.fns.get(fn).Node().DefaultChild().(awscdk.CfnElement))
		if refID(props(find(fx.tpl, "AWS::Lambda::Function")[id])["DeadLetterConfig"].(map[string]any)["TargetArn"]) != dlq {
			t.Errorf("%s has no dead-letter queue", fn)
		}
	}
	if err := assert("dead letters alarm", func() {
		fx.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{"MetricName": "ApproximateNumberOfMessagesVisible"})
	}); err != nil {
		t.Error(err)
	}
}

// TestKeyringExistsBeforeTheFirstRequest: the keyring secret is created
// without any key material in the template, filled by the keyring custom
// resource, every function that signs or verifies names it, and every
// function waits for the custom resource (observed #2).
func TestKeyringExistsBeforeTheFirstRequest(t *testing.T) {
	fx := defaultStack(t)
	secret := *fx.stack.Stack.GetLogicalId(fx.stack.data.keyringSecret.Node().DefaultChild().(awscdk.CfnElement))
	cr := *fx.stack.Stack.GetLogicalId(fx.stack.keyring.Node().DefaultChild().(awscdk.CfnElement))
	res := fx.json["Resources"].(map[string]any)
	sp := props(res[secret].(map[string]any))
	if _, ok := sp["SecretString"]; ok {
		t.Error("the keyring secret has a value in the template")
	}
	if strings.Contains(str(fx.json), "seed") || strings.Contains(str(fx.json), `"ed25519"`) {
		t.Error("key material in the template")
	}
	if refID(props(res[cr].(map[string]any))["SecretArn"]) != secret {
		t.Errorf("the keyring custom resource fills %s", str(props(res[cr].(map[string]any))["SecretArn"]))
	}
	for _, fn := range deployed(fx.props.Functions) {
		id := *fx.stack.Stack.GetLogicalId(fx.stack.fns.get(fn).Node().DefaultChild().(awscdk.CfnElement))
		f := res[id].(map[string]any)
		if !strings.Contains(str(f["DependsOn"]), `"`+cr+`"`) {
			t.Errorf("%s does not wait for the keyring", fn)
		}
		vars := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		_, named := vars[secretEnv[SecretKeyring]]
		if named != FunctionAccess[fn].has(SecretKeyring) {
			t.Errorf("%s: keyring secret in its environment = %v, FunctionAccess says %v", fn, named, !named)
		}
	}
}

// TestWorkerImageByDigest: with workerImageDigest the task runs exactly
// that image from the bootstrap repository (no Docker build at deploy),
// and the execution role may pull from that repository only.
func TestWorkerImageByDigest(t *testing.T) {
	fx := byoStack(t)
	_, td := only(t, fx, "AWS::ECS::TaskDefinition")
	image := str(list(props(td)["ContainerDefinitions"])[0].(map[string]any)["Image"])
	if !strings.Contains(image, BootstrapImageRepository) || !strings.Contains(image, "@"+testDigest) {
		t.Errorf("worker image %s, want the bootstrap repository at %s", image, testDigest)
	}
	pulls := false
	for _, pol := range find(fx.tpl, "AWS::IAM::Policy") {
		doc := str(props(pol)["PolicyDocument"])
		if strings.Contains(doc, "ecr:BatchGetImage") {
			pulls = true
			if !strings.Contains(doc, `:repository/",{"Fn::Sub":"`+BootstrapImageRepository+`"}]]}},{"Action":"ecr:GetAuthorizationToken"`) {
				t.Errorf("image pull not limited to the repository: %s", doc)
			}
		}
	}
	if !pulls {
		t.Error("the execution role cannot pull the image")
	}
}
