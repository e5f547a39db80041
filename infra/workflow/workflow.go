// Package workflow defines the encode-job state machine once, in Go, for the
// CDK app. The same synthesized definition (shared/pipeline/spec/
// encode-job.asl.json, checked against the synth by the tests) is what the local stack runs
// under aws-local-stepfunctions, with each Task routed to the local handler.
//
// Shape (T-04, T-05):
//
//	Probe → Presign → Encode (ECS RUN_JOB, worker without credentials)
//	  ├─ ok → Verify → Notify → Done
//	  └─ failed → RecordAttempt → ShouldRetry? ─ yes → Backoff → Presign (fresh URLs)
//	                                            └ no → MarkFailed → Failed
//	any other failure → MarkFailed → Failed
//
// Every Lambda step invokes one pipeline function with {"step": NAME, ...}
// and receives its raw result (payloadResponseOnly), which is also what the
// local runner returns, so paths are the same in both runtimes.
package workflow

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	tasks "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/pipeline/spec"
)

// The names and limits shared with the step handlers and the local runner.
const (
	StateProbe         = spec.StateProbe
	StatePresign       = spec.StatePresign
	StateEncode        = spec.StateEncode
	StateRecordAttempt = spec.StateRecordAttempt
	StateShouldRetry   = spec.StateShouldRetry
	StateBackoff       = spec.StateBackoff
	StateVerify        = spec.StateVerify
	StateNotify        = spec.StateNotify
	StateMarkFailed    = spec.StateMarkFailed

	StepProbe         = spec.StepProbe
	StepPresign       = spec.StepPresign
	StepRecordAttempt = spec.StepRecordAttempt
	StepVerify        = spec.StepVerify
	StepNotify        = spec.StepNotify
	StepMarkFailed    = spec.StepMarkFailed

	EncodeTimeoutMinutes = spec.EncodeTimeoutMinutes
)

// Props are the resources the state machine drives.
type Props struct {
	// Pipeline is the Lambda that runs every non-encode step.
	Pipeline awslambda.IFunction
	// Cluster, TaskDefinition and Container run the worker on Fargate. The
	// task definition must have no task role.
	Cluster        awsecs.ICluster
	TaskDefinition awsecs.TaskDefinition
	Container      awsecs.ContainerDefinition
	SecurityGroups *[]awsec2.ISecurityGroup
	Subnets        *awsec2.SubnetSelection
	// Role is the state machine's role. Pass one created
	// WithoutPolicyUpdates and grant it exactly what it needs, since CDK's
	// automatic grants would add iam:PassRole on a task role that does not
	// exist.
	Role awsiam.IRole
	// Logs, if set, receives the execution log (state transitions, no
	// execution data); the role must be allowed to deliver logs.
	Logs awslogs.ILogGroup
}

func step(scope constructs.Construct, state, name string, p Props, payload map[string]any, resultPath string) tasks.LambdaInvoke {
	body := map[string]any{"step": name, "workspace.$": "$.workspace", "job.$": "$.job"}
	for k, v := range payload {
		body[k] = v
	}
	return tasks.NewLambdaInvoke(scope, jsii.String(state), &tasks.LambdaInvokeProps{
		LambdaFunction:           p.Pipeline,
		Payload:                  sfn.TaskInput_FromObject(&body),
		PayloadResponseOnly:      jsii.Bool(true),
		RetryOnServiceExceptions: jsii.Bool(false),
		ResultPath:               jsii.String(resultPath),
	})
}

// transient retries a Lambda step on Lambda's own service errors, the same
// way in both runtimes.
func transient(t tasks.LambdaInvoke) tasks.LambdaInvoke {
	t.AddRetry(&sfn.RetryProps{
		Errors:      jsii.Strings("Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"),
		Interval:    awscdk.Duration_Seconds(jsii.Number(2)),
		MaxAttempts: jsii.Number(3),
		BackoffRate: jsii.Number(2),
	})
	return t
}

// Definition builds the chain of states.
func Definition(scope constructs.Construct, p Props) sfn.IChainable {
	failed := sfn.NewFail(scope, jsii.String("Failed"), &sfn.FailProps{
		ErrorPath: jsii.String("$.failure.error"),
		CausePath: jsii.String("$.failure.cause"),
	})
	markFailed := transient(step(scope, StateMarkFailed, StepMarkFailed, p, map[string]any{"error.$": "$.error"}, "$.failure"))
	markFailed.Next(failed)
	catch := func(t tasks.LambdaInvoke) tasks.LambdaInvoke {
		t.AddCatch(markFailed, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.error")})
		return t
	}

	probe := catch(transient(step(scope, StateProbe, StepProbe, p, nil, "$.probe")))
	presign := catch(transient(step(scope, StatePresign, StepPresign, p, map[string]any{"attempt.$": "$.attempt"}, "$.worker")))

	encode := tasks.NewEcsRunTask(scope, jsii.String(StateEncode), &tasks.EcsRunTaskProps{
		IntegrationPattern: sfn.IntegrationPattern_RUN_JOB,
		Cluster:            p.Cluster,
		TaskDefinition:     p.TaskDefinition,
		LaunchTarget: tasks.NewEcsFargateLaunchTarget(&tasks.EcsFargateLaunchTargetOptions{
			PlatformVersion: awsecs.FargatePlatformVersion_LATEST,
		}),
		ContainerOverrides: &[]*tasks.ContainerOverride{{
			ContainerDefinition: p.Container,
			Command:             sfn.JsonPath_ListAt(jsii.String("$.worker.command")),
		}},
		AssignPublicIp: jsii.Bool(false),
		SecurityGroups: p.SecurityGroups,
		Subnets:        p.Subnets,
		TaskTimeout:    sfn.Timeout_Duration(awscdk.Duration_Minutes(jsii.Number(EncodeTimeoutMinutes))),
		// The task description names the image digest that ran (T-05).
		ResultSelector: &map[string]any{"imageDigest.$": "$.Containers[0].ImageDigest"},
		ResultPath:     jsii.String("$.encode"),
	})
	// Throttled RunTask calls are retried in place; a failed task is
	// recorded and retried with fresh URLs below.
	encode.AddRetry(&sfn.RetryProps{
		Errors:      jsii.Strings("ECS.AmazonECSException", "ECS.ThrottlingException"),
		Interval:    awscdk.Duration_Seconds(jsii.Number(5)),
		MaxAttempts: jsii.Number(3),
		BackoffRate: jsii.Number(2),
	})

	recordAttempt := catch(transient(step(scope, StateRecordAttempt, StepRecordAttempt, p,
		map[string]any{"attempt.$": "$.attempt", "error.$": "$.encodeError"}, "$.retry")))
	encode.AddCatch(recordAttempt, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.encodeError")})

	backoff := sfn.NewWait(scope, jsii.String(StateBackoff), &sfn.WaitProps{
		Time: sfn.WaitTime_SecondsPath(jsii.String("$.retry.wait_seconds")),
	})
	nextAttempt := sfn.NewPass(scope, jsii.String("NextAttempt"), &sfn.PassProps{
		Parameters: &map[string]any{
			"workspace.$": "$.workspace",
			"job.$":       "$.job",
			"attempt.$":   "$.retry.attempt",
		},
	})
	giveUp := sfn.NewPass(scope, jsii.String("GiveUp"), &sfn.PassProps{
		Parameters: &map[string]any{
			"workspace.$": "$.workspace",
			"job.$":       "$.job",
			"error.$":     "$.encodeError",
		},
	})
	giveUp.Next(markFailed)
	backoff.Next(nextAttempt)
	nextAttempt.Next(presign)
	recordAttempt.Next(sfn.NewChoice(scope, jsii.String(StateShouldRetry), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.retry.retry"), jsii.Bool(true)), backoff, nil).
		Otherwise(giveUp))

	verify := catch(transient(step(scope, StateVerify, StepVerify, p,
		map[string]any{"attempt.$": "$.attempt", "image_digest.$": "$.encode.imageDigest"}, "$.verify")))
	notify := catch(transient(step(scope, StateNotify, StepNotify, p, nil, "$.notify")))
	done := sfn.NewSucceed(scope, jsii.String("Done"), nil)

	start := sfn.NewPass(scope, jsii.String("Start"), &sfn.PassProps{
		Parameters: &map[string]any{"workspace.$": "$.workspace", "job.$": "$.job", "attempt": 1},
	})
	return start.Next(probe).Next(presign).Next(encode).Next(verify).Next(notify).Next(done)
}

// New creates the encode-job state machine.
func New(scope constructs.Construct, id string, p Props) sfn.StateMachine {
	var logs *sfn.LogOptions
	if p.Logs != nil {
		// Every state transition, without its input and output: those hold
		// presigned URLs (their signatures must never reach the logs).
		logs = &sfn.LogOptions{Destination: p.Logs, Level: sfn.LogLevel_ALL, IncludeExecutionData: jsii.Bool(false)}
	}
	return sfn.NewStateMachine(scope, jsii.String(id), &sfn.StateMachineProps{
		Logs:           logs,
		DefinitionBody: sfn.DefinitionBody_FromChainable(Definition(scope, p)),
		Role:           p.Role,
		Timeout:        awscdk.Duration_Hours(jsii.Number(6)),
		Comment:        jsii.String("Framebroker encode job: probe, presign, encode without credentials, verify, notify"),
	})
}
