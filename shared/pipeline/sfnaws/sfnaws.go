// Package sfnaws is the AWS encode provider: it starts and stops executions
// of the deployed encode-job state machine (Step Functions, Fargate worker)
// through an interface over the SDK client, so the domain never holds AWS
// credentials itself.
package sfnaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/framebroker/framebroker/shared/id"
)

// API is the part of the Step Functions client the backend uses.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, opts ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
}

// Backend is a pipeline.Backend on AWS Step Functions.
type Backend struct {
	Client          API
	StateMachineARN string
}

// Name implements pipeline.Backend.
func (b *Backend) Name() string { return "stepfunctions" }

// Start implements pipeline.Backend. The execution name is the job id, so a
// retried start of the same job cannot run it twice (Step Functions refuses
// a second execution of one name with different input, and returns the
// first for the same input).
func (b *Backend) Start(ctx context.Context, ws id.WorkspaceID, j id.JobID) (string, error) {
	input, _ := json.Marshal(map[string]string{"workspace": ws.String(), "job": j.String()})
	out, err := b.Client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(b.StateMachineARN),
		Name:            aws.String(j.String()),
		Input:           aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		// Started before, and the id was not recorded (the API died in
		// between): the job is running; hand back its execution.
		return ExecutionARN(b.StateMachineARN, j.String()), nil
	}
	if err != nil {
		return "", fmt.Errorf("sfnaws: start: %w", err)
	}
	return aws.ToString(out.ExecutionArn), nil
}

// ExecutionARN is the ARN of the execution named name of a state machine:
// arn:…:stateMachine:NAME becomes arn:…:execution:NAME:name.
func ExecutionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Cancel implements pipeline.Backend. Stopping a RUN_JOB execution makes
// Step Functions stop its ECS task too.
func (b *Backend) Cancel(ctx context.Context, executionArn string) error {
	_, err := b.Client.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(executionArn),
		Error:        aws.String("Job.Canceled"),
		Cause:        aws.String("canceled through the API"),
	})
	if err != nil {
		return fmt.Errorf("sfnaws: stop: %w", err)
	}
	return nil
}
