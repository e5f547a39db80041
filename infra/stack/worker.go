package stack

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/infra/workflow"
	"github.com/framebroker/framebroker/shared/config"
)

// BootstrapImageRepository is the CDK bootstrap's container-asset
// repository (exists after `cdk bootstrap`), where make deploy pushes the
// worker image unless workerImageRepository names another.
const BootstrapImageRepository = "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"

// WorkerContainer is the worker's container name in the task definition.
const WorkerContainer = "worker"

// JobsFunction starts encode executions (POST .../jobs).
const JobsFunction = "jobs"

// WorkerContextExclude keeps the worker image's build context (the
// repository root) to what the Dockerfile copies: Docker-style patterns,
// everything excluded, then re-included.
var WorkerContextExclude = []string{"*", "!go.mod", "!go.sum", "!shared", "!ffmpeg-layer/worker", "!ffmpeg-layer/probe", "!ffmpeg-layer/Dockerfile"}

// worker is the Fargate side of the encode and its state machine.
type worker struct {
	cluster   awsecs.Cluster
	task      awsecs.FargateTaskDefinition
	container awsecs.ContainerDefinition
	machine   sfn.StateMachine
	// machineLogs is the state machine's execution log.
	machineLogs awslogs.LogGroup
	role        awsiam.Role
	// policy is the state machine role's policy.
	policy awsiam.Policy
}

// workerContextExclude is WorkerContextExclude for CDK.
func workerContextExclude() *[]*string {
	excl := make([]*string, len(WorkerContextExclude))
	for i, e := range WorkerContextExclude {
		excl[i] = jsii.String(e)
	}
	return &excl
}

// imageRepository is the ECR repository make deploy pushed the worker image
// to (workerImageDigest), or nil when the image is built with Docker at
// deploy.
func imageRepository(st awscdk.Stack, p Props) awsecr.IRepository {
	if p.WorkerImageDigest == "" {
		return nil
	}
	name := p.WorkerImageRepository
	if name == "" {
		name = *awscdk.Fn_Sub(jsii.String(BootstrapImageRepository), nil)
	}
	return awsecr.Repository_FromRepositoryName(st, jsii.String("WorkerRepository"), jsii.String(name))
}

func newWorker(st awscdk.Stack, p Props, n *network, d *data, l *lambdas, repo awsecr.IRepository) *worker {
	w := &worker{}
	w.cluster = awsecs.NewCluster(st, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            n.vpc,
		ContainerInsightsV2:            awsecs.ContainerInsights_ENABLED,
		EnableFargateCapacityProviders: jsii.Bool(true),
	})
	w.task = awsecs.NewFargateTaskDefinition(st, jsii.String("WorkerTask"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(4096),
		MemoryLimitMiB: jsii.Number(8192),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
		EphemeralStorageGiB: jsii.Number(100),
	})
	// T-04: the worker holds no credentials. CDK always creates a task role;
	// remove it and the property, so the task has no role at all.
	w.task.Node().TryRemoveChild(jsii.String("TaskRole"))
	w.task.Node().DefaultChild().(awsecs.CfnTaskDefinition).AddPropertyDeletionOverride(jsii.String("TaskRoleArn"))

	logs := awslogs.NewLogGroup(st, jsii.String("WorkerLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// The image: by digest from an ECR repository when make deploy pushed
	// one (built without Docker, workerImageDigest), else a Docker build
	// of the Dockerfile (synth only needs the directory).
	var image awsecs.ContainerImage
	if repo != nil {
		image = awsecs.ContainerImage_FromEcrRepository(repo, jsii.String(p.WorkerImageDigest))
	} else {
		image = awsecs.ContainerImage_FromAsset(jsii.String(p.WorkerContext), &awsecs.AssetImageProps{
			File:       jsii.String(p.WorkerDockerfile),
			Platform:   awsecrassets.Platform_LINUX_ARM64(),
			Exclude:    workerContextExclude(),
			IgnoreMode: awscdk.IgnoreMode_DOCKER,
		})
	}
	w.container = w.task.AddContainer(jsii.String(WorkerContainer), &awsecs.ContainerDefinitionOptions{
		Image:                  image,
		Essential:              jsii.Bool(true),
		ReadonlyRootFilesystem: jsii.Bool(false),
		User:                   jsii.String("65534:65534"),
		Logging:                awsecs.LogDriver_AwsLogs(&awsecs.AwsLogDriverProps{LogGroup: logs, StreamPrefix: jsii.String("worker")}),
	})

	// The state machine's role gets no automatic grants: EcsRunTask would
	// add iam:PassRole on the (removed) task role. Its policy is written
	// below, action by action.
	w.role = awsiam.NewRole(st, jsii.String("EncodeJobRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("Framebroker encode-job state machine"),
	})
	pipeline := l.get(PipelineFunction)
	w.machineLogs = awslogs.NewLogGroup(st, jsii.String("EncodeJobLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	w.machine = workflow.New(st, "EncodeJob", workflow.Props{
		Pipeline:       pipeline,
		Cluster:        w.cluster,
		TaskDefinition: w.task,
		Container:      w.container,
		SecurityGroups: &[]awsec2.ISecurityGroup{n.workerSG},
		Subnets:        n.private,
		Role:           awsiam.Role_FromRoleArn(st, jsii.String("EncodeJobRoleRef"), w.role.RoleArn(), &awsiam.FromRoleArnOptions{Mutable: jsii.Bool(false)}),
		Logs:           w.machineLogs,
	})
	pol := awsiam.NewPolicy(st, jsii.String("EncodeJobPolicy"), &awsiam.PolicyProps{
		Statements: &[]awsiam.PolicyStatement{
			statement([]string{"lambda:InvokeFunction"}, pipeline.FunctionArn()),
			// Any revision of this family (an update registers a new one while
			// executions may still run the previous).
			statement([]string{"ecs:RunTask"}, st.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("ecs"), Resource: jsii.String("task-definition"),
				ResourceName: jsii.String(*w.task.Family() + ":*"),
			})),
			statement([]string{"ecs:StopTask", "ecs:DescribeTasks"}, st.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("ecs"), Resource: jsii.String("task"),
				ResourceName: jsii.String(*w.cluster.ClusterName() + "/*"),
			})),
			statement([]string{"iam:PassRole"}, w.task.ExecutionRole().RoleArn()),
			statement([]string{"events:PutTargets", "events:PutRule", "events:DescribeRule"}, st.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("events"), Resource: jsii.String("rule"),
				ResourceName: jsii.String("StepFunctionsGetEventsForECSTaskRule"),
			})),
			// Execution logging: CloudWatch Logs' log-delivery API has no
			// resource-level permissions.
			statement(SFNLogDeliveryActions, jsii.String("*")),
		},
	})
	w.policy = pol
	w.role.AttachInlinePolicy(pol)
	// Step Functions checks log delivery when it creates the machine.
	w.machine.Node().AddDependency(pol)
	// Step Functions actions per function come from FunctionAccess:
	// StartExecution on the machine, the others on its executions.
	executions := st.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("execution"),
		ResourceName: jsii.String(*w.machine.StateMachineName() + ":*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	for _, name := range sortedNames(l.byName) {
		var onMachine, onExecutions []string
		for _, a := range FunctionAccess[name].Executions {
			if a == "states:StartExecution" {
				onMachine = append(onMachine, a)
			} else {
				onExecutions = append(onExecutions, a)
			}
		}
		if len(onMachine)+len(onExecutions) == 0 {
			continue
		}
		if len(onMachine) > 0 {
			l.roles[name].AddToPrincipalPolicy(statement(onMachine, w.machine.StateMachineArn()))
		}
		if len(onExecutions) > 0 {
			l.roles[name].AddToPrincipalPolicy(statement(onExecutions, executions))
		}
		fn := l.get(name)
		fn.AddEnvironment(jsii.String(config.EnvStateMachineARN), w.machine.StateMachineArn(), nil)
		fn.AddEnvironment(jsii.String(config.EnvEncodeBackend), jsii.String("stepfunctions"), nil)
	}
	awscdk.NewCfnOutput(st, jsii.String("StateMachineArn"), &awscdk.CfnOutputProps{Value: w.machine.StateMachineArn()})
	return w
}

// SFNLogDeliveryActions are what Step Functions needs to deliver
// execution logs to CloudWatch Logs.
var SFNLogDeliveryActions = []string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
	"logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}

func statement(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
