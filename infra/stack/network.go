package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/jsii-runtime-go"
)

// network is the VPC and the security groups.
type network struct {
	vpc awsec2.IVpc
	// private are the subnets Lambdas and worker tasks run in (egress
	// through NAT; S3 through the gateway endpoint).
	private *awsec2.SubnetSelection
	// isolated are the database's subnets (no route out at all).
	isolated *awsec2.SubnetSelection
	// lambdaSG is every Lambda's security group.
	lambdaSG awsec2.SecurityGroup
	// workerSG is the Fargate worker's: egress TCP 443 only, no ingress.
	workerSG awsec2.SecurityGroup
}

func newNetwork(st awscdk.Stack, p Props) *network {
	n := &network{}
	if p.VpcID != "" {
		n.vpc = awsec2.Vpc_FromLookup(st, jsii.String("Vpc"), &awsec2.VpcLookupOptions{VpcId: jsii.String(p.VpcID)})
		n.private = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
		n.isolated = n.private
	} else {
		nat := p.NatGateways
		if nat == 0 {
			nat = 1
		}
		vpc := awsec2.NewVpc(st, jsii.String("Vpc"), &awsec2.VpcProps{
			MaxAzs:      jsii.Number(2),
			NatGateways: jsii.Number(float64(nat)),
			SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
				{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
				{Name: jsii.String("private"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
				{Name: jsii.String("data"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
			},
			FlowLogs: &map[string]*awsec2.FlowLogOptions{
				"rejected": {TrafficType: awsec2.FlowLogTrafficType_REJECT},
			},
		})
		n.vpc = vpc
		n.private = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
		n.isolated = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	}
	// S3 traffic of the private subnets never leaves AWS's network, NAT or
	// not.
	n.vpc.AddGatewayEndpoint(jsii.String("S3"), &awsec2.GatewayVpcEndpointOptions{
		Service: awsec2.GatewayVpcEndpointAwsService_S3(),
		Subnets: &[]*awsec2.SubnetSelection{n.private},
	})
	n.lambdaSG = awsec2.NewSecurityGroup(st, jsii.String("LambdaSG"), &awsec2.SecurityGroupProps{
		Vpc:         n.vpc,
		Description: jsii.String("Framebroker Lambdas: outbound to the database, AWS APIs and webhook receivers"),
	})
	n.workerSG = awsec2.NewSecurityGroup(st, jsii.String("WorkerSG"), &awsec2.SecurityGroupProps{
		Vpc:              n.vpc,
		Description:      jsii.String("Framebroker encode worker: HTTPS out only (presigned S3 URLs, image pull)"),
		AllowAllOutbound: jsii.Bool(false),
	})
	n.workerSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS only"), jsii.Bool(false))
	return n
}
