// Command costmodel prints the idle month of a synthesized stack:
//
//	go run ./infra/cost/costmodel cdk.out/Framebroker.template.json
//
// `make synth` runs it on the stack it synthesizes. See package cost for
// the prices and assumptions.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/framebroker/framebroker/infra/cost"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: costmodel TEMPLATE.json")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "costmodel:", err)
		os.Exit(1)
	}
	var tpl map[string]any
	if err := json.Unmarshal(b, &tpl); err != nil {
		fmt.Fprintln(os.Stderr, "costmodel:", err)
		os.Exit(1)
	}
	fmt.Print(cost.Estimate(tpl).String())
}
