// Package s3test gives tests the local stack's media store (versitygw),
// skipping or failing like dbtest when the stack is absent.
package s3test

import (
	"context"
	"testing"

	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// Store is the media store the environment configures.
func Store(t testing.TB) *s3blob.Store {
	t.Helper()
	dbtest.RequireStack(t, config.EnvS3Endpoint)
	cfg, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.FromConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
