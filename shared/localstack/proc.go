package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// child is one peer process (postgres, versitygw, stripe-mock) run in its own
// process group, with its output in Dir/logs/<name>.log.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid once done is closed
	// stopSig asks the process to shut down cleanly (postgres: SIGINT, a
	// fast shutdown that still writes a checkpoint).
	stopSig syscall.Signal
}

// procSpec is what startChild needs to launch a peer.
type procSpec struct {
	name    string
	path    string
	args    []string
	env     []string // nil: an empty environment plus PATH
	logDir  string
	cred    *credential
	stopSig syscall.Signal
}

// startChild launches spec as a child of this process. It does not wait for
// readiness: callers poll with waitReady.
func startChild(spec procSpec) (*child, error) {
	logPath := filepath.Join(spec.logDir, spec.name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", spec.name, err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(spec.path, spec.args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = spec.env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	}
	cmd.SysProcAttr = childSysProcAttr(spec.cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", spec.name, spec.path, err)
	}
	c := &child{name: spec.name, logPath: logPath, cmd: cmd, done: make(chan struct{}), stopSig: spec.stopSig}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports, without blocking, whether the process has ended, and if so
// an error that quotes the end of its log.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited early (%v); last log lines:\n%s", c.name, c.err, tailFile(c.logPath, 15))
	default:
		return nil
	}
}

// stop asks the process to shut down, waits up to grace, then kills its
// whole process group (postgres backends included).
func (c *child) stop(log *slog.Logger, grace time.Duration) {
	if c == nil {
		return
	}
	pid := c.cmd.Process.Pid
	if err := c.cmd.Process.Signal(c.stopSig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.Warn("signal child", "name", c.name, "pid", pid, "err", err)
	}
	select {
	case <-c.done:
	case <-time.After(grace):
		log.Warn("child did not stop in time; killing its process group", "name", c.name, "pid", pid, "grace", grace)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-c.done
	}
	// Anything left in the group (a stuck backend) goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// waitReady calls probe until it succeeds, the child exits, ctx ends or
// timeout passes; the last probe error explains a timeout.
func waitReady(ctx context.Context, c *child, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		if exitErr := c.exited(); exitErr != nil {
			return exitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w (log: %s)", c.name, timeout, errors.Join(ctx.Err(), err), c.logPath)
		case <-c.done:
		case <-tick.C:
		}
	}
}

// tailFile returns the last n lines of path, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.ReplaceAll(string(bytes.Join(lines, []byte("\n"))), "\n", "\n  ")
}

// processAlive reports whether pid names a live process (one we may not be
// allowed to signal counts as alive).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
