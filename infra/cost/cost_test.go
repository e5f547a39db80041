package cost

import (
	"math"
	"strings"
	"testing"
)

func rule(expr, target, desc string) map[string]any {
	return map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
		"ScheduleExpression": expr, "Description": desc,
		"Targets": []any{map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{target, "Arn"}}}},
	}}
}

func disabled(r map[string]any) map[string]any {
	r["Properties"].(map[string]any)["State"] = "DISABLED"
	return r
}

// TestDisabledRulesReported: a rule deployed off is listed as such, at no
// cost.
func TestDisabledRulesReported(t *testing.T) {
	r := Estimate(map[string]any{"Resources": map[string]any{"F": fn(true),
		"R": disabled(rule("rate(1 minute)", "F", "Framebroker cron mail-outbox "+DueOnlyMarker))}})
	if s := r.String(); !strings.Contains(s, "Due-only cron rules ×1 (disabled at idle)") || !strings.Contains(s, "mail-outbox") || strings.Contains(s, "Scheduled Lambda runs") {
		t.Fatal(s)
	}
}

func fn(db bool) map[string]any {
	vars := map[string]any{}
	if db {
		vars["FRAMEBROKER_DATABASE_SECRET_ARN"] = map[string]any{"Ref": "S"}
	}
	return map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{
		"MemorySize": 512.0, "Environment": map[string]any{"Variables": vars}}}
}

func cluster(min float64, pause float64) map[string]any {
	sc := map[string]any{"MinCapacity": min, "MaxCapacity": 8.0}
	if pause > 0 {
		sc["SecondsUntilAutoPause"] = pause
	}
	return map[string]any{"Type": "AWS::RDS::DBCluster", "Properties": map[string]any{"ServerlessV2ScalingConfiguration": sc}}
}

// params closes idle sessions after 5 minutes.
var params = map[string]any{"Type": "AWS::RDS::DBClusterParameterGroup", "Properties": map[string]any{
	"Parameters": map[string]any{"idle_session_timeout": "300000"}}}

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }

// TestEstimate prices small templates whose idle month is known by hand.
func TestEstimate(t *testing.T) {
	hourly := func(p float64) float64 { return p * HoursPerMonth }
	for _, tc := range []struct {
		name      string
		resources map[string]any
		total     float64
		awake     float64
	}{
		{"empty", map[string]any{}, 0, 0},
		{"NAT gateway and its address", map[string]any{
			"N": map[string]any{"Type": "AWS::EC2::NatGateway"}, "E": map[string]any{"Type": "AWS::EC2::EIP"},
		}, hourly(Prices.NATGatewayHour) + hourly(Prices.PublicIPv4Hour), 0},
		{"NAT instance", map[string]any{"I": map[string]any{"Type": "AWS::EC2::Instance", "Properties": map[string]any{
			"InstanceType": "t4g.nano", "SourceDestCheck": false,
			"BlockDeviceMappings": []any{map[string]any{"Ebs": map[string]any{"VolumeSize": 8.0}}},
		}}}, hourly(0.0042) + 8*Prices.GP3GBMonth + hourly(Prices.PublicIPv4Hour), 0},
		{"keys, secrets, alarms", map[string]any{
			"K": map[string]any{"Type": "AWS::KMS::Key"}, "S1": map[string]any{"Type": "AWS::SecretsManager::Secret"},
			"S2": map[string]any{"Type": "AWS::SecretsManager::Secret"}, "A": map[string]any{"Type": "AWS::CloudWatch::Alarm"},
		}, 1 + 0.8 + 0.1, 0},
		{"provisioned minimum never pauses", map[string]any{"C": cluster(0.5, 0)},
			0.5*hourly(Prices.AuroraACUHour) + IdleStorageGB*Prices.AuroraStorageGBMo, 1},
		{"min 0, a minute cron on the database: never pauses", map[string]any{"C": cluster(0, 600), "P": params, "F": fn(true),
			"R": rule("rate(1 minute)", "F", "Framebroker cron webhook-retries")},
			ActiveACU*hourly(Prices.AuroraACUHour) + IdleStorageGB*Prices.AuroraStorageGBMo +
				43800*(Prices.LambdaRequest+0.5*Prices.LambdaArmGBSecond), 1},
		{"min 0, a daily cron: awake 16 min a day (run, idle session closed, pause delay)", map[string]any{"C": cluster(0, 600), "P": params, "F": fn(true),
			"R": rule("rate(1 day)", "F", "Framebroker cron retention")},
			16.0/1440*ActiveACU*hourly(Prices.AuroraACUHour) + IdleStorageGB*Prices.AuroraStorageGBMo +
				30.41*(Prices.LambdaRequest+0.5*Prices.LambdaArmGBSecond), 16.0 / 1440},
		{"min 0 without idle_session_timeout: frozen Lambdas hold it awake", map[string]any{"C": cluster(0, 600), "F": fn(true),
			"R": rule("rate(1 day)", "F", "Framebroker cron retention")},
			ActiveACU*hourly(Prices.AuroraACUHour) + IdleStorageGB*Prices.AuroraStorageGBMo +
				30.41*(Prices.LambdaRequest+0.5*Prices.LambdaArmGBSecond), 1},
		{"min 0, a minute cron that is due-only or off the database", map[string]any{"C": cluster(0, 600), "P": params, "F": fn(true), "G": fn(false),
			"R": rule("rate(1 minute)", "F", "Framebroker cron webhook-retries "+DueOnlyMarker),
			"Q": rule("rate(1 minute)", "G", "other")},
			IdleStorageGB*Prices.AuroraStorageGBMo + 2*43800*(Prices.LambdaRequest+0.5*Prices.LambdaArmGBSecond), 0},
		{"min 0, a minute cron deployed disabled (due-only): no run, no wake-up", map[string]any{"C": cluster(0, 600), "P": params, "F": fn(true),
			"R": disabled(rule("rate(1 minute)", "F", "Framebroker cron webhook-retries "+DueOnlyMarker))},
			IdleStorageGB * Prices.AuroraStorageGBMo, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Estimate(map[string]any{"Resources": tc.resources})
			if !near(r.Total, tc.total) || !near(r.AuroraAwake, tc.awake) {
				t.Fatalf("total %.4f awake %.4f, want %.4f and %.4f\n%s", r.Total, r.AuroraAwake, tc.total, tc.awake, r)
			}
			if !strings.Contains(r.String(), "TOTAL idle month") {
				t.Fatal(r.String())
			}
		})
	}
}
