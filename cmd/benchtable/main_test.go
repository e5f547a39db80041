package main

import (
	"strings"
	"testing"
)

// TestTable: figures are read from benchmark lines (with or without the
// GOMAXPROCS suffix, sub-benchmarks included), ratios and goals decide
// met, and a missing benchmark is a row that did not meet its goal.
func TestTable(t *testing.T) {
	out := `goos: linux
BenchmarkDeliveries-2   	       1	17892110815 ns/op	       462.1 deliveries/s-alone	       669.0 deliveries/s-beside-failing	      1556 deliveries/s-fanout100	         3.368 fanout-ratio	         1.448 ratio
BenchmarkAppend/workspaces=16-2        	    2000	    398546 ns/op	      2509 appends/s	      5218 inserts/s	         0.4809 ratio
BenchmarkGuardedGET-2   	    6000	    662322 ns/op	       130.7 api-go-cpu-us	         0.2180 api-p50-ms	         8.882 api-p99-ms	        68.33 api-pg-cpu-us	      4905 api-req/s	       197.3 before-go-cpu-us	         0.4880 before-p50-ms	       136.7 before-pg-cpu-us	         1.366 before-ratio	      3590 before-req/s	        34.28 hello-go-cpu-us	         0.2031 hello-ratio	     24145 hello-req/s	         0.1805 ratio	         0.03300 select1-p50-ms	         1.654 select1-p99-ms	     27171 select1/s
BenchmarkVerifyOnline 	       2	1008734296 ns/op	         8.289 incremental-ms	       198.5 offline-ms	       806.0 online-ms	         4.059 ratio
PASS`
	res, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(table(res, 600), "\n")
	for _, want := range []string{
		"webhooks: healthy endpoint beside a failing one (50k backlog) vs alone | 669 deliveries/s-beside-failing | 462 deliveries/s-alone | 1.448 | >= 0.900 | yes",
		"webhooks: fan-out to 100 endpoints vs one endpoint | 1556 deliveries/s-fanout100 | 462 deliveries/s-alone | 3.367 | > 1.000 | yes",
		"ledger: appends across 16 workspaces vs plain INSERT | 2509 appends/s | 5218 inserts/s | 0.481 | >= 0.500 | no",
		"ledger: online verify of 100k events vs offline CLI | 806 online-ms | 198 offline-ms | 4.060 | <= 2.000 | no",
		"guarded GET vs net/http hello-world (same binary) | 4905 api-req/s | 24145 hello-req/s | 0.203 | >= 0.500 | no",
		"guarded GET vs before issue 16 (its 5-round-trip path replayed in the same run) | 4905 api-req/s | 3590 before-req/s | 1.366 | >= 2.500 | no",
		"guarded GET: Postgres CPU per request vs hello-world's whole Go CPU | 68.3 api-pg-cpu-us | 34.3 hello-go-cpu-us | 1.993 | stated (no goal) | yes (stated)",
		"pipeline: 60 s 1080p job vs raw ffmpeg | missing (BenchmarkPipelineVsFFmpeg did not report pipeline-s) | - | - | <= 1.100 | no",
		"make bench: wall time | 10.0 min | 15 min budget | 0.667 | < 1 | yes",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q\n%s", want, got)
		}
	}
}
