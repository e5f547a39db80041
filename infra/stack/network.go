package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
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
	// workerSG is the Fargate worker's: egress TCP 443 only, no ingress;
	// with IsolatedWorker only to S3 (the gateway endpoint's prefix list)
	// and the interface endpoints.
	workerSG awsec2.SecurityGroup
	// endpointSG is the interface endpoints' (IsolatedWorker): HTTPS in
	// from the worker only.
	endpointSG awsec2.SecurityGroup
	// natInstance is the NAT instance provider (nil with NAT gateways or
	// an existing VPC).
	natInstance awsec2.NatInstanceProviderV2
	// s3Endpoint is the S3 gateway endpoint the stack created (nil with
	// s3GatewayEndpoint=existing).
	s3Endpoint awsec2.GatewayVpcEndpoint
}

// NatInstanceType is the default NAT instance's type: the smallest Graviton
// instance; its burstable network (up to 5 Gbit/s) carries API calls and
// webhooks, while media goes to S3 through the gateway endpoint.
const NatInstanceType = "t4g.nano"

// NatVolumeGiB is the NAT instance's root volume (the Amazon Linux 2023
// AMI's size).
const NatVolumeGiB = 8

func newNetwork(st awscdk.Stack, p Props) *network {
	n := &network{}
	if p.VpcID != "" {
		n.vpc = awsec2.Vpc_FromLookup(st, jsii.String("Vpc"), &awsec2.VpcLookupOptions{VpcId: jsii.String(p.VpcID)})
		n.private = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
		n.isolated = n.private
	} else {
		// Egress of the private subnets (Secrets Manager, Step Functions,
		// ECR, Stripe, webhook receivers, SMTP): NAT gateways when asked
		// for, else one NAT instance (README "Idle cost": a NAT gateway is
		// most of an idle month's bill). S3 bypasses both (gateway
		// endpoint below).
		var provider awsec2.NatProvider
		nat := p.NatGateways
		if nat == 0 {
			n.natInstance = awsec2.NatProvider_InstanceV2(&awsec2.NatInstanceProps{
				InstanceType: awsec2.NewInstanceType(jsii.String(NatInstanceType)),
				MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
					CpuType: awsec2.AmazonLinuxCpuType_ARM_64,
				}),
				DefaultAllowedTraffic:    awsec2.NatTrafficDirection_OUTBOUND_ONLY,
				AssociatePublicIpAddress: jsii.Bool(true),
			})
			provider = n.natInstance
			nat = 1
		} else {
			provider = awsec2.NatProvider_Gateway(nil)
		}
		vpc := awsec2.NewVpc(st, jsii.String("Vpc"), &awsec2.VpcProps{
			MaxAzs:             jsii.Number(2),
			NatGateways:        jsii.Number(float64(nat)),
			NatGatewayProvider: provider,
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
		if n.natInstance != nil {
			for _, inst := range *n.natInstance.GatewayInstances() {
				// Root volume encrypted (the AMI's size, gp3).
				inst.Instance().SetBlockDeviceMappings([]any{&awsec2.CfnInstance_BlockDeviceMappingProperty{
					DeviceName: jsii.String("/dev/xvda"),
					Ebs: &awsec2.CfnInstance_EbsProperty{Encrypted: jsii.Bool(true), VolumeType: jsii.String("gp3"),
						VolumeSize: jsii.Number(NatVolumeGiB), DeleteOnTermination: jsii.Bool(true)},
				}})
			}
		}
		n.private = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
		n.isolated = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	}
	// S3 traffic of the private subnets never leaves AWS's network, NAT or
	// not (and does not load the NAT instance). An existing VPC may have
	// one already (S3GatewayEndpoint).
	if p.VpcID == "" || p.S3GatewayEndpoint == S3EndpointCreate {
		n.s3Endpoint = n.vpc.AddGatewayEndpoint(jsii.String("S3"), &awsec2.GatewayVpcEndpointOptions{
			Service: awsec2.GatewayVpcEndpointAwsService_S3(),
			Subnets: &[]*awsec2.SubnetSelection{n.private},
		})
	}
	n.lambdaSG = awsec2.NewSecurityGroup(st, jsii.String("LambdaSG"), &awsec2.SecurityGroupProps{
		Vpc:         n.vpc,
		Description: jsii.String("Framebroker Lambdas: outbound to the database, AWS APIs and webhook receivers"),
	})
	n.workerSG = awsec2.NewSecurityGroup(st, jsii.String("WorkerSG"), &awsec2.SecurityGroupProps{
		Vpc:              n.vpc,
		Description:      jsii.String("Framebroker encode worker: HTTPS out only (presigned S3 URLs, image pull)"),
		AllowAllOutbound: jsii.Bool(false),
	})
	if p.IsolatedWorker {
		n.isolateWorker(st)
	} else {
		// The task's image pull (ECR) and log driver (CloudWatch Logs) go
		// through the NAT to public AWS addresses, which no prefix list
		// names: HTTPS to anywhere (README "Worker egress").
		n.workerSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS only"), jsii.Bool(false))
	}
	return n
}

// limitS3Endpoint (IsolatedWorker) lets the private subnets' S3 gateway
// endpoint reach only the media bucket and ECR's layer bucket (image
// layers come from it), so the worker's S3 egress cannot carry media to
// another bucket of the region either. Nothing else in the private subnets
// uses S3 (the Lambdas touch the media bucket only).
func (n *network) limitS3Endpoint(st awscdk.Stack, media awss3.IBucket) {
	anyone := []awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
	n.s3Endpoint.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("MediaBucket"),
		Principals: &anyone,
		Actions:    jsii.Strings("s3:*"),
		Resources:  &[]*string{media.BucketArn(), media.ArnForObjects(jsii.String("*"))},
	}))
	n.s3Endpoint.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("EcrImageLayers"),
		Principals: &anyone,
		Actions:    jsii.Strings("s3:GetObject"),
		Resources:  &[]*string{jsii.String("arn:" + *st.Partition() + ":s3:::prod-" + *st.Region() + "-starport-layer-bucket/*")},
	}))
}

// WorkerEndpoints are the interface endpoints IsolatedWorker adds: what a
// Fargate task needs besides S3 (image pull: ECR API and registry, whose
// layers come from S3; the awslogs driver: CloudWatch Logs).
var WorkerEndpoints = []string{"ecr.api", "ecr.dkr", "logs"}

// isolateWorker limits the worker's egress to what it needs: HTTPS to S3
// through the gateway endpoint (its AWS-managed prefix list, looked up at
// synth) and to interface endpoints for ECR and CloudWatch Logs with
// private DNS, in every private subnet. The task then has no route to
// anything else even if ffmpeg is subverted by hostile media: no
// exfiltration to an outside host, no command channel.
func (n *network) isolateWorker(st awscdk.Stack) {
	n.endpointSG = awsec2.NewSecurityGroup(st, jsii.String("EndpointSG"), &awsec2.SecurityGroupProps{
		Vpc:              n.vpc,
		Description:      jsii.String("Framebroker worker's interface endpoints (ECR, CloudWatch Logs): HTTPS from the worker only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	services := map[string]awsec2.IInterfaceVpcEndpointService{
		"ecr.api": awsec2.InterfaceVpcEndpointAwsService_ECR(),
		"ecr.dkr": awsec2.InterfaceVpcEndpointAwsService_ECR_DOCKER(),
		"logs":    awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_LOGS(),
	}
	for _, name := range WorkerEndpoints {
		n.vpc.AddInterfaceEndpoint(jsii.String("Endpoint-"+name), &awsec2.InterfaceVpcEndpointOptions{
			Service:           services[name],
			Subnets:           n.private,
			SecurityGroups:    &[]awsec2.ISecurityGroup{n.endpointSG},
			PrivateDnsEnabled: jsii.Bool(true),
			Open:              jsii.Bool(false), // not the whole VPC: the worker only
		})
	}
	n.endpointSG.AddIngressRule(n.workerSG, awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the worker"), jsii.Bool(false))
	n.workerSG.AddEgressRule(n.endpointSG, awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to ECR and Logs endpoints"), jsii.Bool(false))
	s3 := awsec2.PrefixList_FromLookup(st, jsii.String("S3PrefixList"), &awsec2.PrefixListLookupOptions{
		PrefixListName: jsii.String("com.amazonaws." + *st.Region() + ".s3"),
	})
	n.workerSG.AddEgressRule(awsec2.Peer_PrefixList(s3.PrefixListId()), awsec2.Port_Tcp(jsii.Number(443)),
		jsii.String("HTTPS to S3 (gateway endpoint)"), jsii.Bool(false))
}
