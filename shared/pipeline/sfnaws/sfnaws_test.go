package sfnaws

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/framebroker/framebroker/shared/id"
)

type recorder struct {
	start  *sfn.StartExecutionInput
	stop   *sfn.StopExecutionInput
	exists bool
}

func (r *recorder) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	r.start = in
	if r.exists {
		return nil, &types.ExecutionAlreadyExists{Message: aws.String("exists")}
	}
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:1:execution:sm:" + *in.Name)}, nil
}

func (r *recorder) StopExecution(_ context.Context, in *sfn.StopExecutionInput, _ ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	r.stop = in
	return &sfn.StopExecutionOutput{}, nil
}

// TestStartInputMatchesStateMachine checks the request shape only: the
// execution input is what the state machine's Start state reads
// ($.workspace, $.job) and the name is the job id. Calling real Step
// Functions is not possible offline; the same input runs through the
// synthesized definition locally in shared/pipeline's tests.
func TestStartInputMatchesStateMachine(t *testing.T) {
	r := &recorder{}
	b := &Backend{Client: r, StateMachineARN: "arn:aws:states:us-east-1:1:stateMachine:sm"}
	ws, j := id.New[id.WorkspaceID](), id.New[id.JobID]()
	exe, err := b.Start(context.Background(), ws, j)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]string
	if err := json.Unmarshal([]byte(*r.start.Input), &in); err != nil || in["workspace"] != ws.String() || in["job"] != j.String() || len(in) != 2 {
		t.Fatalf("input %s", *r.start.Input)
	}
	if *r.start.Name != j.String() || *r.start.StateMachineArn != b.StateMachineARN {
		t.Fatalf("start %+v", r.start)
	}
	if err := b.Cancel(context.Background(), exe); err != nil || *r.stop.ExecutionArn != exe {
		t.Fatalf("stop %+v %v", r.stop, err)
	}
}

// TestStartTwiceIsTheSameExecution: a second start of the same job (the API
// died before recording the first) answers the existing execution.
func TestStartTwiceIsTheSameExecution(t *testing.T) {
	r := &recorder{exists: true}
	b := &Backend{Client: r, StateMachineARN: "arn:aws:states:us-east-1:1:stateMachine:sm"}
	j := id.New[id.JobID]()
	exe, err := b.Start(context.Background(), id.New[id.WorkspaceID](), j)
	if err != nil || exe != "arn:aws:states:us-east-1:1:execution:sm:"+j.String() {
		t.Fatalf("%q %v", exe, err)
	}
}
