// Package migratefn is the migrate Lambda: the CloudFormation custom
// resource that applies the schema migrations and sets the app role's
// password. It reads its secrets inside the request handler, so a failure
// is answered to CloudFormation (FAILED, with the reason) rather than
// killing the function before it answers (which left the stack waiting).
package migratefn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/coldstart"
)

// MigratePhysicalID is the migrate custom resource's physical id; it never
// changes, so CloudFormation never replaces (and deletes) it.
const MigratePhysicalID = "framebroker-schema"

// Migrator is the migrate custom resource (CloudFormation → this Lambda on
// every deploy whose migrations changed): as the schema owner it applies
// the embedded migrations (db.Migrate) and sets framebroker_app's password
// to the one in the app role's secret, so the request-serving Lambdas can
// connect. Delete does nothing: the schema outlives the stack.
func Migrator(ownerDSN, appPassword string) cfn.CustomResourceFunction {
	return func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		if ev.RequestType == cfn.RequestDelete {
			return MigratePhysicalID, nil, nil
		}
		if ownerDSN == "" || appPassword == "" {
			return MigratePhysicalID, nil, errors.New("migrate: owner DSN or app password missing")
		}
		if err := db.Migrate(ctx, ownerDSN); err != nil {
			return MigratePhysicalID, nil, err
		}
		if err := SetAppPassword(ctx, ownerDSN, appPassword); err != nil {
			return MigratePhysicalID, nil, err
		}
		return MigratePhysicalID, nil, nil
	}
}

// SetAppPassword sets framebroker_app's login password (ALTER ROLE takes no
// parameters: the literal is quoted by the server with format(%L)).
func SetAppPassword(ctx context.Context, ownerDSN, password string) error {
	conn, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var stmt string
	if err := conn.QueryRow(ctx, `SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text)`, db.AppRole, password).Scan(&stmt); err != nil {
		return fmt.Errorf("migrate: app role statement: %w", err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return errors.New("migrate: set app role password failed") // the error could quote the statement
	}
	return nil
}

// Handler is the custom resource: Delete answers at once (the schema
// outlives the stack, and a rollback must never wait on a secret); Create
// and Update read the owner's DSN and the app role's password through
// lookup and get, then run Migrator. Every failure is returned, which
// cfn.LambdaWrap reports to CloudFormation as FAILED.
func Handler(lookup func(string) (string, bool), get coldstart.SecretGetter) cfn.CustomResourceFunction {
	return func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		if ev.RequestType == cfn.RequestDelete {
			return MigratePhysicalID, nil, nil
		}
		// Leave time to answer: a database that never answers fails the
		// request before the Lambda's own timeout (which would send nothing).
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-answerMargin))
			defer cancel()
		}
		resolved, err := coldstart.ResolveSecrets(ctx, "migrate", lookup, get)
		if err != nil {
			return MigratePhysicalID, nil, err
		}
		owner, _ := resolved(config.EnvOwnerDatabaseURL)
		appPassword, err := coldstart.AppRolePassword(ctx, lookup, get)
		if err != nil {
			return MigratePhysicalID, nil, err
		}
		return Migrator(owner, appPassword)(ctx, ev)
	}
}

// answerMargin is the time kept, before the Lambda's deadline, to send
// CloudFormation the answer.
const answerMargin = 10 * time.Second

// Main runs the migrate custom resource.
func Main() {
	lambdafn.SetupLogging("info")
	lambda.Start(cfn.LambdaWrap(Handler(os.LookupEnv, coldstart.SecretsManager())))
}
