package stack

import (
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/framebroker/framebroker/infra/cost"
	"github.com/framebroker/framebroker/shared/cron"
)

// isolatedStack is the default stack with isolatedWorker, in a concrete
// account and region (the S3 prefix list lookup needs them; offline it
// yields CDK's dummy list id).
func isolatedStack(t *testing.T) *fixture {
	return synth(t, "isolated", func(p *Props) {
		p.IsolatedWorker = true
		p.StackProps = awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")}}
	})
}

// sgRules are a security group's rules in one direction, inline and as
// separate resources, rendered as "proto ports → peer".
func sgRules(fx *fixture, sgID, dir string) []string {
	inline, typ, peerKeys := "SecurityGroupEgress", "AWS::EC2::SecurityGroupEgress", []string{"CidrIp", "DestinationPrefixListId", "DestinationSecurityGroupId"}
	if dir == "in" {
		inline, typ, peerKeys = "SecurityGroupIngress", "AWS::EC2::SecurityGroupIngress", []string{"CidrIp", "SourcePrefixListId", "SourceSecurityGroupId"}
	}
	render := func(r map[string]any) string {
		peer := ""
		for _, k := range peerKeys {
			if v, ok := r[k]; ok {
				if id := refID(v); id != "" {
					peer = k + "=" + id
				} else {
					peer = k + "=" + strings.Trim(str(v), `"`)
				}
			}
		}
		return strings.Trim(str(r["IpProtocol"]), `"`) + " " + str(r["FromPort"]) + "-" + str(r["ToPort"]) + " → " + peer
	}
	var out []string
	for _, r := range list(props(find(fx.tpl, "AWS::EC2::SecurityGroup")[sgID])[inline]) {
		out = append(out, render(r.(map[string]any)))
	}
	for _, r := range find(fx.tpl, typ) {
		if refID(props(r)["GroupId"]) == sgID {
			out = append(out, render(props(r)))
		}
	}
	sort.Strings(out)
	return out
}

// TestWorkerEgress: the worker's security group in both settings. Default:
// TCP 443 to anywhere (ECR and CloudWatch Logs through the NAT), no
// interface endpoints. isolatedWorker: TCP 443 to S3's prefix list and to
// the endpoints' security group only; three interface endpoints (ECR API,
// ECR registry, Logs) with private DNS in the private subnets, reachable
// from the worker alone; the S3 gateway endpoint limited to the media
// bucket and ECR's layer bucket; cdk-nag clean; their price is what the
// cost model adds.
func TestWorkerEgress(t *testing.T) {
	def := defaultStack(t)
	worker := workerSecurityGroups(def.tpl)[0]
	if got := strings.Join(sgRules(def, worker, "out"), "; "); got != "tcp 443-443 → CidrIp=0.0.0.0/0" {
		t.Errorf("default worker egress %s", got)
	}
	for id, e := range find(def.tpl, "AWS::EC2::VPCEndpoint") {
		if props(e)["VpcEndpointType"] == "Interface" {
			t.Errorf("default stack has interface endpoint %s", id)
		}
	}

	iso := isolatedStack(t)
	if len(iso.nag) > 0 {
		t.Errorf("cdk-nag findings on the isolated stack:\n%s", strings.Join(iso.nag, "\n"))
	}
	sgs := workerSecurityGroups(iso.tpl)
	if len(sgs) != 1 {
		t.Fatalf("worker security groups %v", sgs)
	}
	worker = sgs[0]
	endpointSG := *iso.stack.Stack.GetLogicalId(iso.stack.net.endpointSG.Node().DefaultChild().(awscdk.CfnElement))
	out := sgRules(iso, worker, "out")
	if len(out) != 2 || out[0] != "tcp 443-443 → DestinationPrefixListId=pl-xxxxxxxx" || out[1] != "tcp 443-443 → DestinationSecurityGroupId="+endpointSG {
		t.Errorf("isolated worker egress %v, want HTTPS to the S3 prefix list and the endpoints only", out)
	}
	if in := sgRules(iso, worker, "in"); len(in) != 0 {
		t.Errorf("worker ingress %v", in)
	}
	if in := sgRules(iso, endpointSG, "in"); strings.Join(in, ";") != "tcp 443-443 → SourceSecurityGroupId="+worker {
		t.Errorf("endpoint ingress %v, want HTTPS from the worker only", in)
	}
	for _, r := range sgRules(iso, endpointSG, "out") {
		if !strings.Contains(r, "255.255.255.255/32") { // CDK's "no egress" placeholder
			t.Errorf("endpoint egress %s", r)
		}
	}
	private := map[string]bool{}
	for _, fn := range find(iso.tpl, "AWS::Lambda::Function") {
		if vc, ok := props(fn)["VpcConfig"].(map[string]any); ok {
			for _, s := range list(vc["SubnetIds"]) {
				private[refID(s)] = true
			}
		}
	}
	var services []string
	for id, e := range find(iso.tpl, "AWS::EC2::VPCEndpoint") {
		p := props(e)
		if p["VpcEndpointType"] != "Interface" {
			continue
		}
		services = append(services, strings.TrimPrefix(strings.Trim(str(p["ServiceName"]), `"`), "com.amazonaws.eu-west-1."))
		if p["PrivateDnsEnabled"] != true || str(p["SecurityGroupIds"]) != `[{"Fn::GetAtt":["`+endpointSG+`","GroupId"]}]` {
			t.Errorf("endpoint %s: private DNS %v, groups %s", id, p["PrivateDnsEnabled"], str(p["SecurityGroupIds"]))
		}
		subnets := list(p["SubnetIds"])
		if len(subnets) != 2 {
			t.Errorf("endpoint %s in %d subnets, want the 2 private ones", id, len(subnets))
		}
		for _, s := range subnets {
			if !private[refID(s)] {
				t.Errorf("endpoint %s in subnet %s, not a private one", id, str(s))
			}
		}
	}
	sort.Strings(services)
	if strings.Join(services, ",") != strings.Join(WorkerEndpoints, ",") {
		t.Errorf("interface endpoints for %v, want %v", services, WorkerEndpoints)
	}
	// The S3 gateway endpoint reaches the media bucket and ECR's layers only
	// (isolated); the default stack leaves it open.
	n := names(iso)
	for id, e := range find(iso.tpl, "AWS::EC2::VPCEndpoint") {
		if props(e)["VpcEndpointType"] == "Interface" {
			continue
		}
		var res []string
		for _, st := range list(props(e)["PolicyDocument"].(map[string]any)["Statement"]) {
			stm := st.(map[string]any)
			if stm["Effect"] != "Allow" || str(stm["Principal"]) != `{"AWS":"*"}` {
				t.Errorf("gateway endpoint %s statement %s", id, str(stm))
			}
			for _, r := range list(stm["Resource"]) {
				res = append(res, render(r, n))
			}
		}
		sort.Strings(res)
		want := "${media.Arn},${media.Arn}/*,arn:${AWS::Partition}:s3:::prod-eu-west-1-starport-layer-bucket/*"
		if strings.Join(res, ",") != want {
			t.Errorf("gateway endpoint %s reaches %v, want %s", id, res, want)
		}
	}
	for id, e := range find(def.tpl, "AWS::EC2::VPCEndpoint") {
		if props(e)["PolicyDocument"] != nil {
			t.Errorf("default gateway endpoint %s has a policy %s", id, str(props(e)["PolicyDocument"]))
		}
	}
	// What isolation costs at idle, from the cost model.
	delta := cost.Estimate(iso.json).Total - cost.Estimate(def.json).Total
	want := float64(len(WorkerEndpoints)) * 2 * cost.Prices.InterfaceEndpointAZ * cost.HoursPerMonth
	t.Logf("isolatedWorker adds %.2f USD to the idle month (%d endpoints × 2 AZs)", delta, len(WorkerEndpoints))
	if delta < want-0.01 || delta > want+0.01 {
		t.Errorf("isolatedWorker adds %.2f USD, want the endpoints' %.2f", delta, want)
	}
}

// TestIsolatedWorkerRefusedAtSynth: isolatedWorker without a concrete
// environment (the prefix list lookup) or with an existing VPC (its
// endpoints could collide) is refused with what is missing.
func TestIsolatedWorkerRefusedAtSynth(t *testing.T) {
	_, fns := tableAndFunctions(t)
	env := &awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")}
	for _, c := range []struct {
		name string
		p    Props
		want string
	}{
		{"no environment", Props{Functions: fns, Schedule: cron.Schedule, IsolatedWorker: true}, "needs the stack's account and region"},
		{"region only", Props{Functions: fns, Schedule: cron.Schedule, IsolatedWorker: true, StackProps: awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("eu-west-1")}}}, "needs the stack's account and region"},
		{"existing VPC", Props{Functions: fns, Schedule: cron.Schedule, IsolatedWorker: true, VpcID: "vpc-1", S3GatewayEndpoint: S3EndpointExisting, StackProps: awscdk.StackProps{Env: env}}, "with vpcId"},
		{"accepted", Props{Functions: fns, Schedule: cron.Schedule, IsolatedWorker: true, StackProps: awscdk.StackProps{Env: env}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
