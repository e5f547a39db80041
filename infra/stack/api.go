package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
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

// PublicThrottle is a public route's limit (requests per second, burst),
// for the route as a whole: credential and mail-sending routes lowest,
// Stripe's webhook and published provenance highest.
func PublicThrottle(r Route) (rate, burst int) {
	switch {
	case strings.HasPrefix(r.Path, "/v1/auth/") && r.Method == "POST":
		return 5, 10
	case strings.HasPrefix(r.Path, "/v1/auth/"):
		return 10, 20
	case r.Path == "/v1/stripe/webhook":
		return 50, 100
	case strings.HasPrefix(r.Path, "/v1/provenance/") && r.Method == "GET":
		return 50, 100
	default:
		return 10, 20
	}
}

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
		AccessLogSettings: &accessLogSettings{
			dest:   apigw.NewLogGroupLogDestination(logs),
			format: awsapigateway.AccessLogFormat_Custom(jsii.String(AccessLogFormat)),
		},
	}
	if p.DomainName != "" && p.CertificateArn != "" {
		dn := apigw.NewDomainName(st, jsii.String("Domain"), &apigw.DomainNameProps{
			DomainName:  jsii.String(p.DomainName),
			Certificate: awscertificatemanager.Certificate_FromCertificateArn(st, jsii.String("Certificate"), jsii.String(p.CertificateArn)),
		})
		stage.DomainMapping = &apigw.DomainMappingOptions{DomainName: dn}
	}
	hs := api.AddStage(jsii.String("Stage"), stage)

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
		routes := api.AddRoutes(opts)
		if r.Public {
			for _, rt := range *routes {
				hs.Node().AddDependency(rt) // route settings name existing routes
				suppress(rt, finding{rule: "AwsSolutions-APIG4", reason: "Public by the router table (guard.LevelPublic): " +
					"health, sign-up/login/recovery, OAuth redirects, published provenance, Stripe's signed webhook; " +
					"each has its own throttle (PublicThrottle)"})
			}
		}
	}
	// Each public route has its own limit, below the stage's: a flood on
	// one (login, signup, the Stripe webhook) is refused there and leaves
	// the stage's allowance to everyone else. Authenticated routes share
	// the stage limit and are limited per user and workspace in Postgres
	// (T-10).
	settings := map[string]any{}
	for _, r := range p.Table.Routes {
		if r.Public {
			rate, burst := PublicThrottle(r)
			settings[r.Key()] = map[string]any{"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
		}
	}
	hs.Node().DefaultChild().(apigw.CfnStage).AddPropertyOverride(jsii.String("RouteSettings"), settings)

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

// accessLogSettings implements the HTTP API stage's access-log settings
// (a jsii interface without a struct form).
type accessLogSettings struct {
	dest   apigw.IAccessLogDestination
	format awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() apigw.IAccessLogDestination { return a.dest }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat    { return a.format }
