package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/config"
)

// cpuMeter reads the CPU time spent so far by this process (the HTTP
// client and server, pgx, the app) and by the test Postgres cluster (the
// postmaster's children: the backends serving the app), so a benchmark can
// say where a request's time goes. Linux only; without /proc or the admin
// database it reports zero for Postgres.
type cpuMeter struct{ postmaster int }

func newCPUMeter(b *testing.B) cpuMeter {
	b.Helper()
	m := cpuMeter{}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, os.Getenv(config.EnvAdminDatabaseURL))
	if err != nil {
		b.Logf("cpu meter: no admin connection (%v): Postgres CPU not measured", err)
		return m
	}
	defer c.Close(ctx)
	var dir string
	if err := c.QueryRow(ctx, `SELECT setting FROM pg_settings WHERE name = 'data_directory'`).Scan(&dir); err != nil {
		b.Logf("cpu meter: %v", err)
		return m
	}
	pid, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		b.Logf("cpu meter: %v", err)
		return m
	}
	first, _, _ := strings.Cut(string(pid), "\n")
	m.postmaster, _ = strconv.Atoi(strings.TrimSpace(first))
	return m
}

// read returns the CPU time used so far by this process and by Postgres.
func (m cpuMeter) read() (self, pg time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.postmaster == 0 {
		return self, 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15): fields after ")".
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(string(b))[0])
		ppid, _ := strconv.Atoi(f[1])
		if pid != m.postmaster && ppid != m.postmaster {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return self, time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}

// perOp measures op's CPU cost: microseconds of this process's and of
// Postgres's CPU per call, over n calls made by run.
func (m cpuMeter) perOp(n int, run func()) (selfUS, pgUS float64) {
	s0, p0 := m.read()
	run()
	s1, p1 := m.read()
	return float64((s1 - s0).Microseconds()) / float64(n), float64((p1 - p0).Microseconds()) / float64(n)
}
