package coldstart

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOpenPoolBoundedAgainstSilentDatabase is observed #3 of issue 12: a
// database that accepts TCP and never answers fails the cold start with
// an error (not a hang), and the JSON log says what was waited for.
func TestOpenPoolBoundedAgainstSilentDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	defer slog.SetDefault(prev)

	port := ln.Addr().(*net.TCPAddr).Port
	dsn := "postgres://framebroker_app:pw@127.0.0.1:" + itoa(port) + "/framebroker?sslmode=disable"
	done := make(chan error, 1)
	go func() {
		_, err := OpenPool(context.Background(), dsn, nil, 200*time.Millisecond)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // a generous guard: the point is "returns", not how fast
		t.Fatal("OpenPool did not return against a silent database")
	}
	if err == nil || !strings.Contains(err.Error(), "did not answer a connect and ping within 200ms") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), ":pw@") {
		t.Fatal("the error quotes the password")
	}
	var line struct {
		Msg     string `json:"msg"`
		Host    string `json:"host"`
		Port    string `json:"port"`
		Timeout string `json:"timeout"`
	}
	first, _, _ := bytes.Cut(logs.Bytes(), []byte("\n"))
	if err := json.Unmarshal(first, &line); err != nil {
		t.Fatalf("log is not JSON: %q", first)
	}
	if !strings.Contains(line.Msg, "waiting for the database") || line.Host != "127.0.0.1" || line.Port != itoa(port) || line.Timeout != "200ms" {
		t.Fatalf("log line %s", first)
	}
	if strings.Contains(logs.String(), "pw") {
		t.Fatal("the log quotes the password")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// rotatingSecrets is a SecretGetter whose database secret changes.
type rotatingSecrets struct {
	mu       sync.Mutex
	password string
}

func (r *rotatingSecrets) SecretString(context.Context, string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return `{"username":"framebroker_app","password":"` + r.password + `","host":"db","port":5432}`, nil
}

// TestPasswordSourceFollowsRotation drives the pool hooks as pgxpool does:
// connections authenticate with the secret read at cold start; after a
// rotation the next attempt fails (no AfterConnect), and the attempt after
// it re-reads the secret and uses the new password; a healthy pool never
// re-reads.
func TestPasswordSourceFollowsRotation(t *testing.T) {
	ctx := context.Background()
	sec := &rotatingSecrets{password: "old"}
	p, err := NewPasswordSource(ctx, sec, "arn:app")
	if err != nil {
		t.Fatal(err)
	}
	now := p.fetched
	p.now = func() time.Time { return now }
	connect := func(ok bool) string {
		cc := &pgx.ConnConfig{}
		if err := p.BeforeConnect(ctx, cc); err != nil {
			t.Fatal(err)
		}
		if ok {
			_ = p.AfterConnect(ctx, nil)
		}
		return cc.Password
	}
	for i := 0; i < 3; i++ {
		now = now.Add(time.Minute)
		if pw := connect(true); pw != "old" {
			t.Fatalf("healthy connect %d used %q", i, pw)
		}
	}
	if p.Reads() != 1 {
		t.Fatalf("a healthy pool re-read the secret: %d reads", p.Reads())
	}
	sec.mu.Lock()
	sec.password = "new"
	sec.mu.Unlock()
	now = now.Add(time.Minute)
	if pw := connect(false); pw != "old" { // Postgres answers 28P01
		t.Fatalf("first attempt after rotation used %q", pw)
	}
	if pw := connect(true); pw != "new" {
		t.Fatalf("attempt after a failure used %q, want the re-read password", pw)
	}
	// Failures in a burst re-read at most once per MinInterval.
	reads := p.Reads()
	connect(false)
	connect(false)
	connect(false)
	if p.Reads() != reads {
		t.Fatalf("re-read %d times within MinInterval", p.Reads()-reads)
	}
	now = now.Add(p.MinInterval)
	connect(true)
	if p.Reads() != reads+1 {
		t.Fatalf("no re-read after MinInterval: %d", p.Reads()-reads)
	}
}
