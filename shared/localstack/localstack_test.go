package localstack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/config"
)

// TestStack starts a stack cold, checks every peer, stops it, then starts it
// warm over a stale postmaster.pid and checks that state survived.
func TestStack(t *testing.T) {
	requireTools(t)
	ctx := t.Context()
	opts := Options{Dir: tempDir(t), PGPort: freePort(t), S3Port: freePort(t), StripePort: freePortPair(t), Logger: testLogger(t)}

	t0 := time.Now()
	st, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	t.Logf("cold start: %s", time.Since(t0))
	cfg := st.Config()

	t.Run("app role is subject to RLS", func(t *testing.T) {
		conn := connect(t, cfg.DatabaseURL)
		var user string
		var super, bypass, users bool
		err := conn.QueryRow(ctx, `SELECT current_user, rolsuper, rolbypassrls, to_regclass('public.users') IS NOT NULL
			FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super, &bypass, &users)
		if err != nil {
			t.Fatal(err)
		}
		if user != dbAppRole || super || bypass || !users {
			t.Fatalf("user=%s superuser=%v bypassrls=%v users table=%v; want %s, false, false, true", user, super, bypass, users, dbAppRole)
		}
	})
	t.Run("template clones", func(t *testing.T) {
		admin := connect(t, envValue(t, st.Env(), config.EnvAdminDatabaseURL))
		if _, err := admin.Exec(ctx, `CREATE DATABASE clone_1 TEMPLATE `+envValue(t, st.Env(), EnvTemplateDB)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bucket round trip", func(t *testing.T) { objectRoundTrip(t, st) })
	t.Run("stripe-mock answers", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, envValue(t, st.Env(), EnvStripeURL)+"/v1/customers",
			strings.NewReader("email=dev%40example.com"))
		req.Header.Set("Authorization", "Bearer sk_test_123")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("env file", func(t *testing.T) {
		fi, err := os.Stat(st.EnvFile())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("env file mode %v, want 0600", fi.Mode().Perm())
		}
		vals, err := readEnvFile(st.EnvFile())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range st.Env() {
			k, v, _ := strings.Cut(line, "=")
			if vals[k] != v {
				t.Errorf("env file %s=%q, want %q", k, vals[k], v)
			}
		}
	})

	groups := []int{st.pg.cmd.Process.Pid, st.s3.cmd.Process.Pid, st.stripe.cmd.Process.Pid}
	st.Stop()
	for _, pgid := range groups {
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still has members after Stop (kill: %v)", pgid, err)
		}
	}

	// A killed run leaves postmaster.pid and the socket lock behind, naming
	// a dead process.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	lock := []byte(strconv.Itoa(dead.Process.Pid) + "\n" + st.pgDataDir() + "\n")
	for _, f := range []string{
		filepath.Join(st.pgDataDir(), "postmaster.pid"),
		filepath.Join(st.pgDir(), "run", ".s.PGSQL."+strconv.Itoa(opts.PGPort)+".lock"),
	} {
		if err := os.WriteFile(f, lock, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	opts.StripePort = 0
	t0 = time.Now()
	warm, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(warm.Stop)
	t.Logf("warm start: %s", time.Since(t0))
	want := cfg
	want.StripeURL = "" // the warm stack runs without stripe-mock
	if warm.Config() != want {
		t.Errorf("warm config differs:\n%+v\n%+v", warm.Config(), want)
	}
	if slices.ContainsFunc(warm.Env(), func(l string) bool { return strings.HasPrefix(l, EnvStripeURL+"=") }) {
		t.Errorf("%s set without stripe-mock", EnvStripeURL)
	}
	if _, err := warm.s3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.MediaBucket), Key: aws.String("a/b.txt")}); err != nil {
		t.Errorf("object lost across restart: %v", err)
	}
	var n int
	if err := connect(t, cfg.OwnerDatabaseURL).QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		t.Errorf("schema_migrations after warm start: %d rows, %v", n, err)
	}
}

// TestS3Sidecar runs versitygw as on a filesystem without user xattrs:
// object metadata must survive in the sidecar directory.
func TestS3Sidecar(t *testing.T) {
	requireTools(t)
	xattrSupported = func(string) bool { return false }
	t.Cleanup(func() { xattrSupported = supportsXattr })
	s := &Stack{opts: Options{Dir: tempDir(t), S3Port: freePort(t)}, log: testLogger(t), begun: time.Now()}
	if err := s.prepareDir(); err != nil {
		t.Fatal(err)
	}
	err := s.startS3(t.Context())
	t.Cleanup(func() { s.s3.stop(s.log, 5*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.MediaBucket = MediaBucket
	objectRoundTrip(t, s)
}

// objectRoundTrip puts an object with a content type into the media bucket
// and reads both back.
func objectRoundTrip(t *testing.T, st *Stack) {
	t.Helper()
	c, ctx, bucket := st.s3Client(), t.Context(), aws.String(st.Config().MediaBucket)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("a/b.txt"),
		Body: strings.NewReader("hello"), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "hello" || aws.ToString(out.ContentType) != "text/plain" {
		t.Fatalf("got %q (%s)", body, aws.ToString(out.ContentType))
	}
}

// TestStartRefusesTakenPort fails fast, naming the port, instead of waiting
// for a peer that cannot bind.
func TestStartRefusesTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	_, err = Start(t.Context(), Options{Dir: t.TempDir(), PGPort: port, S3Port: freePort(t), Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("err = %v, want one naming port %d", err, port)
	}
}

// requireTools skips when postgres or versitygw is missing, unless the test
// runs inside a stack, where that is a failure.
func requireTools(t *testing.T) {
	t.Helper()
	_, err1 := postgresBinDir()
	_, err2 := findTool("versitygw", "")
	_, err3 := findTool("stripe-mock", "")
	if err := errors.Join(err1, err2, err3); err != nil {
		if os.Getenv(EnvRequireStack) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// tempDir is a temporary directory the postgres user can reach (t.TempDir
// makes 0700 directories).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "localstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freePortPair is a free port whose successor is free too (stripe-mock's
// HTTPS listener).
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 20 {
		p := freePort(t)
		if ln, err := net.Listen("tcp", loopback(p+1)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func envValue(t *testing.T, env []string, key string) string {
	t.Helper()
	for _, line := range env {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in env", key)
	return ""
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
