// Command infra is Framebroker's CDK app (`cdk synth`, `cdk deploy`; cdk.json
// runs it with `go run ./infra`). It builds the stack of infra/stack from the
// router table, the cron schedule, the built assets (`make build`) and the
// context values documented in README "Deploying to AWS".
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/infra/stack"
	"github.com/framebroker/framebroker/shared/cron"
)

// Asset locations, relative to the repository root (the CLI's working
// directory). `make build` writes them.
const lambdaAssets = "build/lambda"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("CDK_OUTDIR") == "" {
		os.Setenv("CDK_OUTDIR", "cdk.out")
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: ptr(stack.FeatureFlags())})
	ctx := func(k string) string {
		v := app.Node().TryGetContext(jsii.String(k))
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	table, err := stack.TableFromApp()
	if err != nil {
		return err
	}
	fns, err := stack.Functions(table, "functions")
	if err != nil {
		return err
	}
	var noSource, unbuilt []string
	for _, f := range fns {
		if _, err := os.Stat(filepath.Join("functions", f, "main.go")); err != nil {
			noSource = append(noSource, "functions/"+f)
		} else if _, err := os.Stat(filepath.Join(lambdaAssets, f, "bootstrap")); err != nil {
			unbuilt = append(unbuilt, f)
		}
	}
	if len(noSource) > 0 {
		return fmt.Errorf("the router table (or the stack) needs Lambdas that have no main.go: %v "+
			"(each is `func main() { lambdafn.Main(\"<name>\") }`)", noSource)
	}
	if len(unbuilt) > 0 {
		return fmt.Errorf("assets missing (run `make build` first): functions %v", unbuilt)
	}
	nat := 0
	if v := ctx("natGateways"); v != "" {
		if nat, err = strconv.Atoi(v); err != nil || nat < 0 {
			return fmt.Errorf("context natGateways: %q is not a count", v)
		}
	}
	var env *awscdk.Environment
	account, region := ctx("account"), ctx("region")
	if account == "" {
		account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	}
	if region == "" {
		region = os.Getenv("CDK_DEFAULT_REGION")
	}
	isolated := false
	if v := ctx("isolatedWorker"); v != "" {
		if isolated, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("context isolatedWorker: %q is not true or false", v)
		}
	}
	if ctx("vpcId") != "" || isolated {
		// Vpc.fromLookup and PrefixList.fromLookup need a concrete
		// environment (and credentials).
		env = &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	} else if ctx("region") != "" {
		// Region only: the stack stays account-agnostic, so no AZ lookup.
		env = &awscdk.Environment{Region: jsii.String(region)}
	}
	environment := map[string]string{}
	if v := app.Node().TryGetContext(jsii.String("environment")); v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("context environment: want an object of FRAMEBROKER_* settings, got %T", v)
		}
		for k, e := range m {
			if !strings.HasPrefix(k, "FRAMEBROKER_") {
				return fmt.Errorf("context environment: %q is not a FRAMEBROKER_ setting", k)
			}
			environment[k] = fmt.Sprint(e)
		}
	}
	name := ctx("stackName")
	if name == "" {
		name = "Framebroker"
	}
	var origins []string
	if v := app.Node().TryGetContext(jsii.String("corsOrigins")); v != nil {
		switch o := v.(type) {
		case string:
			for _, x := range strings.Split(o, ",") {
				if x = strings.TrimSpace(x); x != "" {
					origins = append(origins, x)
				}
			}
		case []any:
			for _, x := range o {
				origins = append(origins, fmt.Sprint(x))
			}
		default:
			return fmt.Errorf("context corsOrigins: want a list of origins or a comma-separated string, got %T", v)
		}
	}
	var operatorSecrets map[string]string
	for purpose, key := range stack.OperatorSecretContext {
		if arn := ctx(key); arn != "" {
			if operatorSecrets == nil {
				operatorSecrets = map[string]string{}
			}
			operatorSecrets[purpose] = arn
		}
	}
	props := stack.Props{
		StackProps:              awscdk.StackProps{Env: env, Description: jsii.String("Framebroker: video production backend (see README)")},
		Table:                   table,
		Functions:               fns,
		Schedule:                cron.Schedule,
		LambdaAssets:            lambdaAssets,
		WorkerContext:           ".",
		WorkerDockerfile:        "ffmpeg-layer/Dockerfile",
		MigrationsDir:           "shared/db/migrations",
		KeyArn:                  ctx("keyArn"),
		VpcID:                   ctx("vpcId"),
		NatGateways:             nat,
		DatabaseSecretArn:       ctx("databaseSecretArn"),
		DatabaseSecurityGroupID: ctx("databaseSecurityGroupId"),
		DomainName:              ctx("domainName"),
		CertificateArn:          ctx("certificateArn"),
		SecretsArn:              ctx("secretsArn"),
		OperatorSecretArns:      operatorSecrets,
		Environment:             environment,
		AlarmEmail:              ctx("alarmEmail"),
		S3GatewayEndpoint:       ctx("s3GatewayEndpoint"),
		WorkerImageDigest:       ctx("workerImageDigest"),
		WorkerImageRepository:   ctx("workerImageRepository"),
		CorsOrigins:             origins,
		IsolatedWorker:          isolated,
	}
	if err := props.Validate(); err != nil {
		return fmt.Errorf("refusing to synth:\n%w", err)
	}
	stack.New(app, name, props)
	app.Synth(nil)
	return nil
}

func ptr[T any](v T) *T { return &v }
