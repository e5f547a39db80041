package workflow

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

var update = flag.Bool("update", false, "rewrite encode-job.asl.json from the synthesized definition")

// ASLFile is the rendered definition the local runner executes (embedded
// by shared/pipeline/spec).
const ASLFile = "../../shared/pipeline/spec/encode-job.asl.json"

// synthDefinition synthesizes a stack holding only the state machine and
// returns its rendered ASL.
func synthDefinition(t *testing.T) []byte {
	t.Helper()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{"aws:cdk:bundling-stacks": []string{}}})
	stack := awscdk.NewStack(app, jsii.String("WorkflowOnly"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")},
	})
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(1), NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}}})
	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{Vpc: vpc})
	td := awsecs.NewFargateTaskDefinition(stack, jsii.String("Task"), &awsecs.FargateTaskDefinitionProps{Cpu: jsii.Number(1024), MemoryLimitMiB: jsii.Number(2048)})
	container := td.AddContainer(jsii.String("worker"), &awsecs.ContainerDefinitionOptions{Image: awsecs.ContainerImage_FromRegistry(jsii.String("framebroker/worker"), nil)})
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil)})
	fn := awslambda.Function_FromFunctionArn(stack, jsii.String("Pipeline"), jsii.String("arn:aws:lambda:us-east-1:123456789012:function:framebroker-pipeline"))
	New(stack, "EncodeJob", Props{
		Pipeline: fn, Cluster: cluster, TaskDefinition: td, Container: container,
		Subnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED},
		Role:    awsiam.Role_FromRoleArn(stack, jsii.String("ImportedRole"), role.RoleArn(), &awsiam.FromRoleArnOptions{Mutable: jsii.Bool(false)}),
	})
	tpl := assertions.Template_FromStack(stack, nil).ToJSON()
	for _, r := range (*tpl)["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == "AWS::StepFunctions::StateMachine" {
			out, err := RenderDefinition(res["Properties"].(map[string]any)["DefinitionString"])
			if err != nil {
				t.Fatal(err)
			}
			return append(out, '\n')
		}
	}
	t.Fatal("no state machine in the template")
	return nil
}

// TestDefinitionMatchesCommittedASL: the file the local stack runs is the
// synthesized definition (run with -update after changing workflow.go).
func TestDefinitionMatchesCommittedASL(t *testing.T) {
	got := synthDefinition(t)
	if *update {
		if err := os.WriteFile(ASLFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(ASLFile)
	if err != nil {
		t.Fatalf("%v (run: go test ./infra/workflow -run TestDefinitionMatchesCommittedASL -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./infra/workflow -run TestDefinitionMatchesCommittedASL -update", ASLFile)
	}
	var asl struct {
		StartAt string
		States  map[string]map[string]any
	}
	if err := json.Unmarshal(got, &asl); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{StateProbe, StatePresign, StateEncode, StateRecordAttempt, StateShouldRetry, StateBackoff, StateVerify, StateNotify, StateMarkFailed} {
		if asl.States[s] == nil {
			t.Errorf("state %s missing", s)
		}
	}
	enc := asl.States[StateEncode]
	if enc["Resource"] != "arn:${AWS::Partition}:states:::ecs:runTask.sync" {
		t.Errorf("Encode resource %v: want RUN_JOB (.sync)", enc["Resource"])
	}
	if enc["TimeoutSeconds"] != float64(EncodeTimeoutMinutes*60) {
		t.Errorf("Encode timeout %v", enc["TimeoutSeconds"])
	}
}
