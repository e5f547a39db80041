package appfn

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/pipeline"
)

// StepHandler is the pipeline Lambda: the state machine's Lambda tasks
// invoke it with {"step": …}.
type StepHandler func(context.Context, pipeline.Payload) (any, error)

// Steps adapts the step handlers to Lambda. A step's Failure becomes the
// Lambda error type (e.g. "Job.VerificationFailed"), which is the Error name
// the state machine's Catch and Retry match, exactly as the local runner
// reports it.
func Steps(s *pipeline.Steps) StepHandler {
	return func(ctx context.Context, p pipeline.Payload) (any, error) {
		out, err := s.Handle(ctx, p)
		if err == nil {
			return out, nil
		}
		var f *pipeline.Failure
		if errors.As(err, &f) {
			return nil, messages.InvokeResponse_Error{Type: f.Name, Message: f.Cause}
		}
		return nil, messages.InvokeResponse_Error{Type: "Job.StepError", Message: err.Error()}
	}
}

// MainPipeline runs the pipeline Lambda.
func MainPipeline() {
	a := start(pipelineFunction, app.Steps)
	lambda.Start(Steps(a.Pipeline.Steps))
}
