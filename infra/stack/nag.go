package stack

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/framebroker/framebroker/shared/cron"
)

// cdk-nag (AwsSolutions and Serverless packs) runs over this stack in the
// infra tests (TestNoUnsuppressedNagFindings) and must find nothing that
// is not suppressed here. Every suppression names the rule, where it
// applies and why the finding is accepted; findings that pointed at real
// defects were fixed instead (alarm key policy, access logs, Step Functions
// logging, rotation, cron dead letters, route throttles).

// finding is one accepted cdk-nag finding.
type finding struct {
	rule, reason string
	// appliesTo narrows an IAM5 suppression to these findings (regular
	// expressions like "/^Resource::\\*$/" or exact strings).
	appliesTo []string
}

// suppress records accepted findings on c and its children.
func suppress(c constructs.IConstruct, fs ...finding) {
	sup := make([]*cdknag.NagPackSuppression, len(fs))
	for i, f := range fs {
		sup[i] = &cdknag.NagPackSuppression{Id: jsii.String(f.rule), Reason: jsii.String(f.reason)}
		if len(f.appliesTo) > 0 {
			at := make([]any, len(f.appliesTo))
			for j, a := range f.appliesTo {
				if len(a) > 1 && a[0] == '/' {
					at[j] = &cdknag.RegexAppliesTo{Regex: jsii.String(a)}
				} else {
					at[j] = a
				}
			}
			sup[i].AppliesTo = &at
		}
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &sup, jsii.Bool(true))
}

// Reasons shared by several suppressions.
const (
	reasonENI = "Lambda's VPC attachment needs EC2 network-interface actions, which have no resource-level scope; " +
		"this replaces AWSLambdaVPCAccessExecutionRole without its logs:* on every log group"
	reasonPrefixes = "Object keys are ws/<workspace>/...: the role is limited to the prefix and the actions of " +
		"FunctionAccess; which workspace a request may touch is enforced per request (row-level security, presigned URL per key)"
	reasonExecutions = "Executions of the one encode-job state machine (names are job ids); only the actions of FunctionAccess"
	reasonXRay       = "No X-Ray: it would add xray:PutTraceSegments on * to every role; JSON logs carry request ids " +
		"and Step Functions keeps execution history and logs"
	reasonSyncInvoke = "Invoked synchronously (API Gateway, the authorizer, Step Functions): a failure returns to the caller, " +
		"which retries or answers; a dead-letter queue would never receive anything"
	reasonCustomResource = "CloudFormation custom resource: a failure is answered to CloudFormation, and the resource's " +
		"ServiceTimeout bounds a handler that never answers"
)

// suppressNag records the accepted findings of the whole stack.
func suppressNag(s *Stack, p Props) {
	for name, role := range s.fns.roles {
		fs := []finding{{rule: "AwsSolutions-IAM5", reason: reasonENI, appliesTo: []string{"Resource::*"}}}
		if len(FunctionAccess[name].Objects)+len(FunctionAccess[name].ListPrefixes) > 0 {
			fs = append(fs, finding{rule: "AwsSolutions-IAM5", reason: reasonPrefixes,
				appliesTo: []string{`/^Resource::<Media[0-9A-F]+\.Arn>\/ws\/\*(\/(assets|jobs)\/\*)?$/`}})
		}
		if len(FunctionAccess[name].Executions) > 0 {
			fs = append(fs, finding{rule: "AwsSolutions-IAM5", reason: reasonExecutions,
				appliesTo: []string{`/^Resource::arn:<AWS::Partition>:states:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]+):execution:<EncodeJob[0-9A-F]+\.Name>:\*$/`}})
		}
		suppress(role, fs...)
		fn := s.fns.get(name)
		suppress(fn, finding{rule: "Serverless-LambdaTracing", reason: reasonXRay})
		switch name {
		case MigrateFunction:
			suppress(fn, finding{rule: "Serverless-LambdaDLQ", reason: reasonCustomResource})
		case cron.Function, PurgeFunction:
			// Asynchronous (EventBridge): they have the dead-letter queue.
		default:
			suppress(fn, finding{rule: "Serverless-LambdaDLQ", reason: reasonSyncInvoke})
		}
	}
	suppress(s.fns.probe.fn,
		finding{rule: "Serverless-LambdaTracing", reason: reasonXRay},
		finding{rule: "Serverless-LambdaDLQ", reason: reasonSyncInvoke})
	suppress(s.keyringFn,
		finding{rule: "Serverless-LambdaTracing", reason: reasonXRay},
		finding{rule: "Serverless-LambdaDLQ", reason: reasonCustomResource})

	w := s.worker
	suppress(w.machine,
		finding{rule: "AwsSolutions-SF2", reason: reasonXRay},
		finding{rule: "Serverless-StepFunctionStateMachineXray", reason: reasonXRay})
	suppress(w.policy,
		finding{rule: "AwsSolutions-IAM5", reason: "Any revision of the worker's task-definition family (an update " +
			"registers a new one while executions may still run the previous) and tasks of the stack's own cluster",
			appliesTo: []string{`/^Resource::arn:<AWS::Partition>:ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]+):task-definition\/[A-Za-z0-9]+:\*$/`,
				`/^Resource::arn:<AWS::Partition>:ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]+):task\/<Cluster[0-9A-F]+>\/\*$/`}},
		finding{rule: "AwsSolutions-IAM5", reason: "CloudWatch Logs' log-delivery actions (Step Functions execution logging) " +
			"have no resource-level scope", appliesTo: []string{"Resource::*"}})

	suppress(w.task.ExecutionRole(), finding{rule: "AwsSolutions-IAM5", reason: "ecr:GetAuthorizationToken (image pull by " +
		"the task execution role) has no resource-level scope", appliesTo: []string{"Resource::*"}})

	d := s.data
	suppress(d.cronSecret, finding{rule: "AwsSolutions-SMG4", reason: "The cron secret never leaves the cron and purge " +
		"Lambdas (they put it on their own in-process requests; no rule or template carries it): rotating it protects nothing"})
	suppress(d.keyringSecret, finding{rule: "AwsSolutions-SMG4", reason: "Signing keys rotate by appending a key " +
		"(`framebroker keyring rotate`: old public keys stay published so existing signatures verify), not by replacing the secret; " +
		"a Secrets Manager rotation would discard them"})
	if d.cluster != nil {
		suppress(d.cluster, finding{rule: "AwsSolutions-RDS6", reason: "Password authentication with Secrets Manager " +
			"rotation every RotationDays; the cluster is in isolated subnets reachable only from the Lambdas' security group, " +
			"TLS forced (rds.force_ssl). IAM tokens would need rds-db:connect per function and token refresh in the pool"})
	}
	suppress(s.schedule.dlq,
		finding{rule: "AwsSolutions-SQS3", reason: "This queue is the dead-letter queue (of the cron rule targets and the cron Lambdas)"},
		finding{rule: "Serverless-SQSRedrivePolicy", reason: "This queue is the dead-letter queue (of the cron rule targets and the cron Lambdas)"})

	if ni := s.net.natInstance; ni != nil {
		for _, inst := range *ni.GatewayInstances() {
			suppress(inst,
				finding{rule: "AwsSolutions-EC28", reason: "Detailed monitoring would cost more than the NAT instance itself " +
					"(README Idle cost); basic metrics and the status-check alarm cover it"},
				finding{rule: "AwsSolutions-EC29", reason: "The NAT instance holds no state and CloudFormation replaces it on " +
					"updates; termination protection would block that and stack deletion"})
		}
	}
}
