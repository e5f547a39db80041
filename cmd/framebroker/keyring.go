package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/framebroker/framebroker/shared/keyring"
)

// runKeyring makes and rotates the signing keyring document that an AWS
// deployment keeps in Secrets Manager (FRAMEBROKER_KEYRING in the
// operator's secret): `keyring new` prints a fresh one; `keyring rotate`
// reads one on stdin and prints it with new keys in service from now, the
// old public keys kept with their validity window.
func runKeyring(args []string) int {
	if len(args) != 1 || (args[0] != "new" && args[0] != "rotate") {
		fmt.Fprintln(os.Stderr, "Usage: framebroker keyring new > keyring.json\n       framebroker keyring rotate < old.json > new.json")
		return 2
	}
	var out []byte
	var err error
	if args[0] == "new" {
		out, err = keyring.NewKeyring(time.Now())
	} else {
		var in []byte
		if in, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20)); err == nil {
			out, err = keyring.RotateKeyring(in, time.Now())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker keyring:", err)
		return 1
	}
	os.Stdout.Write(append(out, '\n'))
	return 0
}
