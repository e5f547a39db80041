// Package dbtest gives each test its own Postgres database, cloned from the
// migrated template the local stack keeps, on the real server `make test`
// starts. Tests that need it fail (not skip) when FRAMEBROKER_REQUIRE_STACK=1,
// so a broken stack cannot turn into a green run.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db"
)

// DB is a fresh, migrated database for one test.
type DB struct {
	Name     string
	AppDSN   string        // as framebroker_app (no BYPASSRLS)
	OwnerDSN string        // as the schema owner
	App      *pgxpool.Pool // pool on AppDSN
	Owner    *pgxpool.Pool // pool on OwnerDSN
}

// RequireStack skips the test when the local stack's variables are absent,
// or fails it when FRAMEBROKER_REQUIRE_STACK=1 says they must be there.
func RequireStack(t testing.TB, vars ...string) {
	t.Helper()
	for _, v := range vars {
		if os.Getenv(v) == "" {
			if os.Getenv("FRAMEBROKER_REQUIRE_STACK") == "1" {
				t.Fatalf("%s is not set but FRAMEBROKER_REQUIRE_STACK=1", v)
			}
			t.Skipf("%s not set: run through `make test` (go run ./cmd/framebroker stack -- go test ...)", v)
		}
	}
}

// New creates a database for t from the template and drops it when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	RequireStack(t, config.EnvAdminDatabaseURL, config.EnvDatabaseURL)
	ctx := context.Background()
	template := os.Getenv("FRAMEBROKER_TEMPLATE_DB")
	if template == "" {
		template = "framebroker_template"
	}
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	name := "fbtest_" + hex.EncodeToString(rb[:])

	admin, err := pgx.Connect(ctx, os.Getenv(config.EnvAdminDatabaseURL))
	if err != nil {
		t.Fatalf("dbtest: connect admin: %v", err)
	}
	defer admin.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+pgx.Identifier{template}.Sanitize()+` OWNER framebroker_owner`)
		if err == nil || attempt == 20 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), os.Getenv(config.EnvAdminDatabaseURL))
		if err != nil {
			t.Logf("dbtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("dbtest: drop %s: %v", name, err)
		}
	})
	d := &DB{Name: name}
	d.AppDSN = withDB(t, os.Getenv(config.EnvDatabaseURL), name, "")
	d.OwnerDSN = withDB(t, os.Getenv(config.EnvDatabaseURL), name, "framebroker_owner")
	// The template is migrated when the stack starts; apply whatever was
	// added since (cheap when nothing is new).
	if err := db.Migrate(ctx, d.OwnerDSN); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	if d.App, err = db.Open(ctx, d.AppDSN); err != nil {
		t.Fatal(err)
	}
	if d.Owner, err = db.Open(ctx, d.OwnerDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.App.Close(); d.Owner.Close() })
	return d
}

// withDB rewrites dsn to database name and, if user is set, that user.
func withDB(t testing.TB, dsn, name, user string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("dbtest: parse dsn: %v", err)
	}
	u.Path = "/" + name
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}
