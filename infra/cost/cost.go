// Package cost prices a synthesized CloudFormation template for an idle
// month: what the default stack costs when nobody uses it (issue 16). It
// reads the template only (no AWS calls, no jsii) and uses published
// on-demand prices as documented constants (Prices). `make synth` prints
// the report for cdk.out's template (infra/cost/costmodel).
//
// Idle means: no API requests, no uploads, no encodes. What still costs
// money then is what runs or exists by the hour (NAT, instances, a
// database that does not pause, endpoints, public IPv4 addresses) and per
// month (keys, secrets, alarms), plus what the schedule wakes up.
package cost

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/framebroker/framebroker/infra/cfn"
)

// HoursPerMonth is AWS's billing month.
const HoursPerMonth = 730

// Prices are on-demand list prices in USD for us-east-1 (N. Virginia), as
// published on the AWS pricing pages for each service (checked 2026-11);
// other regions are usually within ±20 %. They are constants on purpose:
// the model must give the same figure on every machine and offline.
var Prices = struct {
	AuroraACUHour       float64 // Aurora Serverless v2, Aurora Standard, per ACU-hour
	AuroraStorageGBMo   float64 // Aurora Standard storage, per GB-month
	NATGatewayHour      float64 // per NAT gateway-hour (data processing extra)
	PublicIPv4Hour      float64 // per public IPv4 address-hour (in use or not)
	InterfaceEndpointAZ float64 // per VPC interface endpoint per AZ-hour
	KMSKeyMonth         float64 // per customer managed key-month
	SecretMonth         float64 // per secret-month
	AlarmMetricMonth    float64 // per standard-resolution alarm metric-month
	GP3GBMonth          float64 // EBS gp3 per GB-month
	LambdaArmGBSecond   float64 // Lambda arm64 per GB-second
	LambdaRequest       float64 // Lambda per request
	LogsIngestGB        float64 // CloudWatch Logs ingestion per GB
	ECRStorageGBMonth   float64 // ECR storage per GB-month
	InstanceHour        map[string]float64
}{
	AuroraACUHour:       0.12,
	AuroraStorageGBMo:   0.10,
	NATGatewayHour:      0.045,
	PublicIPv4Hour:      0.005,
	InterfaceEndpointAZ: 0.01,
	KMSKeyMonth:         1.00,
	SecretMonth:         0.40,
	AlarmMetricMonth:    0.10,
	GP3GBMonth:          0.08,
	LambdaArmGBSecond:   0.0000133334,
	LambdaRequest:       0.0000002,
	LogsIngestGB:        0.50,
	ECRStorageGBMonth:   0.10,
	InstanceHour: map[string]float64{
		"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336,
		"t3.nano": 0.0052, "t3.micro": 0.0104, "t3.small": 0.0208,
	},
}

// Assumptions of the idle month, stated in the report.
const (
	// IdleStorageGB is the database's size when idle (schema, a few
	// workspaces): Aurora bills what is used.
	IdleStorageGB = 1.0
	// ActiveACU is the capacity of a woken cluster doing idle work
	// (Serverless v2's floor when not paused).
	ActiveACU = 0.5
	// CronRunMinutes is how long a scheduled run keeps the database busy
	// before the auto-pause countdown starts.
	CronRunMinutes = 1.0
	// CronRunSeconds and CronMemoryGB price one scheduled invocation.
	CronRunSeconds = 1.0
	// FlowLogGB is a month of rejected-traffic flow logs (scans of the
	// public addresses).
	FlowLogGB = 0.1
	// AssetGB is the CDK assets kept in the bootstrap ECR repository (the
	// worker image; Lambda bundles live in S3 at cents).
	AssetGB = 0.4
	// DueOnlyMarker in a rule's Description says its job runs only while
	// it has work (shared/cron Entry.DueOnly): the stack deploys such a
	// rule DISABLED, and the model prices a disabled rule as no run and no
	// wake-up (an enabled rule with the marker is priced as runs that do
	// not wake the database).
	DueOnlyMarker = "[due-only]"
)

// Line is one priced item.
type Line struct {
	Item    string
	Monthly float64
	Note    string
}

// Report is the idle month of one template.
type Report struct {
	Lines []Line
	Total float64
	// AuroraAwake is the fraction of the month the serverless cluster
	// runs (1 without auto-pause); Wakers are the rules that keep it up.
	AuroraAwake float64
	Wakers      []string
	// KeepAwake are the rules among Wakers that run more often than the
	// auto-pause delay: with any of them the cluster never pauses.
	KeepAwake []string
}

// Goal is issue 16's idle-month goal in USD.
const Goal = 15.0

// Estimate prices tpl (a CloudFormation template as decoded JSON).
func Estimate(tpl map[string]any) Report {
	res, _ := tpl["Resources"].(map[string]any)
	byType := map[string][]string{}
	for id, r := range res {
		t, _ := r.(map[string]any)["Type"].(string)
		byType[t] = append(byType[t], id)
	}
	for _, ids := range byType {
		sort.Strings(ids)
	}
	props := func(id string) map[string]any {
		p, _ := res[id].(map[string]any)["Properties"].(map[string]any)
		return p
	}
	var r Report
	add := func(item string, monthly float64, note string) {
		if monthly == 0 && note == "" {
			return
		}
		r.Lines = append(r.Lines, Line{item, monthly, note})
	}
	P := Prices

	if n := len(byType["AWS::EC2::NatGateway"]); n > 0 {
		add(fmt.Sprintf("NAT gateways ×%d", n), float64(n)*P.NATGatewayHour*HoursPerMonth, "by the hour, used or not")
	}
	if n := len(byType["AWS::EC2::EIP"]); n > 0 {
		add(fmt.Sprintf("Elastic IPs ×%d", n), float64(n)*P.PublicIPv4Hour*HoursPerMonth, "public IPv4")
	}
	for _, id := range byType["AWS::EC2::Instance"] {
		p := props(id)
		typ, _ := p["InstanceType"].(string)
		price, known := P.InstanceHour[typ]
		note := "on demand"
		if !known {
			note = "UNKNOWN instance type, priced as t4g.medium"
			price = P.InstanceHour["t4g.medium"]
		}
		add("EC2 "+typ+" ("+id+")", price*HoursPerMonth, note)
		gb := 8.0
		for _, bd := range cfn.List(p["BlockDeviceMappings"]) {
			if ebs, ok := bd.(map[string]any)["Ebs"].(map[string]any); ok {
				if v, ok := ebs["VolumeSize"].(float64); ok {
					gb = v
				}
			}
		}
		add(fmt.Sprintf("  its EBS root volume %.0f GB gp3", gb), gb*P.GP3GBMonth, "")
		if p["SourceDestCheck"] == false || strings.Contains(str(p["NetworkInterfaces"]), `"AssociatePublicIpAddress":true`) {
			add("  its public IPv4 address", P.PublicIPv4Hour*HoursPerMonth, "")
		}
	}
	for _, id := range byType["AWS::EC2::VPCEndpoint"] {
		p := props(id)
		if p["VpcEndpointType"] == "Interface" {
			azs := len(cfn.List(p["SubnetIds"]))
			add("Interface endpoint "+id, float64(azs)*P.InterfaceEndpointAZ*HoursPerMonth, fmt.Sprintf("%d AZs", azs))
		}
	}
	if n := len(byType["AWS::KMS::Key"]); n > 0 {
		add(fmt.Sprintf("KMS keys ×%d", n), float64(n)*P.KMSKeyMonth, "each yearly rotation adds $1/month for two years")
	}
	if n := len(byType["AWS::SecretsManager::Secret"]); n > 0 {
		add(fmt.Sprintf("Secrets ×%d", n), float64(n)*P.SecretMonth, "the operator's own secret (secretsArn) not counted")
	}
	metrics := 0
	for _, id := range byType["AWS::CloudWatch::Alarm"] {
		if ms := cfn.List(props(id)["Metrics"]); len(ms) > 0 {
			for _, m := range ms {
				if _, ok := m.(map[string]any)["MetricStat"]; ok {
					metrics++
				}
			}
		} else {
			metrics++
		}
	}
	if metrics > 0 {
		add(fmt.Sprintf("CloudWatch alarms (%d metrics)", metrics), float64(metrics)*P.AlarmMetricMonth, "")
	}

	// Scheduled rules: Lambda invocations, and which of them wake the
	// database.
	fnDB := map[string]bool{}
	fnMem := map[string]float64{}
	for _, id := range byType["AWS::Lambda::Function"] {
		p := props(id)
		vars, _ := p["Environment"].(map[string]any)
		v, _ := vars["Variables"].(map[string]any)
		_, fnDB[id] = v["FRAMEBROKER_DATABASE_SECRET_ARN"]
		fnMem[id] = 0.128
		if m, ok := p["MemorySize"].(float64); ok {
			fnMem[id] = m / 1024
		}
	}
	var autoPause float64 = -1
	var cluster map[string]any
	for _, id := range byType["AWS::RDS::DBCluster"] {
		cluster = props(id)
	}
	minACU := 0.0
	if cluster != nil {
		sc, _ := cluster["ServerlessV2ScalingConfiguration"].(map[string]any)
		minACU, _ = sc["MinCapacity"].(float64)
		if s, ok := sc["SecondsUntilAutoPause"].(float64); ok && minACU == 0 {
			autoPause = s / 60
		} else if minACU == 0 {
			autoPause = 5 // Aurora's default
		}
	}
	// Aurora pauses only without sessions: a frozen Lambda keeps its pooled
	// connections open unless the server closes idle sessions.
	idleSession := -1.0
	for _, id := range byType["AWS::RDS::DBClusterParameterGroup"] {
		ps, _ := props(id)["Parameters"].(map[string]any)
		if v, ok := ps["idle_session_timeout"]; ok {
			if ms, err := strconv.ParseFloat(fmt.Sprint(v), 64); err == nil && ms > 0 {
				idleSession = ms / 60000
			}
		}
	}
	invocations, gbs := 0.0, 0.0
	awake := 0.0
	var off []string
	for _, id := range byType["AWS::Events::Rule"] {
		p := props(id)
		period, ok := ratePeriod(p["ScheduleExpression"])
		if ok && p["State"] == "DISABLED" {
			// Deployed off: a due-only job's rule runs only while its work
			// exists (then the database is awake for that work anyway).
			desc, _ := p["Description"].(string)
			off = append(off, strings.Fields(strings.TrimPrefix(desc, "Framebroker cron ") + " " + id)[0])
			continue
		}
		if !ok {
			continue
		}
		desc, _ := p["Description"].(string)
		for _, t := range cfn.List(p["Targets"]) {
			fn := cfn.RefID(t.(map[string]any)["Arn"])
			runs := HoursPerMonth * 60 / period
			invocations += runs
			gbs += runs * CronRunSeconds * fnMem[fn]
			if fnDB[fn] && !strings.Contains(desc, DueOnlyMarker) && autoPause >= 0 {
				w := fmt.Sprintf("%s (every %s)", strings.TrimPrefix(desc, "Framebroker cron "), minutes(period))
				r.Wakers = append(r.Wakers, w)
				up := CronRunMinutes + idleSession + autoPause // busy, then sessions close, then the countdown
				if idleSession < 0 || period <= up {
					r.KeepAwake = append(r.KeepAwake, w)
					awake = 1
				} else {
					awake += up / period
				}
			}
		}
	}
	if len(off) > 0 {
		sort.Strings(off)
		add(fmt.Sprintf("Due-only cron rules ×%d (disabled at idle)", len(off)), 0, "on only while work is due: "+strings.Join(off, ", "))
	}
	if invocations > 0 {
		add(fmt.Sprintf("Scheduled Lambda runs (%.0f/month)", invocations), invocations*P.LambdaRequest+gbs*P.LambdaArmGBSecond,
			"no free tier counted")
	}
	if cluster != nil {
		if minACU > 0 {
			awake = 1
			add(fmt.Sprintf("Aurora Serverless v2 at its %.1f ACU minimum", minACU), minACU*P.AuroraACUHour*HoursPerMonth, "never pauses (min > 0)")
		} else {
			if awake > 1 {
				awake = 1
			}
			note := fmt.Sprintf("awake %.1f%% of the month (pauses after %s idle)", awake*100, minutes(autoPause))
			switch {
			case awake == 1 && idleSession < 0:
				note = "NEVER pauses: no idle_session_timeout, so frozen Lambdas' pooled connections stay open"
			case awake == 1:
				note = "NEVER pauses: " + strings.Join(r.KeepAwake, ", ") + " reach the database more often than idle-session close + auto-pause"
			}
			add("Aurora Serverless v2 (min 0 ACU)", awake*ActiveACU*P.AuroraACUHour*HoursPerMonth, note)
		}
		r.AuroraAwake = awake
		add(fmt.Sprintf("Aurora storage (%.0f GB assumed)", IdleStorageGB), IdleStorageGB*P.AuroraStorageGBMo, "")
	}
	if len(byType["AWS::EC2::FlowLog"]) > 0 {
		add("VPC flow logs (rejected traffic)", FlowLogGB*P.LogsIngestGB, fmt.Sprintf("%.1f GB assumed", FlowLogGB))
	}
	if len(byType["AWS::ECS::TaskDefinition"]) > 0 {
		add("Worker image in ECR (CDK assets)", AssetGB*P.ECRStorageGBMonth, fmt.Sprintf("%.1f GB assumed", AssetGB))
	}
	for _, l := range r.Lines {
		r.Total += l.Monthly
	}
	return r
}

// String is the report as a table, ending with the total against Goal.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("Idle month of the stack (cost model, us-east-1 on-demand prices, infra/cost):\n")
	for _, l := range r.Lines {
		fmt.Fprintf(&b, "  %-52s %8.2f USD", l.Item, l.Monthly)
		if l.Note != "" {
			b.WriteString("  " + l.Note)
		}
		b.WriteString("\n")
	}
	met := "yes"
	if r.Total >= Goal {
		met = "no"
	}
	fmt.Fprintf(&b, "  %-52s %8.2f USD  (goal < %.0f USD: met %s)\n", "TOTAL idle month", r.Total, Goal, met)
	b.WriteString("  Not idle costs (per use): API Gateway, Lambda, Step Functions, Fargate, S3 storage and requests, data transfer.\n")
	return b.String()
}

var rateRE = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)

// ratePeriod is a rate() expression's period in minutes.
func ratePeriod(v any) (float64, bool) {
	s, _ := v.(string)
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	switch {
	case strings.HasPrefix(m[2], "minute"):
		return float64(n), true
	case strings.HasPrefix(m[2], "hour"):
		return float64(n) * 60, true
	default:
		return float64(n) * 1440, true
	}
}

func minutes(m float64) string {
	switch {
	case m >= 1440 && int(m)%1440 == 0:
		return fmt.Sprintf("%dd", int(m)/1440)
	case m >= 60 && int(m)%60 == 0:
		return fmt.Sprintf("%dh", int(m)/60)
	default:
		return fmt.Sprintf("%g min", m)
	}
}

func str(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
