// Package rietest runs a Lambda bootstrap under the AWS Lambda Runtime
// Interface Emulator in tests, on loopback only (scripts/install.sh builds
// aws-lambda-rie into .local/bin).
package rietest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Binary finds aws-lambda-rie: .local/bin of the repository holding the
// test's working directory, else PATH.
func Binary(t testing.TB) string {
	t.Helper()
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".local", "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	t.Fatal("aws-lambda-rie not found in .local/bin or PATH: run scripts/install.sh (make test does)")
	return ""
}

// FreeAddr is a loopback address nothing listens on (the emulator takes
// addresses, not listeners).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Emulator is one bootstrap under the emulator.
type Emulator struct {
	// Addr is the emulator's address (the Lambda Invoke API's path on it:
	// /2015-03-31/functions/function/invocations).
	Addr string
	Cmd  *exec.Cmd
	// Output is the emulator's and the function's stdout and stderr.
	Output *bytes.Buffer
}

// URL is the invoke URL.
func (e *Emulator) URL() string {
	return "http://" + e.Addr + "/2015-03-31/functions/function/invocations"
}

// Start runs argv (the bootstrap and its arguments) under the emulator
// with env, and returns once the emulator accepts connections; owner's
// cleanup kills it.
func Start(t, owner testing.TB, env []string, argv ...string) *Emulator {
	t.Helper()
	addr, api := FreeAddr(t), FreeAddr(t)
	cmd := exec.Command(Binary(t), append([]string{"--runtime-interface-emulator-address", addr, "--runtime-api-address", api}, argv...)...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	owner.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Ready when it accepts connections (no fixed sleep).
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return &Emulator{Addr: addr, Cmd: cmd, Output: &out}
		}
		if i > 600 {
			t.Fatalf("emulator did not listen on %s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
