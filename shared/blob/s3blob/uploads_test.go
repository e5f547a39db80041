package s3blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/blob"
	"github.com/framebroker/framebroker/shared/blob/s3blob/s3test"
	"github.com/framebroker/framebroker/shared/id"
)

func send(t *testing.T, p blob.Presigned, body []byte, drop ...string) int {
	return s3test.Send(t, p, body, drop...)
}

// TestCreateOnceWithChecksum against versitygw: the signed checksum makes
// the store refuse other bytes of the same length, the signed
// If-None-Match makes a second PUT of anything fail once the object exists,
// and Head returns the checksum the store verified.
func TestCreateOnceWithChecksum(t *testing.T) {
	s := s3test.Store(t)
	ctx := context.Background()
	key := "ws/" + id.New[id.WorkspaceID]().String() + "/assets/a"
	body := []byte("the one true file")
	sum := sha256.Sum256(body)
	p, err := s.PresignCreate(ctx, key, "video/mp4", int64(len(body)), sum[:], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.Headers["X-Amz-Checksum-Sha256"] != base64.StdEncoding.EncodeToString(sum[:]) || p.Headers["If-None-Match"] != "*" || p.Headers["Content-Type"] != "video/mp4" {
		t.Fatalf("headers %v", p.Headers)
	}
	other := bytes.ToUpper(body)
	if code := send(t, p, other); code != 400 {
		t.Fatalf("other bytes of the same length: %d, want 400 BadDigest", code)
	}
	if code := send(t, p, body, "X-Amz-Checksum-Sha256"); code != 403 {
		t.Fatalf("without the checksum header: %d, want 403", code)
	}
	if code := send(t, p, body, "If-None-Match"); code != 403 {
		t.Fatalf("without If-None-Match: %d, want 403", code)
	}
	if code := send(t, p, body); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if code := send(t, p, body); code != 412 {
		t.Fatalf("second PUT of the same bytes: %d, want 412", code)
	}
	c, err := s.Head(ctx, key)
	if err != nil || !bytes.Equal(c.SHA256, sum[:]) || c.Size != int64(len(body)) || c.ContentType != "video/mp4" {
		t.Fatalf("head: %+v %v", c, err)
	}
	if _, err := s.Head(ctx, key+"x"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("head of a missing key: %v", err)
	}
}

// TestMultipart against versitygw: per-part checksums are enforced, parts
// can be listed (resume), completion composes the parts' checksums and
// happens once, abort discards an upload.
func TestMultipart(t *testing.T) {
	s := s3test.Store(t)
	ctx := context.Background()
	key := "ws/" + id.New[id.WorkspaceID]().String() + "/assets/mp"
	data := make([]byte, blob.MinPart+1000)
	rand.Read(data)
	chunks := [][]byte{data[:blob.MinPart], data[blob.MinPart:]}
	up, err := s.StartMultipart(ctx, key, "application/mxf")
	if err != nil {
		t.Fatal(err)
	}
	var parts []blob.Part
	for i, c := range chunks {
		sum := sha256.Sum256(c)
		parts = append(parts, blob.Part{Number: int32(i + 1), Size: int64(len(c)), SHA256: sum[:]})
	}
	p1, err := s.PresignPart(ctx, key, up, parts[0], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), chunks[0]...)
	bad[0] ^= 1
	if code := send(t, p1, bad); code != 400 {
		t.Fatalf("part with other bytes: %d, want 400", code)
	}
	if code := send(t, p1, chunks[0]); code != 200 {
		t.Fatalf("part 1: %d", code)
	}
	got, err := s.ListParts(ctx, key, up)
	if err != nil || len(got) != 1 || got[0].Number != 1 || got[0].Size != blob.MinPart || !bytes.Equal(got[0].SHA256, parts[0].SHA256) {
		t.Fatalf("list after part 1: %+v %v", got, err)
	}
	p2, _ := s.PresignPart(ctx, key, up, parts[1], time.Minute)
	if code := send(t, p2, chunks[1]); code != 200 {
		t.Fatalf("part 2: %d", code)
	}
	listed, err := s.ListParts(ctx, key, up)
	if err != nil || len(listed) != 2 {
		t.Fatalf("list: %+v %v", listed, err)
	}
	composite, err := s.CompleteMultipart(ctx, key, up, listed)
	h := sha256.New()
	h.Write(parts[0].SHA256)
	h.Write(parts[1].SHA256)
	want := base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-2"
	if err != nil || composite != want {
		t.Fatalf("composite %q %v, want %q", composite, err, want)
	}
	c, err := s.Head(ctx, key)
	if err != nil || c.Composite != want || c.SHA256 != nil || c.Size != int64(len(data)) {
		t.Fatalf("head: %+v %v", c, err)
	}
	rc, err := s.OpenRange(ctx, key, blob.MinPart)
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(tail, chunks[1]) {
		t.Fatal("range read differs")
	}
	// A second upload to the same key cannot complete over the object.
	up2, _ := s.StartMultipart(ctx, key, "application/mxf")
	p, _ := s.PresignPart(ctx, key, up2, parts[1], time.Minute)
	send(t, p, chunks[1])
	l2, _ := s.ListParts(ctx, key, up2)
	if _, err := s.CompleteMultipart(ctx, key, up2, l2); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("completed over an existing object: %v", err)
	}
	uploads, err := s.ListMultipart(ctx, key, time.Now().Add(time.Minute))
	if err != nil || len(uploads) != 1 || uploads[0].UploadID != up2 {
		t.Fatalf("list uploads: %+v %v", uploads, err)
	}
	if err := s.AbortMultipart(ctx, key, up2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListParts(ctx, key, up2); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("parts of an aborted upload: %v", err)
	}
}
