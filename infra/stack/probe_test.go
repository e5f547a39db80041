package stack

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/cron"
)

// TestProbeFunction: ffprobe runs in one container-image Lambda made from
// the worker image (the same image reference as the Fargate task: by digest
// when make deploy pushed it), with the probe bootstrap as entry point, out
// of the VPC, with a role that writes its own logs and nothing else; only
// the functions that probe (assets on completion, pipeline's Probe step,
// cron's asset-verify) may invoke it, and they are told its ARN.
func TestProbeFunction(t *testing.T) {
	for _, f := range variants {
		t.Run(f.name, func(t *testing.T) {
			fx := f.fix(t)
			s := fx.stack
			lid := func(c constructs.IConstruct) string {
				return *s.Stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
			}
			probeID := lid(s.fns.probe.fn)
			fns := find(fx.tpl, "AWS::Lambda::Function")
			images := 0
			for id, r := range fns {
				if props(r)["PackageType"] == "Image" {
					images++
					if id != probeID {
						t.Errorf("image function %s is not the probe function", id)
					}
				}
			}
			if images != 1 {
				t.Fatalf("%d image functions, want 1 (probe)", images)
			}
			p := props(fns[probeID])
			if got := str(p["ImageConfig"]); got != `{"EntryPoint":["`+ProbeEntrypoint+`"]}` {
				t.Errorf("probe ImageConfig %s", got)
			}
			if p["VpcConfig"] != nil {
				t.Errorf("probe runs in the VPC: %s", str(p["VpcConfig"]))
			}
			if p["Environment"] != nil && strings.Contains(str(p["Environment"]), "SECRET") {
				t.Errorf("probe environment names a secret: %s", str(p["Environment"]))
			}
			// The same image as the worker's container.
			var workerImage any
			for _, td := range find(fx.tpl, "AWS::ECS::TaskDefinition") {
				for _, c := range list(props(td)["ContainerDefinitions"]) {
					if c.(map[string]any)["Name"] == WorkerContainer {
						workerImage = c.(map[string]any)["Image"]
					}
				}
			}
			probeImage := p["Code"].(map[string]any)["ImageUri"]
			if str(probeImage) != str(workerImage) {
				t.Errorf("probe image %s, worker image %s", str(probeImage), str(workerImage))
			}
			if fx.props.WorkerImageDigest != "" && !strings.Contains(str(probeImage), "@"+fx.props.WorkerImageDigest) {
				t.Errorf("probe image %s is not the pushed digest %s", str(probeImage), fx.props.WorkerImageDigest)
			}
			// Its role: its own log group, nothing else.
			n := names(fx)
			got, managed := grants(t, fx, lid(s.fns.probe.role), n)
			want := map[string]bool{"logs:CreateLogStream ${logs-probe.Arn}": true, "logs:PutLogEvents ${logs-probe.Arn}": true}
			if len(managed) > 0 || len(got) != len(want) {
				t.Errorf("probe role holds %v (managed %v), want only %v", got, managed, want)
			}
			for g := range want {
				if !got[g] {
					t.Errorf("probe role lacks %s", g)
				}
			}
			// Who may invoke it, and who is told where it is.
			invokers := map[string]bool{}
			for _, pol := range find(fx.tpl, "AWS::IAM::Policy") {
				for _, st := range list(props(pol)["PolicyDocument"].(map[string]any)["Statement"]) {
					stm := st.(map[string]any)
					if strings.Contains(str(stm["Action"]), "lambda:InvokeFunction") && strings.Contains(str(stm["Resource"]), probeID) {
						for _, r := range list(props(pol)["Roles"]) {
							invokers[refID(r)] = true
						}
					}
				}
			}
			wantInvokers := map[string]bool{}
			for name, acc := range FunctionAccess {
				if contains(acc.Invokes, ProbeFunction) {
					wantInvokers[lid(s.fns.roles[name])] = true
					env := str(props(fns[lid(s.fns.get(name))])["Environment"])
					if !strings.Contains(env, `"`+config.EnvProbeFunction+`":{"Fn::GetAtt":["`+probeID+`","Arn"]}`) {
						t.Errorf("%s is not told the probe function: %s", name, env)
					}
				}
			}
			if str(invokers) != str(wantInvokers) {
				t.Errorf("roles that may invoke the probe %v, want those FunctionAccess lets (%v)", invokers, wantInvokers)
			}
			// The functions that probe (app wiring: proberFromConfig) are
			// exactly those.
			for _, name := range []string{"assets", PipelineFunction, cron.Function} {
				if !wantInvokers[lid(s.fns.roles[name])] {
					t.Errorf("%s probes media but may not invoke the probe function", name)
				}
			}
			if len(wantInvokers) != 3 {
				t.Errorf("%d functions may invoke the probe, want 3 (assets, pipeline, cron's asset-verify)", len(wantInvokers))
			}
		})
	}
}
