package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
)

const (
	superuser = "postgres"
	dbAppRole = db.AppRole
	// maxSocketDir keeps <dir>/.s.PGSQL.<port> under the 107-byte limit of
	// a Unix socket path.
	maxSocketDir = 90
)

// credential is the OS user a child runs as.
type credential struct{ uid, gid uint32 }

func (s *Stack) pgDir() string {
	if s.pgRoot != "" {
		return s.pgRoot
	}
	return filepath.Join(s.opts.Dir, "pg")
}

// choosePGRoot keeps the cluster in Dir/pg when the postgres user can reach
// it, and otherwise (a checkout under a 0700 home such as /root, where CI
// may clone) in a directory of the system temp dir named for Dir, so a warm
// restart finds it again.
func (s *Stack) choosePGRoot() {
	cred, err := postgresCredential()
	if err != nil || cred == nil {
		return
	}
	in := filepath.Join(s.opts.Dir, "pg")
	if reachableBy(in, cred) == nil {
		return
	}
	abs, err := filepath.Abs(s.opts.Dir)
	if err != nil {
		return
	}
	sum := sha256.Sum256([]byte(abs))
	s.pgRoot = filepath.Join(os.TempDir(), "framebroker-pg-"+hex.EncodeToString(sum[:6]))
	s.step("postgres data outside the checkout (not reachable by the postgres user)", "dir", s.pgRoot)
}
func (s *Stack) pgDataDir() string { return filepath.Join(s.pgDir(), "data") }

// dsn is a trust-auth DSN for role on database name over TCP loopback.
func (s *Stack) dsn(role, name string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", role, loopback(s.opts.PGPort), name)
}

// startPostgres initialises the cluster if needed, runs the server and
// provisions roles and databases.
func (s *Stack) startPostgres(ctx context.Context) error {
	bin, err := postgresBinDir()
	if err != nil {
		return err
	}
	cred, err := postgresCredential()
	if err != nil {
		return err
	}
	data, sock := s.pgDataDir(), filepath.Join(s.pgDir(), "run")
	for _, d := range []string{s.pgDir(), data, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.uid), int(cred.gid)); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
		}
	}
	if cred != nil {
		if err := reachableBy(s.pgDir(), cred); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := s.initdb(ctx, bin, data, cred); err != nil {
			return err
		}
	}
	if err := clearStaleLocks(data, sock); err != nil {
		return err
	}
	if len(sock) > maxSocketDir {
		sock = "" // TCP only; psql users pass -h 127.0.0.1
	}
	s.pg, err = startChild(procSpec{
		name: "postgres",
		path: filepath.Join(bin, "postgres"),
		args: []string{"-D", data, "-p", strconv.Itoa(s.opts.PGPort),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=" + sock,
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200"},
		logDir:  s.logDir(),
		cred:    cred,
		stopSig: syscall.SIGINT,
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = waitReady(ctx, s.pg, 20*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.dsn(superuser, "postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	s.step("postgres ready", "port", s.opts.PGPort)
	if err := s.provision(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	s.step("databases migrated", "databases", Database+","+TemplateDatabase)
	return nil
}

// initdb creates the cluster; a half-made data directory from an
// interrupted run is emptied first.
func (s *Stack) initdb(ctx context.Context, bin, data string, cred *credential) error {
	entries, err := os.ReadDir(data)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(data, e.Name())); err != nil {
			return fmt.Errorf("postgres: clear %s: %w", data, err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data,
		"-A", "trust", "--no-sync", "-U", superuser, "-E", "UTF8", "--locale=C.UTF-8")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = childSysProcAttr(cred)
	out, err := cmd.CombinedOutput()
	logPath := filepath.Join(s.logDir(), "initdb.log")
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: initdb: %w; last log lines:\n%s", err, tailFile(logPath, 15))
	}
	s.step("postgres cluster initialised", "dir", data)
	return nil
}

// provision creates the owner role and the two databases, migrates both
// and leaves no session on the template.
func (s *Stack) provision(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn(superuser, "postgres"))
	if err != nil {
		return fmt.Errorf("connect as %s: %w", superuser, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+OwnerRole+`') THEN
			CREATE ROLE `+OwnerRole+`;
		END IF; END $$`); err != nil {
		return fmt.Errorf("create role %s: %w", OwnerRole, err)
	}
	if _, err := conn.Exec(ctx, `ALTER ROLE `+OwnerRole+` LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS`); err != nil {
		return fmt.Errorf("alter role %s: %w", OwnerRole, err)
	}
	for _, name := range []string{Database, TemplateDatabase} {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			return fmt.Errorf("look up database %s: %w", name, err)
		}
		if !exists {
			if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` OWNER `+OwnerRole); err != nil {
				return fmt.Errorf("create database %s: %w", name, err)
			}
		}
		if err := db.Migrate(ctx, s.dsn(OwnerRole, name)); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	// The foundation migration creates the app role; make sure it can log
	// in and stays subject to row-level security whatever an older run did.
	if _, err := conn.Exec(ctx, `ALTER ROLE `+dbAppRole+` LOGIN NOSUPERUSER NOBYPASSRLS`); err != nil {
		return fmt.Errorf("alter role %s: %w", dbAppRole, err)
	}
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+TemplateDatabase+` IS_TEMPLATE true`); err != nil {
		return fmt.Errorf("mark %s as template: %w", TemplateDatabase, err)
	}
	return waitNoSessions(ctx, conn, TemplateDatabase)
}

// waitNoSessions waits until no backend is connected to name (a closed
// connection's backend exits a moment after the client leaves), ending
// stragglers after two seconds, so CREATE DATABASE … TEMPLATE name works.
func waitNoSessions(ctx context.Context, conn *pgx.Conn, name string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("sessions on %s: %w", name, err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
				return fmt.Errorf("end sessions on %s: %w", name, err)
			}
			deadline = time.Now().Add(2 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sessions on %s: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postgresBinDir finds the server binaries: the newest Debian
// /usr/lib/postgresql/<major>/bin (kept off PATH), else initdb's directory
// on PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("postgres: server binaries not found (no initdb on PATH, none in /usr/lib/postgresql/*/bin): run scripts/install.sh")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// postgresCredential is the postgres OS user when we run as root, since
// initdb and postgres refuse to; nil otherwise.
func postgresCredential() (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root needs the postgres OS user (scripts/install.sh): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres: user ids: %w", err)
	}
	return &credential{uid: uint32(uid), gid: uint32(gid)}, nil
}

// reachableBy checks that cred may traverse every directory above dir; a
// checkout under a 0700 home (such as /root) is not.
func reachableBy(dir string, cred *credential) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		st, ok := fi.Sys().(*syscall.Stat_t)
		switch {
		case !ok, mode&0o001 != 0:
		case st.Uid == cred.uid && mode&0o100 != 0:
		case st.Gid == cred.gid && mode&0o010 != 0:
		default:
			return fmt.Errorf("the postgres user (uid %d) cannot enter %s (mode %v), so it cannot reach %s: `chmod o+x %s` or choose a directory elsewhere", cred.uid, d, mode, dir, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// runningPostmaster reports the live postgres that holds data's
// postmaster.pid, if any.
func runningPostmaster(data string) (int, bool) {
	return lockHolder(filepath.Join(data, "postmaster.pid"))
}

// lockHolder reads the pid on the first line of a postgres lock file and
// reports whether it is a live postgres: not gone, not a zombie left by a
// killed run, not a reused pid running something else.
func lockHolder(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || !processAlive(pid) {
		return 0, false
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	if stat, err := os.ReadFile(proc + "stat"); err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			return 0, false
		}
	}
	if cmdline, err := os.ReadFile(proc + "cmdline"); err == nil && !strings.Contains(string(cmdline), "postgres") {
		return 0, false
	}
	return pid, true
}

// clearStaleLocks removes the postmaster.pid and socket lock files a killed
// run left behind (postgres refuses to start while their pid exists, even as
// a zombie); a live postgres on the same directory is an error.
func clearStaleLocks(data, sock string) error {
	locks, _ := filepath.Glob(filepath.Join(sock, ".s.PGSQL.*.lock"))
	for _, lock := range append(locks, filepath.Join(data, "postmaster.pid")) {
		if pid, ok := lockHolder(lock); ok {
			return fmt.Errorf("postgres: already running on %s (pid %d); stop that stack first", data, pid)
		}
		if err := os.Remove(lock); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("postgres: remove stale %s: %w", lock, err)
		}
	}
	return nil
}
