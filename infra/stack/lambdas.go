package stack

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// Functions that run ffprobe get the layer: assets (probe on upload
// completion) and the pipeline (the state machine's Probe step).
var layerFunctions = map[string]bool{"assets": true, PipelineFunction: true}

// lambdas are the deployed functions by name.
type lambdas struct {
	byName map[string]awslambda.Function
	logs   map[string]awslogs.LogGroup
	layer  awslambda.LayerVersion
}

func (l *lambdas) get(name string) awslambda.Function { return l.byName[name] }

func newLambdas(st awscdk.Stack, p Props, n *network, d *data) *lambdas {
	l := &lambdas{byName: map[string]awslambda.Function{}, logs: map[string]awslogs.LogGroup{}}
	l.layer = awslambda.NewLayerVersion(st, jsii.String("FFprobeLayer"), &awslambda.LayerVersionProps{
		Code:                    awslambda.Code_FromAsset(jsii.String(p.LayerAsset), nil),
		CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
		CompatibleArchitectures: &[]awslambda.Architecture{awslambda.Architecture_ARM_64()},
		Description:             jsii.String("ffprobe and ffmpeg (Debian builds with their libraries) under /opt/bin"),
	})
	for _, name := range p.Functions {
		env := map[string]*string{
			config.EnvMediaBucket: d.media.BucketName(),
			config.EnvS3Region:    st.Region(),
			config.EnvLogLevel:    jsii.String("info"),
		}
		switch name {
		case MigrateFunction:
			// The only function holding the owner's credentials; it reads
			// the app role's secret to set that role's password.
			env[lambdafn.EnvOwnerDatabaseSecretArn] = d.ownerSecret.SecretArn()
			env[lambdafn.EnvDatabaseSecretArn] = d.appSecret.SecretArn()
		default:
			env[lambdafn.EnvDatabaseSecretArn] = d.appSecret.SecretArn()
			if d.operatorSecrets != nil {
				env[lambdafn.EnvSecretsArn] = d.operatorSecrets.SecretArn()
			}
			for k, v := range p.Environment {
				env[k] = jsii.String(v)
			}
		}
		if name == cron.Function {
			env[lambdafn.EnvCronSecretArn] = d.cronSecret.SecretArn()
		}
		logs := awslogs.NewLogGroup(st, jsii.String("Logs-"+name), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_THREE_MONTHS,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		props := &awslambda.FunctionProps{
			Description:    jsii.String("Framebroker " + name),
			Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:   awslambda.Architecture_ARM_64(),
			Handler:        jsii.String("bootstrap"),
			Code:           awslambda.Code_FromAsset(jsii.String(filepath.Join(p.LambdaAssets, name)), nil),
			MemorySize:     jsii.Number(512),
			Timeout:        awscdk.Duration_Seconds(jsii.Number(29)),
			Environment:    &env,
			Vpc:            n.vpc,
			VpcSubnets:     n.private,
			SecurityGroups: &[]awsec2.ISecurityGroup{n.lambdaSG},
			LogGroup:       logs,
			LoggingFormat:  awslambda.LoggingFormat_JSON,
		}
		switch name {
		case MigrateFunction, cron.Function:
			props.Timeout = awscdk.Duration_Minutes(jsii.Number(5))
		case PipelineFunction:
			// Verify re-hashes whole outputs from S3.
			props.Timeout = awscdk.Duration_Minutes(jsii.Number(15))
		}
		if layerFunctions[name] {
			props.Layers = &[]awslambda.ILayerVersion{l.layer}
			props.MemorySize = jsii.Number(1024)
		}
		fn := awslambda.NewFunction(st, jsii.String("Fn-"+name), props)
		if name == MigrateFunction {
			d.ownerSecret.GrantRead(fn, nil)
			d.appSecret.GrantRead(fn, nil)
		} else {
			d.appSecret.GrantRead(fn, nil)
			d.media.GrantReadWrite(fn, nil)
			if d.operatorSecrets != nil {
				d.operatorSecrets.GrantRead(fn, nil)
			}
		}
		if name == cron.Function {
			d.cronSecret.GrantRead(fn, nil)
		}
		l.byName[name] = fn
		l.logs[name] = logs
	}
	return l
}
