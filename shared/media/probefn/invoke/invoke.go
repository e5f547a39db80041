// Package invoke calls the probe function through the Lambda API (the
// AWS SDK lives here, not in probefn, so the probe function's own
// bootstrap does not link it).
package invoke

import (
	"context"
	"errors"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/framebroker/framebroker/shared/media/probefn"
)

// Function invokes one Lambda function synchronously (RequestResponse).
type Function struct {
	Name   string // function name or ARN
	Client *lambda.Client
}

// New is the probe function's invoker from the AWS configuration in use
// (the calling Lambda's role; AWS_ENDPOINT_URL_LAMBDA points it elsewhere,
// e.g. at the Runtime Interface Emulator in tests).
func New(ctx context.Context, name string) (probefn.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return probefn.Client{}, fmt.Errorf("invoke: AWS configuration: %w", err)
	}
	return probefn.Client{Invoker: Function{Name: name, Client: lambda.NewFromConfig(cfg)}}, nil
}

// Invoke implements probefn.Invoker. A function error (the handler failed,
// timed out or crashed) is an error carrying Lambda's error type.
func (f Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   &f.Name,
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		return nil, errors.New("function error " + *out.FunctionError + ": " + string(out.Payload))
	}
	return out.Payload, nil
}
