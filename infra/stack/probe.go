package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/config"
)

// ProbeFunction runs ffprobe for the functions that probe media (assets on
// upload completion, the pipeline's Probe step): shared/media/probefn.
const ProbeFunction = "probe"

// ProbeEntrypoint is the probe function's bootstrap in the worker image
// (ffmpeg-layer/artifacts ProbeEntrypoint, ffmpeg-layer/Dockerfile).
const ProbeEntrypoint = "/usr/local/bin/probe"

// ProbeTimeoutSeconds is the probe function's timeout: above the longest
// probe it runs (probefn.MaxTimeout, 60 s) and the pipeline's wait.
const ProbeTimeoutSeconds = 90

// probeFunction is the container-image Lambda that runs ffprobe.
type probeFunction struct {
	fn   awslambda.DockerImageFunction
	role awsiam.Role
	logs awslogs.LogGroup
}

// newProbeFunction creates the probe function from the worker image: by
// digest from repo when make deploy pushed it (built without Docker), else
// a Docker build of the worker's Dockerfile at deploy (the same asset as
// the worker's). Debian's ffprobe and the libraries it loads are ~240 MiB,
// which no zip function fits beside under Lambda's 250 MiB limit; an image
// may be 10 GB.
//
// It holds nothing: its role writes its own log group, it reads no secret,
// no object (its input is one presigned URL per invocation) and it runs
// outside the VPC, so a compromised ffprobe reaches neither the database
// nor the Lambdas' network, and reads nothing but the one object it was
// given.
func newProbeFunction(st awscdk.Stack, p Props, repo awsecr.IRepository) *probeFunction {
	pf := &probeFunction{}
	pf.logs = awslogs.NewLogGroup(st, jsii.String("Logs-"+ProbeFunction), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	pf.role = awsiam.NewRole(st, jsii.String("Role-"+ProbeFunction), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Framebroker probe (ffprobe): its own logs only"),
	})
	pf.role.AddToPrincipalPolicy(statement([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, pf.logs.LogGroupArn()))
	entry := &[]*string{jsii.String(ProbeEntrypoint)}
	var code awslambda.DockerImageCode
	if repo != nil {
		code = awslambda.DockerImageCode_FromEcr(repo, &awslambda.EcrImageCodeProps{
			TagOrDigest: jsii.String(p.WorkerImageDigest),
			Entrypoint:  entry,
		})
	} else {
		code = awslambda.DockerImageCode_FromImageAsset(jsii.String(p.WorkerContext), &awslambda.AssetImageCodeProps{
			File:       jsii.String(p.WorkerDockerfile),
			Platform:   awsecrassets.Platform_LINUX_ARM64(),
			Exclude:    workerContextExclude(),
			IgnoreMode: awscdk.IgnoreMode_DOCKER,
			Entrypoint: entry,
		})
	}
	pf.fn = awslambda.NewDockerImageFunction(st, jsii.String("Fn-"+ProbeFunction), &awslambda.DockerImageFunctionProps{
		Description:   jsii.String("Framebroker probe: confined ffprobe on one presigned URL (worker image)"),
		Code:          code,
		Architecture:  awslambda.Architecture_ARM_64(),
		MemorySize:    jsii.Number(1024),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(ProbeTimeoutSeconds)),
		Environment:   &map[string]*string{config.EnvLogLevel: jsii.String("info")},
		LogGroup:      pf.logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Role:          pf.role,
	})
	return pf
}
