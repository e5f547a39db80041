package stack

import (
	"maps"
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/cronrules"
)

// heavyFunctions hash whole objects (asset completion, output
// verification) and get more memory (Lambda's CPU share grows with it).
var heavyFunctions = map[string]bool{"assets": true, PipelineFunction: true}

// lambdas are the deployed functions by name.
type lambdas struct {
	byName map[string]awslambda.Function
	logs   map[string]awslogs.LogGroup
	roles  map[string]awsiam.Role
	// probe is the probe function (container image), which the functions
	// whose FunctionAccess Invokes names it call.
	probe *probeFunction
}

func (l *lambdas) get(name string) awslambda.Function { return l.byName[name] }

func newLambdas(st awscdk.Stack, p Props, n *network, d *data, dlq awssqs.IQueue, repo awsecr.IRepository) *lambdas {
	l := &lambdas{byName: map[string]awslambda.Function{}, logs: map[string]awslogs.LogGroup{}, roles: map[string]awsiam.Role{}}
	l.probe = newProbeFunction(st, p, repo)
	for _, name := range deployed(p.Functions) {
		acc := FunctionAccess[name]
		env := map[string]*string{
			config.EnvMediaBucket: d.media.BucketName(),
			config.EnvS3Region:    st.Region(),
			config.EnvLogLevel:    jsii.String("info"),
		}
		if name != MigrateFunction {
			for k, v := range p.Environment {
				env[k] = jsii.String(v)
			}
		}
		if d.cluster != nil {
			env[EnvDatabaseWait] = jsii.String(ResumeWait) // the cluster may be paused
		}
		for _, s := range acc.Secrets {
			if s == SecretOperator {
				for k, arn := range d.operatorSecretArns(name) {
					env[k] = arn
				}
			} else if arn := d.secretArn(s); arn != nil {
				env[secretEnv[s]] = arn
			}
		}
		if len(acc.Wakes) > 0 {
			env[cronrules.EnvRulePrefix] = jsii.String(CronRulePrefix(st))
		}
		logs := awslogs.NewLogGroup(st, jsii.String("Logs-"+name), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_THREE_MONTHS,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		role := awsiam.NewRole(st, jsii.String("Role-"+name), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("Framebroker Lambda " + name + " (infra/stack FunctionAccess)"),
		})
		grantAccess(st, role, name, acc, logs, d, cron.DueOnlyJobs(p.Schedule))
		for _, target := range acc.Invokes {
			if target != ProbeFunction {
				panic("stack: FunctionAccess[" + name + "].Invokes names " + target + ", which is not an invokable function")
			}
			role.AddToPrincipalPolicy(statement([]string{"lambda:InvokeFunction"}, l.probe.fn.FunctionArn()))
			env[config.EnvProbeFunction] = l.probe.fn.FunctionArn()
		}
		asset := name
		if name == PurgeFunction {
			asset = cron.Function // the same bootstrap, another role
		}
		props := goFunction("Framebroker "+name, filepath.Join(p.LambdaAssets, asset), env, logs, role)
		props.MemorySize = jsii.Number(512)
		props.Timeout = awscdk.Duration_Seconds(jsii.Number(29))
		props.Vpc, props.VpcSubnets = n.vpc, n.private
		props.SecurityGroups = &[]awsec2.ISecurityGroup{n.lambdaSG}
		switch name {
		case MigrateFunction:
			props.Timeout = awscdk.Duration_Minutes(jsii.Number(5))
		case cron.Function, PurgeFunction:
			// Invoked asynchronously by EventBridge: what still fails after
			// Lambda's retries is kept, and alarms.
			props.Timeout = awscdk.Duration_Minutes(jsii.Number(5))
			props.DeadLetterQueue = dlq
		case PipelineFunction:
			// Verify re-hashes whole outputs from S3.
			props.Timeout = awscdk.Duration_Minutes(jsii.Number(15))
		}
		if heavyFunctions[name] {
			props.MemorySize = jsii.Number(1024)
		}
		fn := awslambda.NewFunction(st, jsii.String("Fn-"+name), props)
		l.byName[name] = fn
		l.logs[name] = logs
		l.roles[name] = role
	}
	return l
}

// goFunction is the common part of every function's properties: a Go
// bootstrap on provided.al2023, arm64, JSON logs into its own group, its
// own role.
func goFunction(desc, code string, env map[string]*string, logs awslogs.ILogGroup, role awsiam.IRole) *awslambda.FunctionProps {
	return &awslambda.FunctionProps{
		Description:   jsii.String(desc),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(code), nil),
		Environment:   &env,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Role:          role,
	}
}

// deployed are the route-serving and fixed Lambdas built from fns: the
// keyring-init function is the custom resource's (keyring.go), and the
// purge function is added.
func deployed(fns []string) []string {
	var out []string
	for _, f := range fns {
		if f != KeyringInitFunction {
			out = append(out, f)
		}
	}
	return append(out, PurgeFunction)
}

// secretEnv is the environment variable naming each secret's ARN
// (lambdafn reads them at cold start).
var secretEnv = map[Secret]string{
	SecretAppDatabase:   lambdafn.EnvDatabaseSecretArn,
	SecretOwnerDatabase: lambdafn.EnvOwnerDatabaseSecretArn,
	SecretCron:          lambdafn.EnvCronSecretArn,
	SecretKeyring:       lambdafn.EnvKeyringSecretArn,
	SecretOperator:      lambdafn.EnvSecretsArn,
}

// eniActions are what Lambda needs to attach a function to the VPC; EC2
// does not scope them to resources.
var eniActions = []string{"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
	"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}

// grantAccess writes role's policy from acc: its own log group, the VPC
// attachment, and exactly the secrets, objects and executions acc names.
// KMS use is limited to the service that needs it (kms:ViaService).
func grantAccess(st awscdk.Stack, role awsiam.Role, name string, acc Access, logs awslogs.LogGroup, d *data, dueOnly []string) {
	add := func(s awsiam.PolicyStatement) { role.AddToPrincipalPolicy(s) }
	add(statement([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, logs.LogGroupArn()))
	add(statement(eniActions, jsii.String("*")))
	var arns []*string
	for _, s := range acc.Secrets {
		if s == SecretOperator {
			ops := d.operatorSecretArns(name)
			for _, k := range slices.Sorted(maps.Keys(ops)) {
				arns = append(arns, ops[k])
			}
		} else if arn := d.secretArn(s); arn != nil {
			arns = append(arns, arn)
		}
	}
	if len(arns) > 0 {
		add(statement([]string{"secretsmanager:GetSecretValue"}, arns...))
		add(viaService(st, []string{"kms:Decrypt"}, "secretsmanager", d.key.KeyArn()))
	}
	var get, put bool
	for _, o := range acc.Objects {
		add(statement(o.Actions, d.media.ArnForObjects(jsii.String(o.Pattern))))
		for _, a := range o.Actions {
			get = get || a == s3Get
			put = put || a == s3Put
		}
	}
	switch {
	case put && get:
		add(viaService(st, []string{"kms:Decrypt", "kms:GenerateDataKey"}, "s3", d.key.KeyArn()))
	case put:
		add(viaService(st, []string{"kms:GenerateDataKey"}, "s3", d.key.KeyArn()))
	case get:
		add(viaService(st, []string{"kms:Decrypt"}, "s3", d.key.KeyArn()))
	}
	// The due-only cron rules: enable those of the jobs it commits work
	// for; disable (the cron function only) every one.
	var wake []*string
	for _, j := range acc.Wakes {
		wake = append(wake, cronRuleArn(st, j))
	}
	if len(wake) > 0 {
		add(statement([]string{"events:EnableRule"}, wake...))
	}
	if acc.Settles {
		var all []*string
		for _, j := range dueOnly {
			all = append(all, cronRuleArn(st, j))
		}
		add(statement([]string{"events:DisableRule"}, all...))
	}
	if len(acc.ListPrefixes) > 0 {
		actions := []string{"s3:ListBucket"}
		if acc.ListVersions {
			actions = append(actions, "s3:ListBucketVersions")
		}
		s := statement(actions, d.media.BucketArn())
		s.AddCondition(jsii.String("StringLike"), map[string]any{"s3:prefix": acc.ListPrefixes})
		add(s)
	}
}

// viaService is a KMS statement usable only through service's API.
func viaService(st awscdk.Stack, actions []string, service string, key *string) awsiam.PolicyStatement {
	s := statement(actions, key)
	s.AddCondition(jsii.String("StringEquals"), map[string]any{
		"kms:ViaService": service + "." + *st.Region() + ".amazonaws.com",
	})
	return s
}
