package stack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/infra/cost"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
)

// TestIdleCost prices the default stack as deployed with the cost model
// (issue 16): no NAT gateway (a NAT instance), Aurora allowed to pause, the
// frequent crons due-only (their rules DISABLED until work is due), and
// the idle month under the goal. Only the daily jobs wake the database,
// and none often enough to keep it awake.
func TestIdleCost(t *testing.T) {
	fx := defaultStack(t)
	r := cost.Estimate(fx.json)
	t.Log("\n" + r.String())
	if n := len(find(fx.tpl, "AWS::EC2::NatGateway")); n != 0 {
		t.Errorf("%d NAT gateways in the default stack", n)
	}
	if !strings.Contains(r.String(), "EC2 "+NatInstanceType) {
		t.Errorf("no NAT instance priced:\n%s", r)
	}
	if len(r.KeepAwake) != 0 {
		t.Errorf("Aurora kept awake by %v", r.KeepAwake)
	}
	var want []string
	for _, e := range cron.Schedule {
		if e.DueOnly {
			if e.Rate.Minutes() > AutoPauseMinutes+IdleSessionSeconds/60+cost.CronRunMinutes {
				t.Errorf("%s is due-only but rare enough to let Aurora pause anyway", e.Name)
			}
			continue
		}
		want = append(want, fmt.Sprintf("%s (every %s)", e.Name, map[bool]string{true: "1d"}[e.Rate == 24*time.Hour]))
	}
	if strings.Join(sorted(append([]string{}, r.Wakers...)), ",") != strings.Join(sorted(want), ",") {
		t.Errorf("database woken by %v, want only the daily jobs %v", r.Wakers, sorted(want))
	}
	if !strings.Contains(r.String(), fmt.Sprintf("Due-only cron rules ×%d (disabled at idle)", len(cron.DueOnlyJobs(cron.Schedule)))) {
		t.Errorf("the disabled due-only rules are not reported:\n%s", r)
	}
	if r.Total >= cost.Goal {
		t.Errorf("the idle month as deployed is %.2f USD, not under %.0f\n%s", r.Total, cost.Goal, r)
	}
	// The same template with the due-only rules enabled (what the stack
	// deployed before): the frequent jobs keep Aurora awake and the goal
	// is missed, so the rules' state is what meets it.
	b, _ := json.Marshal(fx.json)
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	for _, res := range tpl["Resources"].(map[string]any) {
		p := props(res.(map[string]any))
		if p["State"] == "DISABLED" {
			p["State"] = "ENABLED"
			p["Description"] = strings.TrimSuffix(p["Description"].(string), " "+cost.DueOnlyMarker)
		}
	}
	on := cost.Estimate(tpl)
	t.Logf("with the due-only rules enabled: %.2f USD (kept awake by %v)", on.Total, on.KeepAwake)
	if len(on.KeepAwake) != len(cron.DueOnlyJobs(cron.Schedule)) || on.Total < cost.Goal {
		t.Errorf("enabled due-only rules: %.2f USD, kept awake by %v", on.Total, on.KeepAwake)
	}
}

func sorted(s []string) []string { sort.Strings(s); return s }

// TestDatabaseCanPause: the default cluster may pause (0 ACU, auto-pause
// after AutoPauseMinutes), closes idle sessions so a frozen Lambda's pooled
// connection cannot hold it awake, and every function waits long enough
// at cold start for it to resume, within its own timeout. A
// bring-your-own database keeps the runtime's default wait.
func TestDatabaseCanPause(t *testing.T) {
	if EnvDatabaseWait != coldstart.EnvDatabaseWait {
		t.Fatalf("the stack sets %s, the runtime reads %s", EnvDatabaseWait, coldstart.EnvDatabaseWait)
	}
	wait, err := time.ParseDuration(ResumeWait)
	if err != nil {
		t.Fatal(err)
	}
	fx := defaultStack(t)
	_, c := only(t, fx, "AWS::RDS::DBCluster")
	if got := str(props(c)["ServerlessV2ScalingConfiguration"]); got != fmt.Sprintf(`{"MaxCapacity":%d,"MinCapacity":0,"SecondsUntilAutoPause":%d}`, MaxACU, AutoPauseMinutes*60) {
		t.Errorf("scaling %s", got)
	}
	_, pg := only(t, fx, "AWS::RDS::DBClusterParameterGroup")
	if got := str(props(pg)["Parameters"].(map[string]any)["idle_session_timeout"]); got != fmt.Sprintf(`"%d"`, IdleSessionSeconds*1000) {
		t.Errorf("idle_session_timeout %s", got)
	}
	for _, f := range variants {
		fx := f.fix(t)
		for id, fn := range find(fx.tpl, "AWS::Lambda::Function") {
			p := props(fn)
			if p["VpcConfig"] == nil {
				continue // keyring-init: no database
			}
			v, set := p["Environment"].(map[string]any)["Variables"].(map[string]any)[EnvDatabaseWait]
			if pausable := fx.props.DatabaseSecretArn == ""; set != pausable || (set && v != ResumeWait) {
				t.Errorf("%s %s: %s = %v (set %v)", f.name, id, EnvDatabaseWait, v, set)
			}
			if timeout, _ := p["Timeout"].(float64); set && time.Duration(timeout)*time.Second <= wait {
				t.Errorf("%s %s: timeout %vs not above the %s wait", f.name, id, timeout, ResumeWait)
			}
		}
	}
}
