package migratefn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

// TestMigrator runs the migrate custom resource against a real database:
// Create/Update migrate (idempotently) and set the app role's password —
// with a password that would break naive quoting — and Delete leaves the
// schema alone.
func TestMigrator(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	hostile := `it's"; DROP TABLE workspaces; --` + "\\"
	// The role is cluster-wide: leave it without a password (the local
	// stack authenticates by trust).
	t.Cleanup(func() { _, _ = d.Owner.Exec(context.Background(), `ALTER ROLE framebroker_app PASSWORD NULL`) })
	for _, rt := range []cfn.RequestType{cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete} {
		id, _, err := Migrator(d.OwnerDSN, hostile)(ctx, cfn.Event{RequestType: rt})
		if err != nil {
			t.Fatalf("%s: %v", rt, err)
		}
		if id != MigratePhysicalID {
			t.Fatalf("%s: physical id %q", rt, id)
		}
	}
	var n int
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		t.Fatalf("schema damaged: %v", err)
	}
	var login bool
	if err := d.Owner.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = 'framebroker_app'`).Scan(&login); err != nil || !login {
		t.Fatalf("app role login %v (%v)", login, err)
	}
	if _, _, err := Migrator("", "pw")(ctx, cfn.Event{RequestType: cfn.RequestCreate}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("no owner DSN: %v", err)
	}
}

// TestHandlerAnswersFailures: a secret that cannot be read is an error
// returned to CloudFormation (FAILED), never an exit; Delete needs no
// secret at all.
func TestHandlerAnswersFailures(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{lambdafn.EnvOwnerDatabaseSecretArn: "arn:owner", lambdafn.EnvDatabaseSecretArn: "arn:app"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	h := Handler(lookup, missingSecrets{})
	if _, _, err := h(ctx, cfn.Event{RequestType: cfn.RequestCreate}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("create without readable secrets: %v", err)
	}
	if id, _, err := h(ctx, cfn.Event{RequestType: cfn.RequestDelete}); err != nil || id != MigratePhysicalID {
		t.Fatalf("delete: %q %v", id, err)
	}
}

type missingSecrets struct{}

func (missingSecrets) SecretString(context.Context, string) (string, error) {
	return "", errors.New("AccessDeniedException: not authorized to decrypt")
}
