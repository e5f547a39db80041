package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
)

// runLedger serves `framebroker ledger verify FILE [--key PUB]`: it verifies
// a JSONL export offline and names the first broken line. With --key (a
// public key, or the JSON of GET /v1/provenance/keys) every checkpoint's
// signature is checked and one must cover the last event.
func runLedger(args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(os.Stderr, "usage: framebroker ledger verify FILE [--key PUB]")
		return 2
	}
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	keyPath := fs.String("key", "", "Ed25519 public key file (base64/hex key, or the JSON of GET /v1/provenance/keys)")
	file, rest := splitArg(args[1:])
	if err := fs.Parse(rest); err != nil || file == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: framebroker ledger verify FILE [--key PUB]")
		return 2
	}
	var keys *keyring.Set
	if *keyPath != "" {
		set, err := readKeys(*keyPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "framebroker:", err)
			return 2
		}
		keys = &set
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	defer f.Close()
	rep, err := ledger.VerifyJSONL(f, keys, keys != nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if !rep.Valid {
		b := rep.BrokenAt
		if b.Line > 0 {
			fmt.Fprintf(os.Stderr, "BROKEN at line %d (seq %d): %s\n", b.Line, b.Seq, b.Reason)
		} else {
			fmt.Fprintf(os.Stderr, "BROKEN at seq %d: %s\n", b.Seq, b.Reason)
		}
		return 1
	}
	if keys == nil {
		fmt.Fprintln(os.Stderr, "OK (self-consistent only: pass --key to check the signed checkpoints)")
	} else {
		fmt.Fprintln(os.Stderr, "OK")
	}
	return 0
}

// splitArg takes the first non-flag argument out of args, so FILE may come
// before or after the flags.
func splitArg(args []string) (string, []string) {
	for i, a := range args {
		if len(a) > 0 && a[0] != '-' && (i == 0 || !isValueFlag(args[i-1])) {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
	}
	return "", args
}

func isValueFlag(a string) bool {
	switch a {
	case "--key", "-key", "--files", "-files", "--roots", "-roots":
		return true
	}
	return false
}

func readKeys(path string) (keyring.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return keyring.Set{}, err
	}
	return keyring.ParseSet(b)
}
