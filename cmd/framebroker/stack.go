package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/framebroker/framebroker/shared/localstack"
)

// testPorts are the loopback ports of `framebroker stack`, distinct from
// devPorts so tests can run while `framebroker dev` does.
var testPorts = localstack.Options{PGPort: 55432, S3Port: 7071, StripePort: 12121}

// runStack starts the test stack, runs the command after "--" with the
// stack's environment, stops the stack and exits with the command's code.
func runStack(args []string) int {
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	dir := fs.String("dir", ".local/test", "state directory of the local stack")
	fresh := fs.Bool("fresh", false, "wipe the state directory first")
	pgPort := fs.Int("pg-port", testPorts.PGPort, "Postgres port")
	s3Port := fs.Int("s3-port", testPorts.S3Port, "versitygw port")
	stripePort := fs.Int("stripe-port", testPorts.StripePort, "stripe-mock HTTP port (HTTPS is the next one)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: framebroker stack [--dir DIR] [--fresh] [--pg-port N] [--s3-port N] [--stripe-port N] -- CMD [ARG...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}

	// Ctrl-C in a terminal reaches CMD directly (same process group); we
	// catch it so the stack outlives CMD's own shutdown and is then stopped.
	// SIGTERM, usually sent to us alone, is passed on to CMD.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var proc atomic.Pointer[os.Process]
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			cancel()
			if p := proc.Load(); p != nil && sig == syscall.SIGTERM {
				_ = p.Signal(sig)
			}
		}
	}()

	opts := localstack.Options{PGPort: *pgPort, S3Port: *s3Port, StripePort: *stripePort}
	opts.Dir, opts.Fresh, opts.Logger = *dir, *fresh, newProgressLogger(os.Stderr)
	st, err := localstack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker stack:", err)
		return 1
	}
	defer st.Stop()
	if ctx.Err() != nil {
		return 130
	}

	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), st.Env()...)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "framebroker stack:", err)
		return 127
	}
	proc.Store(cmd.Process)
	return exitCode(cmd.Wait())
}

// exitCode maps a command's end to a shell-style status: its code, or
// 128+signal when a signal ended it.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "framebroker stack:", err)
		return 1
	}
}
