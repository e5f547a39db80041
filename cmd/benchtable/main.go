// Command benchtable reads `go test -bench` output (stdin) and prints the
// summary table `make bench` ends with: one row per figure, as
//
//	name | figure | reference | ratio | goal | met
//
// where met is yes or no. Each row names the benchmark and metrics it is
// computed from (rows below); a benchmark missing from the output is a row
// that did not meet its goal. With -elapsed SECONDS it adds the run's own
// wall time against its 15-minute budget.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// row is one figure of the table.
type row struct {
	name   string
	bench  string // benchmark name without the -GOMAXPROCS suffix
	figure string // metric shown as the figure
	ref    string // metric shown as the reference
	// ratio is figure ÷ reference unless ratioMetric names the metric to
	// show instead.
	ratioMetric string
	op          string // ">=", "<=", ">", "<", or "" (stated: no goal)
	goal        float64
}

var rows = []row{
	{name: "guarded GET vs net/http hello-world (same binary)", bench: "BenchmarkGuardedGET", figure: "api-req/s", ref: "hello-req/s", op: ">=", goal: 0.5},
	{name: "guarded GET vs before issue 16 (its 5-round-trip path replayed in the same run)", bench: "BenchmarkGuardedGET", figure: "api-req/s", ref: "before-req/s", op: ">=", goal: 2.5},
	{name: "guarded GET p50 latency", bench: "BenchmarkGuardedGET", figure: "api-p50-ms", ref: "select1-p50-ms"},
	{name: "guarded GET: Go CPU per request (client+server) vs hello-world's", bench: "BenchmarkGuardedGET", figure: "api-go-cpu-us", ref: "hello-go-cpu-us"},
	{name: "guarded GET: Postgres CPU per request vs hello-world's whole Go CPU", bench: "BenchmarkGuardedGET", figure: "api-pg-cpu-us", ref: "hello-go-cpu-us"},
	{name: "webhooks: healthy endpoint beside a failing one (50k backlog) vs alone", bench: "BenchmarkDeliveries", figure: "deliveries/s-beside-failing", ref: "deliveries/s-alone", op: ">=", goal: 0.9},
	{name: "webhooks: fan-out to 100 endpoints vs one endpoint", bench: "BenchmarkDeliveries", figure: "deliveries/s-fanout100", ref: "deliveries/s-alone", op: ">", goal: 1},
	{name: "ledger: online verify of 100k events vs offline CLI", bench: "BenchmarkVerifyOnline", figure: "online-ms", ref: "offline-ms", op: "<=", goal: 2},
	{name: "ledger: incremental online verify (1k new events)", bench: "BenchmarkVerifyOnline", figure: "incremental-ms", ref: "online-ms"},
	{name: "ledger: appends across 16 workspaces vs plain INSERT", bench: "BenchmarkAppend/workspaces=16", figure: "appends/s", ref: "inserts/s", op: ">=", goal: 0.5},
	{name: "ledger: appends to 1 workspace vs plain INSERT", bench: "BenchmarkAppend/workspaces=1", figure: "appends/s", ref: "inserts/s"},
	{name: "ledger: offline verify vs raw SHA-256", bench: "BenchmarkVerify", figure: "events/s", ref: "sha256-MB/s", ratioMetric: "ratio", op: ">=", goal: 0.5},
	{name: "pipeline: 60 s 1080p job vs raw ffmpeg", bench: "BenchmarkPipelineVsFFmpeg", figure: "pipeline-s", ref: "ffmpeg-s", op: "<=", goal: 1.10},
	{name: "submission controls: added p50 (ms)", bench: "BenchmarkSubmitControls", figure: "added-p50-ms", ref: "without-p50-ms", ratioMetric: "added-p50-ms", op: "<=", goal: 2},
	{name: "content credentials: sealing, % of the job", bench: "BenchmarkContentCredentials", figure: "seal-ms", ref: "without-s", ratioMetric: "seal-%", op: "<", goal: 5},
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse reads benchmark result lines into name → metric → value (the last
// line of a name wins).
func parse(r io.Reader) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			metrics[f[i+1]] = v
		}
		out[m[1]] = metrics
	}
	return out, sc.Err()
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func met(v float64, op string, goal float64) bool {
	switch op {
	case ">=":
		return v >= goal
	case "<=":
		return v <= goal
	case ">":
		return v > goal
	case "<":
		return v < goal
	}
	return true
}

// table renders the rows for results; elapsed > 0 adds the wall-time row.
func table(res map[string]map[string]float64, elapsed float64) []string {
	lines := []string{"name | figure | reference | ratio | goal | met", "---|---|---|---|---|---"}
	for _, r := range rows {
		goal := "stated (no goal)"
		if r.op != "" {
			goal = r.op + " " + num(r.goal)
		}
		m, ok := res[r.bench]
		fig, hasFig := m[r.figure]
		if !ok || !hasFig {
			lines = append(lines, fmt.Sprintf("%s | missing (%s did not report %s) | - | - | %s | no", r.name, r.bench, r.figure, goal))
			continue
		}
		refV, refS := m[r.ref], num(m[r.ref])+" "+r.ref
		var ratio float64
		switch {
		case r.ratioMetric != "":
			ratio = m[r.ratioMetric]
		case refV != 0:
			ratio = fig / refV
		}
		yes := "yes"
		if !met(ratio, r.op, r.goal) {
			yes = "no"
		}
		if r.op == "" {
			yes = "yes (stated)"
		}
		lines = append(lines, fmt.Sprintf("%s | %s %s | %s | %s | %s | %s", r.name, num(fig), r.figure, refS, num(ratio), goal, yes))
	}
	if elapsed > 0 {
		yes := "yes"
		if elapsed >= 15*60 {
			yes = "no"
		}
		lines = append(lines, fmt.Sprintf("make bench: wall time | %s min | 15 min budget | %s | < 1 | %s", num(elapsed/60), num(elapsed/900), yes))
	}
	return lines
}

func main() {
	elapsed := flag.Float64("elapsed", 0, "wall time of the benchmark run in seconds (adds its row)")
	flag.Parse()
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Println()
	for _, l := range table(res, *elapsed) {
		fmt.Println(l)
	}
}
