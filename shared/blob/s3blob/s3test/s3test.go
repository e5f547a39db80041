// Package s3test gives tests the local stack's media store (versitygw),
// skipping or failing like dbtest when the stack is absent.
package s3test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/blob"
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

// Send sends body to a presigned request with its headers, less those
// named in drop, and returns the HTTP status.
func Send(t testing.TB, p blob.Presigned, body []byte, drop ...string) int {
	t.Helper()
	method := p.Method
	if method == "" {
		method = http.MethodPut
	}
	req, err := http.NewRequest(method, p.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	for _, k := range drop {
		req.Header.Del(k)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
