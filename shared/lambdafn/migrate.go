package lambdafn

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
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
