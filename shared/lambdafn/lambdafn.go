// Package lambdafn is the AWS Lambda wiring: it adapts API Gateway (HTTP
// API, payload v2) events to the same net/http handlers the local server
// serves, EventBridge's cron events to the cron route, and runs the Lambda
// authorizer on the same Authenticate code the local middleware uses.
//
// It is the light part every function links: no domain package, no AWS
// SDK. Start-up (secrets, configuration, the database pool) is in
// lambdafn/coldstart; the mains that wire the app are in lambdafn/appfn
// (domain functions), lambdafn/authfn (the authorizer) and
// lambdafn/migratefn (the schema custom resource), so each function links
// only what its routes need (see TestFunctionImports).
package lambdafn

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
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

// Serve runs the Lambda serving h: API Gateway v2 requests and, for the
// cron function, CronEvents (see Dispatch).
func Serve(h http.Handler, cronSecret string) {
	lambda.Start(Dispatch(h, cronSecret))
}

// ServeRoutes runs a Lambda serving only public routes, which need neither
// a database nor an authenticator (the health function): the same guard
// mux and middleware as every other function, without a cold start.
func ServeRoutes(routes []guard.Route) {
	SetupLogging("info")
	mux, err := guard.NewMux(routes, nil, nil)
	if err != nil {
		Fatal("routes", err)
	}
	for _, r := range routes {
		if r.Policy.Level != guard.LevelPublic {
			Fatal("routes", errors.New("ServeRoutes serves public routes only"), "route", r.Method+" "+r.Pattern)
		}
	}
	Serve(httpx.Middleware(mux), "")
}
