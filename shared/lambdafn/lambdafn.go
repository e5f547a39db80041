// Package lambdafn is the AWS Lambda wiring: it adapts API Gateway (HTTP
// API, payload v2) events to the same net/http handlers the local server
// serves, and runs the Lambda authorizer on the same Authenticate code the
// local middleware uses. functions/<name>/main.go call Main or
// MainAuthorizer and nothing else.
package lambdafn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/problem"
)

// APIHandler is a Lambda handler for API Gateway HTTP API events.
type APIHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// AuthorizerHandler is a Lambda authorizer with the simple response format.
type AuthorizerHandler func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// Authorizer turns the request's bearer token into a principal with authn,
// the same call the local middleware makes. A bad token is a deny; a
// failure to check (database down) is an error, which API Gateway answers
// with 500 rather than letting the request through.
func Authorizer(authn guard.Authenticator) AuthorizerHandler {
	return func(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		deny := events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}
		var header string
		for k, v := range ev.Headers {
			if strings.EqualFold(k, "authorization") {
				header = v
			}
		}
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return deny, nil
		}
		p, err := authn.Authenticate(ctx, strings.TrimSpace(token))
		if problem.Is(err, problem.Unauthenticated) {
			return deny, nil
		}
		if err != nil {
			slog.ErrorContext(ctx, "authorizer: authenticate failed", "err", err.Error())
			return deny, errors.New("authorizer unavailable")
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{
			IsAuthorized: true,
			Context:      map[string]any{"user": p.User.String(), "session": p.Session.String()},
		}, nil
	}
}

// load reads the configuration (filling secrets from Secrets Manager where
// the stack names them) and wires the app, exiting on failure (a Lambda
// that cannot start should fail its init, loudly).
func load(ctx context.Context) *app.App {
	lookup, err := ResolveSecrets(ctx, os.LookupEnv, &secretsManager{})
	if err != nil {
		slog.Error("secrets", "err", err.Error())
		os.Exit(1)
	}
	cfg, err := config.FromLookup(lookup)
	if err != nil {
		slog.Error("config", "err", err.Error())
		os.Exit(1)
	}
	app.SetupLogging(cfg.LogLevel)
	a, err := app.New(ctx, cfg)
	if err != nil {
		slog.Error("wire app", "err", err.Error())
		os.Exit(1)
	}
	return a
}

// Main runs the Lambda serving function's routes: API Gateway v2 requests,
// and CronEvents from EventBridge for the function serving the cron route.
func Main(function string) {
	a := load(context.Background())
	h, err := a.FunctionHandler(function)
	if err != nil {
		slog.Error("function handler", "function", function, "err", err.Error())
		os.Exit(1)
	}
	lambda.Start(dispatch(h))
}

// MainAuthorizer runs the Lambda authorizer.
func MainAuthorizer() {
	a := load(context.Background())
	lambda.Start(Authorizer(a.Identity))
}

// MainMigrate runs the migrate custom resource (see Migrator). It needs the
// owner's and the app role's secrets, and nothing else of the config.
func MainMigrate() {
	ctx := context.Background()
	app.SetupLogging("info")
	lookup, err := ResolveSecrets(ctx, os.LookupEnv, &secretsManager{})
	if err != nil {
		slog.Error("secrets", "err", err.Error())
		os.Exit(1)
	}
	owner, _ := lookup(config.EnvOwnerDatabaseURL)
	appPassword, err := appRolePassword(ctx, os.LookupEnv, &secretsManager{})
	if err != nil {
		slog.Error("app role secret", "err", err.Error())
		os.Exit(1)
	}
	lambda.Start(cfn.LambdaWrap(Migrator(owner, appPassword)))
}
