// Package authfn is the main of the Lambda authorizer: the cold start and
// the identity service's Authenticate, nothing else of the app (it links
// no media, billing, webhook or pipeline code).
package authfn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
)

// Function is the authorizer's name in the stack and under events/.
const Function = "authorizer"

// Main runs the Lambda authorizer.
func Main() {
	ctx := context.Background()
	lambdafn.SetupLogging("info")
	st, err := coldstart.LoadEnv(ctx, coldstart.Options{Function: Function})
	if err != nil {
		lambdafn.Fatal("cold start", err, "function", Function)
	}
	// Authenticate reads sessions only: none of the configured options
	// (public URL, TOTP key, OAuth providers, mail) takes part, so the
	// authorizer wires none of them and links no OAuth/OIDC client.
	lambda.Start(lambdafn.Authorizer(identity.NewService(st.Pool)))
}
