package s3blob_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob/s3test"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/id"
)

func put(t *testing.T, s *s3blob.Store, key string) {
	t.Helper()
	bucket := os.Getenv(config.EnvMediaBucket)
	if _, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
}

// TestDeletePrefix against versitygw: more than one DeleteObjects page
// (1000 keys) under one workspace's prefix all go; a sibling prefix that
// shares the leading characters ("ws/<a>/" vs "ws/<a>x/") and another
// workspace are untouched; a second run deletes nothing; unsafe prefixes
// are refused before any call.
func TestDeletePrefix(t *testing.T) {
	s := s3test.Store(t)
	ctx := context.Background()
	a, b := "ws/"+id.New[id.WorkspaceID]().String(), "ws/"+id.New[id.WorkspaceID]().String()
	const n = 1005
	for i := range n {
		put(t, s, fmt.Sprintf("%s/assets/%04d", a, i))
	}
	put(t, s, a+"x/sibling")
	put(t, s, b+"/assets/keep")
	t.Cleanup(func() {
		_, _ = s.DeletePrefix(context.Background(), a+"x/")
		_, _ = s.DeletePrefix(context.Background(), b+"/")
	})
	if keys, err := s.List(ctx, a+"/", 3); err != nil || len(keys) != 3 || keys[0] != a+"/assets/0000" {
		t.Fatalf("list first 3: %v %v", keys, err)
	}
	got, err := s.DeletePrefix(ctx, a+"/")
	if err != nil || got != n {
		t.Fatalf("DeletePrefix = %d, %v; want %d", got, err, n)
	}
	if keys, err := s.List(ctx, a+"/", 0); err != nil || len(keys) != 0 {
		t.Fatalf("left under the prefix: %d keys, %v", len(keys), err)
	}
	for _, k := range []string{a + "x/sibling", b + "/assets/keep"} {
		if _, _, err := s.Open(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if got, err := s.DeletePrefix(ctx, a+"/"); err != nil || got != 0 {
		t.Fatalf("second DeletePrefix = %d, %v", got, err)
	}
	for _, p := range []string{"", "/", "ws", a, "/" + a + "/"} {
		if _, err := s.DeletePrefix(ctx, p); err == nil {
			t.Errorf("DeletePrefix(%q) accepted", p)
		}
	}
	if err := blob.CheckPrefix(a + "/"); err != nil {
		t.Fatal(err)
	}
}
