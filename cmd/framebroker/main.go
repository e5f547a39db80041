// Command framebroker is the developer CLI: it runs the API on a local stack
// of real peers (dev) and runs commands, such as the test suite, against one
// (stack).
package main

import (
	"fmt"
	"io"
	"os"
)

// command is one subcommand; run gets the arguments after its name and
// returns the process exit code.
type command struct {
	name, args, summary string
	run                 func(args []string) int
}

var commands = []command{
	{"dev", "[--dir .local/dev] [--addr 127.0.0.1:8080] [--pg-port N] [--s3-port N] [--stripe-port N]", "run the API on a local stack (Postgres, versitygw, stripe-mock)", runDev},
	{"stack", "[--dir .local/test] [--fresh] [--pg-port N] [--s3-port N] [--stripe-port N] -- CMD [ARG...]", "run CMD with a local stack's environment, then stop the stack", runStack},
	{"keyring", "new | rotate", "make or rotate the signing keyring kept in Secrets Manager (stdin → stdout)", runKeyring},
	{"stripe", "trigger EVENT --workspace WS [--amount CENTS]", "send a signed Stripe test event to the dev API (card verified, credits bought)", runStripe},
	{"upload", "FILE --workspace WS [--url URL] [--part-size BYTES]", "upload a file as a multipart asset (FRAMEBROKER_TOKEN), with a progress bar; run again to resume", runUpload},
	{"ledger", "verify FILE [--key PUB]", "verify a ledger JSONL export offline; names the first broken line", runLedger},
	{"provenance", "verify MANIFEST --key KEY [--files DIR] | MEDIA --key KEY", "verify a release's signed manifest, or a file's Content Credentials, offline", runProvenance},
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "help" || name == "-h" || name == "--help" {
		usage(os.Stdout)
		return
	}
	for _, c := range commands {
		if c.name == name {
			os.Exit(c.run(os.Args[2:]))
		}
	}
	fmt.Fprintf(os.Stderr, "framebroker: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  framebroker %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'framebroker COMMAND -h' for a command's flags.")
}
