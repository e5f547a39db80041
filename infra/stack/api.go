package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	apigw "github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/shared/config"
)

// Stage throttling (requests per second, burst) for the whole API; the
// expensive routes are additionally rate limited per user and workspace in
// Postgres (T-10).
const (
	ThrottleRate  = 200
	ThrottleBurst = 400
)

// newAPI creates the HTTP API with one route per router-table row. Public
// rows get no authorizer; every other row gets the Lambda authorizer, with
// result caching off so that a revoked session is refused on its next
// request. /internal/* rows are not exposed at all.
func newAPI(st awscdk.Stack, p Props, l *lambdas) apigw.HttpApi {
	api := apigw.NewHttpApi(st, jsii.String("Api"), &apigw.HttpApiProps{
		Description:        jsii.String("Framebroker API"),
		CreateDefaultStage: jsii.Bool(false),
	})
	logs := awslogs.NewLogGroup(st, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	stage := &apigw.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle:   &apigw.ThrottleSettings{RateLimit: jsii.Number(ThrottleRate), BurstLimit: jsii.Number(ThrottleBurst)},
	}
	if p.DomainName != "" && p.CertificateArn != "" {
		dn := apigw.NewDomainName(st, jsii.String("Domain"), &apigw.DomainNameProps{
			DomainName:  jsii.String(p.DomainName),
			Certificate: awscertificatemanager.Certificate_FromCertificateArn(st, jsii.String("Certificate"), jsii.String(p.CertificateArn)),
		})
		stage.DomainMapping = &apigw.DomainMappingOptions{DomainName: dn}
	}
	hs := api.AddStage(jsii.String("Stage"), stage)
	cfn := hs.Node().DefaultChild().(apigw.CfnStage)
	cfn.AddPropertyOverride(jsii.String("AccessLogSettings"), map[string]any{
		"DestinationArn": logs.LogGroupArn(),
		"Format":         AccessLogFormat,
	})

	authz := awsapigatewayv2authorizers.NewHttpLambdaAuthorizer(jsii.String("SessionAuthorizer"), l.get(AuthorizerFunction), &awsapigatewayv2authorizers.HttpLambdaAuthorizerProps{
		AuthorizerName:  jsii.String("session"),
		ResponseTypes:   &[]awsapigatewayv2authorizers.HttpLambdaResponseType{awsapigatewayv2authorizers.HttpLambdaResponseType_SIMPLE},
		IdentitySource:  jsii.Strings("$request.header.Authorization"),
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(0)),
	})
	integrations := map[string]apigw.HttpRouteIntegration{}
	for _, r := range p.Table.Routes {
		in, ok := integrations[r.Function]
		if !ok {
			// One invoke permission per function, for this API (not one per
			// route: CloudFormation's 500-resource limit).
			in = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Integration-"+r.Function), l.get(r.Function),
				&awsapigatewayv2integrations.HttpLambdaIntegrationProps{ScopePermissionToRoute: jsii.Bool(false)})
			integrations[r.Function] = in
		}
		opts := &apigw.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]apigw.HttpMethod{apigw.HttpMethod(r.Method)},
			Integration: in,
		}
		if !r.Public {
			opts.Authorizer = authz
		}
		api.AddRoutes(opts)
	}

	url := api.ApiEndpoint()
	if p.DomainName != "" {
		url = jsii.String("https://" + p.DomainName)
	}
	for _, fn := range l.byName {
		fn.AddEnvironment(jsii.String(config.EnvAPIURL), url, nil)
	}
	awscdk.NewCfnOutput(st, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{Value: url})
	return api
}

// AccessLogFormat is one JSON line per request (no Authorization header, no
// query string: presigned signatures never reach the logs).
const AccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"time":"$context.requestTime","method":"$context.httpMethod","route":"$context.routeKey",` +
	`"status":"$context.status","length":"$context.responseLength","latencyMs":"$context.responseLatency",` +
	`"authorizerError":"$context.authorizer.error","integrationError":"$context.integrationErrorMessage"}`
