package stack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/infra/cost"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
)

// TestIdleCost prices the default stack with the cost model (issue 16):
// no NAT gateway (a NAT instance), Aurora allowed to pause, and everything
// but the database's compute under the goal. Which scheduled jobs keep
// Aurora awake is reported: exactly the cron entries that reach the
// database more often than the auto-pause delay.
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
	aurora := 0.0
	for _, l := range r.Lines {
		if strings.HasPrefix(l.Item, "Aurora Serverless v2") {
			aurora = l.Monthly
		}
	}
	if rest := r.Total - aurora; rest >= cost.Goal {
		t.Errorf("the idle month without the database's compute is %.2f USD, not under %.0f", rest, cost.Goal)
	}
	var want []string
	for _, e := range cron.Schedule {
		if !e.DueOnly && e.Rate.Minutes() <= AutoPauseMinutes+IdleSessionSeconds/60+cost.CronRunMinutes {
			want = append(want, e.Name)
		}
	}
	if len(r.KeepAwake) != len(want) {
		t.Errorf("Aurora kept awake by %v, want the frequent cron jobs %v", r.KeepAwake, want)
	}
	if len(want) == 0 && r.Total >= cost.Goal {
		t.Errorf("idle month %.2f USD with nothing keeping Aurora awake", r.Total)
	}
	// The same stack once the frequent jobs are due-only (cron.Entry
	// DueOnly): the goal is met.
	b, _ := json.Marshal(fx.json)
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	for _, res := range tpl["Resources"].(map[string]any) {
		p := props(res.(map[string]any))
		if d, ok := p["Description"].(string); ok && strings.HasPrefix(d, "Framebroker cron ") {
			for _, w := range want {
				if d == "Framebroker cron "+w {
					p["Description"] = d + " " + cost.DueOnlyMarker
				}
			}
		}
	}
	due := cost.Estimate(tpl)
	t.Logf("with %v due-only: %.2f USD (Aurora awake %.1f%%)", want, due.Total, due.AuroraAwake*100)
	if due.Total >= cost.Goal {
		t.Errorf("even with the frequent jobs due-only the idle month is %.2f USD\n%s", due.Total, due)
	}
}

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
