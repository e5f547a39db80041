package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/framebroker/framebroker/infra/workflow"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
)

// The package synthesizes each stack once and shares the template: CDK's
// template validation (~12 s a synth) is off here except in
// TestSynthWithFullValidation, which re-runs this binary with it on.
const envFullValidation = "FRAMEBROKER_CDK_FULL_VALIDATION"

func TestMain(m *testing.M) {
	if os.Getenv(envFullValidation) != "1" {
		os.Setenv("CDK_VALIDATION", "false")
	}
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := m.Run()
	jsii.Close()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// fixture is one synthesized stack.
type fixture struct {
	props Props
	stack *Stack
	// nag are cdk-nag's unsuppressed findings ("rule: path").
	nag  []string
	tpl  assertions.Template
	json map[string]any
}

var (
	fixtures   = map[string]*fixture{}
	fixturesMu sync.Mutex
	// tempDirs are the fixtures' assets and cloud assemblies, which live as
	// long as the package's tests (TestMain removes them).
	tempDirs []string
)

// assets writes placeholder bootstraps for every function: the template
// does not depend on their content (the assets' hashes aside), and the
// tests must not need `make build`.
func assets(t *testing.T, fns []string) (lambdaDir string) {
	dir, err := os.MkdirTemp("", "framebroker-infra-assets-")
	if err != nil {
		t.Fatal(err)
	}
	tempDirs = append(tempDirs, dir)
	lambdaDir = filepath.Join(dir, "lambda")
	for _, fn := range fns {
		if err := os.MkdirAll(filepath.Join(lambdaDir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lambdaDir, fn, "bootstrap"), []byte("placeholder "+fn), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return lambdaDir
}

// synth synthesizes the stack from the real router table with the given
// context values (variant names the fixture).
func synth(t *testing.T, variant string, set func(*Props)) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[variant]; f != nil {
		return f
	}
	table, fns := tableAndFunctions(t)
	lambdaDir := assets(t, fns)
	p := Props{
		Table: table, Functions: fns, Schedule: cron.Schedule,
		LambdaAssets:  lambdaDir,
		WorkerContext: "../..", WorkerDockerfile: "ffmpeg-layer/Dockerfile",
		MigrationsDir: "../../shared/db/migrations",
	}
	if set != nil {
		set(&p)
	}
	outdir, err := os.MkdirTemp("", "framebroker-cdk-out-")
	if err != nil {
		t.Fatal(err)
	}
	tempDirs = append(tempDirs, outdir)
	app := awscdk.NewApp(&awscdk.AppProps{Context: ptr(FeatureFlags()), Outdir: jsii.String(outdir)})
	s := New(app, "Framebroker", p)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewServerlessChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	f := &fixture{props: p, stack: s, tpl: assertions.Template_FromStack(s.Stack, nil)}
	f.nag = nagFindings(s.Stack)
	f.json = *f.tpl.ToJSON()
	fixtures[variant] = f
	return f
}

func ptr[T any](v T) *T { return &v }

// tableAndFunctions are the real router table and the functions to deploy.
func tableAndFunctions(t *testing.T) (Table, []string) {
	t.Helper()
	table, err := TableFromApp()
	if err != nil {
		t.Fatal(err)
	}
	fns, err := Functions(table, "../../functions")
	if err != nil {
		t.Fatal(err)
	}
	return table, fns
}

// testDigest is the byo stack's worker image (pushed by make deploy).
const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// variants are the synthesized stacks most checks run on: the default one
// and the bring-your-own key, database and VPC one.
var variants = []struct {
	name string
	fix  func(*testing.T) *fixture
}{{"default", defaultStack}, {"byo", byoStack}}

func defaultStack(t *testing.T) *fixture { return synth(t, "default", nil) }

// byoStack brings its own KMS key and database.
func byoStack(t *testing.T) *fixture {
	return synth(t, "byo", func(p *Props) {
		p.KeyArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		p.DatabaseSecretArn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf"
		p.DatabaseSecurityGroupID = "sg-0123456789abcdef0"
		p.VpcID = "vpc-0123456789abcdef0"
		p.S3GatewayEndpoint = S3EndpointExisting
		p.CorsOrigins = []string{"https://studio.example"}
		p.WorkerImageDigest = testDigest
		p.SecretsArn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/framebroker-AbCdEf"
		p.Environment = map[string]string{"FRAMEBROKER_MAIL_FROM": "Studio <no-reply@studio.example>"}
		// Vpc.fromLookup needs an account; offline it yields CDK's dummy VPC
		// (private subnets with egress), which is all the template needs.
		p.StackProps = awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")}}
	})
}

// TestTemplateMeetsT13 runs every T-13 check on the default stack and on
// the bring-your-own-key-and-database variant.
func TestTemplateMeetsT13(t *testing.T) {
	for _, f := range variants {
		fx := f.fix(t)
		for _, c := range t13Checks(fx.props) {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				if err := c.check(fx.tpl); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

type namedCheck struct {
	name  string
	check func(assertions.Template) error
}

func t13Checks(p Props) []namedCheck {
	return []namedCheck{
		{"no task role", checkNoTaskRole},
		{"PassRole only on the execution role", checkPassRole},
		{"buckets encrypted, TLS-only, not public", checkBuckets},
		{"Lambdas provided.al2023 arm64", checkLambdas},
		{"authorizer on every non-public route", func(tpl assertions.Template) error { return checkRoutes(tpl, p.Table) }},
		{"a rule per cron", func(tpl assertions.Template) error { return checkCrons(tpl, p.Schedule) }},
		{"worker egress 443 only", checkWorkerEgress},
	}
}

// TestChecksCatchViolations proves each check fails on a stack that breaks
// its rule: CDK's defaults (a task role, PassRole granted automatically, an
// open security group), an unencrypted bucket, a Node.js Lambda, an
// unauthorized member route, no cron rules.
func TestChecksCatchViolations(t *testing.T) {
	fx := defaultStack(t) // the jsii runtime is warm
	app := awscdk.NewApp(&awscdk.AppProps{Context: ptr(FeatureFlags())})
	st := awscdk.NewStack(app, jsii.String("Bad"), nil)
	vpc := awsec2.NewVpc(st, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(1), NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{Name: jsii.String("p"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}}})
	cluster := awsecs.NewCluster(st, jsii.String("Cluster"), &awsecs.ClusterProps{Vpc: vpc})
	td := awsecs.NewFargateTaskDefinition(st, jsii.String("Task"), &awsecs.FargateTaskDefinitionProps{Cpu: jsii.Number(1024), MemoryLimitMiB: jsii.Number(2048)})
	container := td.AddContainer(jsii.String("worker"), &awsecs.ContainerDefinitionOptions{Image: awsecs.ContainerImage_FromRegistry(jsii.String("worker"), nil)})
	open := awsec2.NewSecurityGroup(st, jsii.String("Open"), &awsec2.SecurityGroupProps{Vpc: vpc})
	fn := awslambda.NewFunction(st, jsii.String("Node"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => ({})")),
	})
	// A role with CDK's automatic grants: PassRole on the task role too.
	role := awsiam.NewRole(st, jsii.String("Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil)})
	workflow.New(st, "EncodeJob", workflow.Props{Pipeline: fn, Cluster: cluster, TaskDefinition: td, Container: container,
		SecurityGroups: &[]awsec2.ISecurityGroup{open}, Subnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}, Role: role})
	awss3.NewBucket(st, jsii.String("Plain"), nil)
	api := awsapigatewayv2.NewHttpApi(st, jsii.String("Api"), nil)
	var member Route
	for _, r := range fx.props.Table.Routes {
		if !r.Public {
			member = r
			break
		}
	}
	api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{Path: jsii.String(member.Path), Methods: &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(member.Method)},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("I"), fn, nil)})
	bad := assertions.Template_FromStack(st, nil)
	// Each check must fail for the reason planted, not an incidental one.
	want := map[string]string{
		"no task role":                            "has a TaskRoleArn",
		"PassRole only on the execution role":     "iam:PassRole on",
		"buckets encrypted, TLS-only, not public": "not SSE-KMS",
		"Lambdas provided.al2023 arm64":           "not provided.al2023",
		"authorizer on every non-public route":    member.Key() + " (",
		"a rule per cron":                         "no rate(",
		"worker egress 443 only":                  "want 443 only",
	}
	for _, c := range t13Checks(Props{Table: Table{Routes: []Route{member}}, Schedule: cron.Schedule}) {
		t.Run(c.name, func(t *testing.T) {
			err := c.check(bad)
			if err == nil {
				t.Fatal("check passed a stack that breaks it")
			}
			if !strings.Contains(err.Error(), want[c.name]) {
				t.Fatalf("failed for another reason than planted (%q): %.300v", want[c.name], err)
			}
		})
	}
	// An encrypted, private bucket that still accepts plain HTTP.
	app2 := awscdk.NewApp(&awscdk.AppProps{Context: ptr(FeatureFlags())})
	st2 := awscdk.NewStack(app2, jsii.String("NoTLS"), nil)
	awss3.NewBucket(st2, jsii.String("NoTLS"), &awss3.BucketProps{
		Encryption: awss3.BucketEncryption_KMS, BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
	})
	if err := checkBuckets(assertions.Template_FromStack(st2, nil)); err == nil || !strings.Contains(err.Error(), "non-TLS") {
		t.Errorf("bucket without TLS enforcement: %v", err)
	}
}

// statements are the Allow statements of the policies attached to role.
func statements(t *testing.T, fx *fixture, role string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, pol := range find(fx.tpl, "AWS::IAM::Policy") {
		p := props(pol)
		attached := false
		for _, r := range list(p["Roles"]) {
			attached = attached || refID(r) == role
		}
		if !attached {
			continue
		}
		for _, s := range list(p["PolicyDocument"].(map[string]any)["Statement"]) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

func only(t *testing.T, fx *fixture, typ string) (string, map[string]any) {
	t.Helper()
	rs := find(fx.tpl, typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

// TestStateMachineRoleIsLeastPrivilege: the state machine's role may invoke
// the pipeline Lambda only, run this task definition's family only, pass
// the execution role only, stop/describe tasks of this cluster, and manage
// the one events rule the .sync integration uses; nothing else.
func TestStateMachineRoleIsLeastPrivilege(t *testing.T) {
	fx := defaultStack(t)
	_, sm := only(t, fx, "AWS::StepFunctions::StateMachine")
	role := refID(props(sm)["RoleArn"])
	_, td := only(t, fx, "AWS::ECS::TaskDefinition")
	execRole := refID(props(td)["ExecutionRoleArn"])
	pipeline := ""
	for id, fn := range find(fx.tpl, "AWS::Lambda::Function") {
		if props(fn)["Description"] == "Framebroker "+PipelineFunction {
			pipeline = id
		}
	}
	if role == "" || execRole == "" || pipeline == "" {
		t.Fatalf("role %q, execution role %q, pipeline %q", role, execRole, pipeline)
	}
	got := map[string]string{}
	for _, s := range statements(t, fx, role) {
		if s["Effect"] != "Allow" {
			continue
		}
		for _, a := range list(s["Action"]) {
			got[a.(string)] += str(s["Resource"])
		}
	}
	want := map[string]func(string) bool{
		"lambda:InvokeFunction": func(r string) bool { return r == `{"Fn::GetAtt":["`+pipeline+`","Arn"]}` },
		"iam:PassRole":          func(r string) bool { return r == `{"Fn::GetAtt":["`+execRole+`","Arn"]}` },
		"ecs:RunTask":           func(r string) bool { return strings.Contains(r, ":task-definition/") && strings.Contains(r, ":*") },
		"ecs:StopTask":          func(r string) bool { return strings.Contains(r, ":task/") },
		"ecs:DescribeTasks":     func(r string) bool { return strings.Contains(r, ":task/") },
		"events:PutTargets":     func(r string) bool { return strings.Contains(r, "rule/StepFunctionsGetEventsForECSTaskRule") },
		"events:PutRule":        func(r string) bool { return strings.Contains(r, "rule/StepFunctionsGetEventsForECSTaskRule") },
		"events:DescribeRule":   func(r string) bool { return strings.Contains(r, "rule/StepFunctionsGetEventsForECSTaskRule") },
	}
	// Execution logging (log-delivery actions have no resource scope).
	for _, a := range SFNLogDeliveryActions {
		want[a] = func(r string) bool { return r == `"*"` }
	}
	for a, r := range got {
		ok := want[a]
		if ok == nil {
			t.Errorf("unexpected action %s on %s", a, r)
		} else if !ok(r) {
			t.Errorf("%s on %s", a, r)
		}
	}
	for a := range want {
		if _, ok := got[a]; !ok {
			t.Errorf("missing %s", a)
		}
	}
}

// TestWorkerTaskHoldsNothing: the worker's execution role only pulls the
// image and writes logs; the container has no environment and no secrets.
func TestWorkerTaskHoldsNothing(t *testing.T) {
	fx := defaultStack(t)
	_, td := only(t, fx, "AWS::ECS::TaskDefinition")
	p := props(td)
	allowed := map[string]bool{
		"ecr:GetAuthorizationToken": true, "ecr:BatchCheckLayerAvailability": true, "ecr:GetDownloadUrlForLayer": true,
		"ecr:BatchGetImage": true, "logs:CreateLogStream": true, "logs:PutLogEvents": true,
	}
	sts := statements(t, fx, refID(p["ExecutionRoleArn"]))
	if len(sts) == 0 {
		t.Fatal("execution role has no policy")
	}
	for _, s := range sts {
		for _, a := range list(s["Action"]) {
			if !allowed[a.(string)] {
				t.Errorf("execution role may %s", a)
			}
		}
	}
	for _, c := range list(p["ContainerDefinitions"]) {
		cd := c.(map[string]any)
		for _, k := range []string{"Environment", "Secrets", "EnvironmentFiles"} {
			if cd[k] != nil {
				t.Errorf("worker container has %s: %s", k, str(cd[k]))
			}
		}
	}
	if str(p["RuntimePlatform"]) != `{"CpuArchitecture":"ARM64","OperatingSystemFamily":"LINUX"}` {
		t.Errorf("runtime platform %s", str(p["RuntimePlatform"]))
	}
}

// TestNetworkAndDatabase: private subnets with an S3 gateway endpoint; the
// database encrypted with the stack's key, in isolated subnets, reachable
// from the Lambdas only; every Lambda in the VPC; secrets KMS-encrypted.
func TestNetworkAndDatabase(t *testing.T) {
	fx := defaultStack(t)
	checks := map[string]func(){
		"S3 gateway endpoint": func() {
			fx.tpl.HasResourceProperties(jsii.String("AWS::EC2::VPCEndpoint"), &map[string]any{
				"VpcEndpointType": "Gateway",
			})
			for _, e := range find(fx.tpl, "AWS::EC2::VPCEndpoint") {
				if !strings.Contains(str(props(e)["ServiceName"]), ".s3") {
					panic("the gateway endpoint is not S3's: " + str(props(e)["ServiceName"]))
				}
			}
		},
		"encrypted private cluster": func() {
			fx.tpl.HasResourceProperties(jsii.String("AWS::RDS::DBCluster"), &map[string]any{
				"StorageEncrypted": true, "KmsKeyId": assertions.Match_AnyValue(), "DeletionProtection": true,
			})
			fx.tpl.AllResourcesProperties(jsii.String("AWS::RDS::DBInstance"), &map[string]any{"PubliclyAccessible": false})
		},
		"Lambdas in the VPC (keyring-init, which needs Secrets Manager only, and probe, which reads presigned URLs only, outside)": func() {
			for id, fn := range find(fx.tpl, "AWS::Lambda::Function") {
				inVPC := props(fn)["VpcConfig"] != nil
				desc, _ := props(fn)["Description"].(string)
				outside := strings.HasPrefix(desc, "Framebroker "+KeyringInitFunction+":") || strings.HasPrefix(desc, "Framebroker "+ProbeFunction+":")
				if outside == inVPC {
					panic(fmt.Sprintf("%s (%s): in the VPC = %v", id, props(fn)["Description"], inVPC))
				}
			}
		},
		"secrets encrypted with the key": func() {
			fx.tpl.AllResourcesProperties(jsii.String("AWS::SecretsManager::Secret"), &map[string]any{"KmsKeyId": assertions.Match_AnyValue()})
		},
		"API access logs and throttling": func() {
			fx.tpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), &map[string]any{
				"AccessLogSettings":    assertions.Match_ObjectLike(&map[string]any{"DestinationArn": assertions.Match_AnyValue()}),
				"DefaultRouteSettings": assertions.Match_ObjectLike(&map[string]any{"ThrottlingRateLimit": ThrottleRate, "ThrottlingBurstLimit": ThrottleBurst}),
			})
		},
		"alarms": func() {
			fx.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{"MetricName": "ExecutionsFailed"})
			fx.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{"MetricName": MetricWebhookDisabled, "Namespace": MetricNamespace})
			fx.tpl.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), &map[string]any{
				"FilterPattern": `{ $.msg = "` + WebhookDisabledLog + `" }`,
			})
		},
	}
	for name, c := range checks {
		if err := assert(name, c); err != nil {
			t.Error(err)
		}
	}
	// The database subnets are isolated (no route to a NAT or gateway).
	_, sg := only(t, fx, "AWS::RDS::DBSubnetGroup")
	isolated := map[string]bool{}
	for id, sn := range find(fx.tpl, "AWS::EC2::Subnet") {
		for _, tag := range list(props(sn)["Tags"]) {
			if tg := tag.(map[string]any); tg["Key"] == "aws-cdk:subnet-type" && tg["Value"] == "Isolated" {
				isolated[id] = true
			}
		}
	}
	for _, s := range list(props(sg)["SubnetIds"]) {
		if !isolated[refID(s)] {
			t.Errorf("database subnet %s is not isolated", str(s))
		}
	}
	// CloudFormation refuses more than 500 resources; routes are added
	// freely, so keep room.
	if n := len(fx.json["Resources"].(map[string]any)); n > 400 {
		t.Errorf("%d resources: near CloudFormation's limit of 500", n)
	}
	// Lambda errors are alarmed for every function.
	alarmed := 0
	for _, a := range find(fx.tpl, "AWS::CloudWatch::Alarm") {
		if props(a)["MetricName"] == "Errors" {
			alarmed++
		}
	}
	if n := len(find(fx.tpl, "AWS::Lambda::Function")) - 1; alarmed != n { // keyring-init fails the deploy instead
		t.Errorf("%d Lambda error alarms for %d functions", alarmed, n)
	}
}

// TestNoSecretInAnyEnvironment: Lambdas get secrets' ARNs, never values
// (no dynamic reference, no generated password, no *_PASSWORD/_SECRET/_KEY
// variable but ARNs and names); only the migrate Lambda names the owner's
// secret.
func TestNoSecretInAnyEnvironment(t *testing.T) {
	for _, fx := range []*fixture{defaultStack(t), byoStack(t)} {
		for id, fn := range find(fx.tpl, "AWS::Lambda::Function") {
			vars, _ := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
			for k, v := range vars {
				if strings.Contains(str(v), "{{resolve:") {
					t.Errorf("%s: %s resolves a secret into the environment", id, k)
				}
				upper := strings.ToUpper(k)
				if (strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "SECRET") || strings.HasSuffix(upper, "_KEY")) &&
					!strings.HasSuffix(upper, "_ARN") && k != "FRAMEBROKER_S3_ACCESS_KEY" {
					t.Errorf("%s: secret-looking variable %s", id, k)
				}
				if k == "FRAMEBROKER_OWNER_DATABASE_SECRET_ARN" && props(fn)["Description"] != "Framebroker "+MigrateFunction {
					t.Errorf("%s holds the owner's secret", id)
				}
			}
		}
		for id, c := range find(fx.tpl, "AWS::ECS::TaskDefinition") {
			if strings.Contains(str(c), "{{resolve:") {
				t.Errorf("%s: a secret in the task definition", id)
			}
		}
	}
	if strings.Contains(strings.ToLower(AccessLogFormat), "query") || strings.Contains(AccessLogFormat, "authorization") {
		t.Error("access logs would record query strings (presigned signatures) or credentials")
	}
}

// TestMediaBucketLifecycle: outputs are versioned; temporary objects and
// incomplete uploads expire.
func TestMediaBucketLifecycle(t *testing.T) {
	fx := defaultStack(t)
	var p map[string]any
	for _, b := range find(fx.tpl, "AWS::S3::Bucket") {
		if props(b)["LoggingConfiguration"] != nil { // the media bucket (the other is its access log)
			p = props(b)
		}
	}
	if p == nil {
		t.Fatal("no media bucket with access logging")
	}
	if str(p["VersioningConfiguration"]) != `{"Status":"Enabled"}` {
		t.Errorf("versioning %s", str(p["VersioningConfiguration"]))
	}
	rules := str(p["LifecycleConfiguration"])
	for _, want := range []string{`"Prefix":"` + TempPrefix + `"`, `"ExpirationInDays":1`, `"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}`, `"NoncurrentVersionExpiration":{"NoncurrentDays":30}`} {
		if !strings.Contains(rules, want) {
			t.Errorf("lifecycle lacks %s: %s", want, rules)
		}
	}
	if err := assert("database forces TLS", func() {
		fx.tpl.HasResourceProperties(jsii.String("AWS::RDS::DBClusterParameterGroup"), &map[string]any{
			"Parameters": map[string]any{"rds.force_ssl": "1"},
		})
	}); err != nil {
		t.Error(err)
	}
}

// TestBringYourOwnKeyAndDatabase: with a customer key and an existing
// database, no key or cluster is created, the bucket uses the customer key,
// and the app role's secret points at the customer's database.
func TestBringYourOwnKeyAndDatabase(t *testing.T) {
	fx := byoStack(t)
	if n := len(find(fx.tpl, "AWS::RDS::DBCluster")); n != 0 {
		t.Errorf("%d clusters created", n)
	}
	// The only key created is the alarm topic's (checked by
	// TestAlarmsAreDeliverable).
	if n := len(find(fx.tpl, "AWS::KMS::Key")); n != 1 {
		t.Errorf("%d keys created, want 1 (the alarm topic's)", n)
	}
	if err := assert("bucket uses the customer key", func() {
		fx.tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), &map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{assertions.Match_ObjectLike(&map[string]any{
				"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": fx.props.KeyArn},
			})}},
		})
	}); err != nil {
		t.Error(err)
	}
	found := false
	for _, s := range find(fx.tpl, "AWS::SecretsManager::Secret") {
		tpl := str(props(s)["GenerateSecretString"])
		if strings.Contains(tpl, "framebroker_app") && strings.Contains(tpl, "{{resolve:secretsmanager:"+fx.props.DatabaseSecretArn+":SecretString:host") {
			found = true
		}
	}
	if !found {
		t.Error("the app role's secret does not take its host from the customer's secret")
	}
	if err := assert("database security group admits the Lambdas", func() {
		fx.tpl.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroupIngress"), &map[string]any{
			"GroupId": fx.props.DatabaseSecurityGroupID, "FromPort": 5432, "ToPort": 5432,
		})
	}); err != nil {
		t.Error(err)
	}
}

// placeholder matches a rendered CloudFormation reference, ${Id} or
// ${Id.Attr}: logical ids differ between stacks, states do not.
var placeholder = regexp.MustCompile(`\$\{[^}]*\}`)

// concreteARN is an ARN of one account's resource (the committed file was
// rendered with imported resources, which synthesize to literal ARNs).
var concreteARN = regexp.MustCompile(`^arn:[^:]+:[^:]+:[^:]*:[0-9]{12}:.+$`)

// normalize blanks references (and resource names) and collapses lists of references (subnets,
// security groups) to one entry.
func normalize(v any) any {
	switch x := v.(type) {
	case string:
		if concreteARN.MatchString(x) {
			return "${}"
		}
		return placeholder.ReplaceAllString(x, "${}")
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
			if k == "TaskDefinition" { // a family name: a resource, named per stack
				out[k] = "${}"
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		allRefs := len(x) > 0
		for _, e := range x {
			n := normalize(e)
			out = append(out, n)
			allRefs = allRefs && n == "${}"
		}
		if allRefs {
			return []any{"${}"}
		}
		return out
	}
	return v
}

// TestStateMachineMatchesCommittedASL: the state machine of the FULL stack
// has the same states and transitions as shared/pipeline/spec/encode-job.asl.json
// (spec.Definition), the definition the local stack runs (references to resources aside).
func TestStateMachineMatchesCommittedASL(t *testing.T) {
	fx := defaultStack(t)
	_, sm := only(t, fx, "AWS::StepFunctions::StateMachine")
	rendered, err := workflow.RenderDefinition(props(sm)["DefinitionString"])
	if err != nil {
		t.Fatal(err)
	}
	committed := spec.Definition
	var got, want any
	if err := json.Unmarshal(rendered, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(committed, &want); err != nil {
		t.Fatal(err)
	}
	got, want = normalize(got), normalize(want)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("synthesized definition differs from encode-job.asl.json:\n--- stack\n%s\n--- committed\n%s", g, w)
	}
	states := got.(map[string]any)["States"].(map[string]any)
	if len(states) < 9 {
		t.Fatalf("only %d states", len(states))
	}
}

// TestSynthWithFullValidation synthesizes the default stack with CDK's
// built-in template validation on (in a child process: the switch is read
// by the jsii runtime, once per process).
func TestSynthWithFullValidation(t *testing.T) {
	if os.Getenv(envFullValidation) == "1" {
		fx := defaultStack(t)
		if len(fx.json["Resources"].(map[string]any)) == 0 {
			t.Fatal("empty template")
		}
		return
	}
	if testing.Short() {
		t.Skip("-short: full validation skipped")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSynthWithFullValidation$", "-test.count=1")
	env := []string{envFullValidation + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CDK_VALIDATION=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("full-validation synth failed: %v\n%s", err, out)
	}
}

// TestRoutesFromTable: the API paths of ServeMux patterns, and internal
// routes kept off the API.
func TestRoutesFromTable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/healthz", "/healthz"},
		{"/v1/workspaces/{ws}/jobs/{job}", "/v1/workspaces/{ws}/jobs/{job}"},
		{"/files/{path...}", "/files/{path+}"},
		{"/v1/{$}", "/v1/"},
		{"/static/", "/static/{proxy+}"},
		{"GET /x/{id}", "/x/{id}"},
	} {
		got, err := APIPath(c.in)
		if err != nil || got != c.want {
			t.Errorf("APIPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := APIPath("example.com/x"); err == nil {
		t.Error("a host pattern was accepted")
	}
	tbl, err := FromRoutes([]guard.Route{
		{Method: "GET", Pattern: "/healthz", Policy: guard.Public(), Function: "health"},
		{Method: "GET", Pattern: "/v1/workspaces/{ws}", Policy: guard.Member(guard.Viewer), Function: "workspaces"},
		{Method: "POST", Pattern: "/internal/cron/{name}", Policy: guard.Internal("X-Cron-Secret", []byte("s")), Function: "cron"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range tbl.Routes {
		keys = append(keys, r.Key())
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "GET /healthz,GET /v1/workspaces/{ws}" || len(tbl.Internal) != 1 {
		t.Fatalf("routes %v, internal %v", keys, tbl.Internal)
	}
	if !tbl.Routes[0].Public || tbl.Routes[1].Public {
		t.Fatal("public flags wrong")
	}
	if _, err := FromRoutes([]guard.Route{{Method: "GET", Pattern: "/a", Policy: guard.Public()}}); err == nil {
		t.Fatal("a route without a function was accepted")
	}
	fns, err := Functions(tbl, "../../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"authorizer", "pipeline", "migrate", "cron", "health", "workspaces"} {
		if !contains(fns, f) {
			t.Errorf("functions %v lack %s", fns, f)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, e := range xs {
		if e == x {
			return true
		}
	}
	return false
}
