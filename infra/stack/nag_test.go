package stack

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

// nagFindings are the errors and warnings cdk-nag's packs left on the
// stack's constructs (suppressed findings leave none).
func nagFindings(st awscdk.Stack) []string {
	an := assertions.Annotations_FromStack(st)
	any := assertions.Match_StringLikeRegexp(jsii.String("(AwsSolutions|Serverless)-.*"))
	var out []string
	for _, ms := range []*[]*cxapi.SynthesisMessage{an.FindError(jsii.String("*"), any), an.FindWarning(jsii.String("*"), any)} {
		for _, m := range *ms {
			out = append(out, fmt.Sprintf("%v: %s", m.Entry.Data, *m.Id))
		}
	}
	sort.Strings(out)
	return out
}

// TestNoUnsuppressedNagFindings: cdk-nag's AwsSolutions and Serverless packs
// find nothing on the default and the bring-your-own stacks that is not
// suppressed with a reason in code.
func TestNoUnsuppressedNagFindings(t *testing.T) {
	for _, f := range variants {
		fx := f.fix(t)
		for _, n := range fx.nag {
			t.Errorf("%s: %s", f.name, n)
		}
	}
}
