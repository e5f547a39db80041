package broker_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/blob/s3blob/s3test"
	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/preset"
)

func do(t *testing.T, method, u string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	if method == "PUT" {
		req.Header.Set("Content-Type", "video/mp4")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// repoint keeps a presigned URL's query (its signature) but swaps the path
// to another object key: what a worker would try to reach another job.
func repoint(t *testing.T, signed, key string) string {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + os.Getenv(config.EnvMediaBucket) + "/" + key
	return u.String()
}

// TestGrantReachesOnlyItsJob (T-04) against versitygw: with job A's URLs a
// worker can read A's input and write A's outputs, and nothing of job B —
// not B's input, not B's outputs or report, not a listing — and an expired
// grant opens nothing.
func TestGrantReachesOnlyItsJob(t *testing.T) {
	s := s3test.Store(t)
	ctx := context.Background()
	ws := id.New[id.WorkspaceID]()
	jobA, jobB := id.New[id.JobID](), id.New[id.JobID]()
	inA := broker.Input{Asset: id.New[id.AssetID](), Key: "ws/" + ws.String() + "/assets/inA"}
	inB := broker.Input{Asset: id.New[id.AssetID](), Key: "ws/" + ws.String() + "/assets/inB"}
	for _, in := range []broker.Input{inA, inB} {
		u, err := s.PresignPut(ctx, in.Key, "video/mp4", 5, time.Minute)
		if err != nil || do(t, "PUT", u, []byte("bytes")) != 200 {
			t.Fatalf("seed %s: %v", in.Key, err)
		}
	}
	p, _ := preset.Lookup("mp4-h264-720p")
	b := broker.Broker{Store: s, TTL: time.Hour}
	gA, err := b.Mint(ctx, ws, jobA, 1, []broker.Input{inA}, p.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	if got := gA.ExpiresAt.Sub(time.Now()); got > time.Hour || got < 59*time.Minute {
		t.Fatalf("grant lives %v", got)
	}
	gB, err := b.Mint(ctx, ws, jobB, 1, []broker.Input{inB}, p.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	// Its own objects: allowed.
	if c := do(t, "GET", gA.Inputs[0], nil); c != 200 {
		t.Fatalf("A reading its input: %d", c)
	}
	if c := do(t, "PUT", gA.Outputs["output.mp4"], []byte("out")); c != 200 {
		t.Fatalf("A writing its output: %d", c)
	}
	// Job B's objects with A's signatures: refused.
	for name, u := range map[string]string{
		"read B's input":          repoint(t, gA.Inputs[0], inB.Key),
		"read B's output":         repoint(t, gA.Inputs[0], broker.OutputKey(ws, jobB, 1, "output.mp4")),
		"list the bucket":         repoint(t, gA.Inputs[0], ""),
		"write B's output":        repoint(t, gA.Outputs["output.mp4"], broker.OutputKey(ws, jobB, 1, "output.mp4")),
		"write B's report":        repoint(t, gA.Report, broker.ReportKey(ws, jobB, 1)),
		"overwrite B's input":     repoint(t, gA.Outputs["output.mp4"], inB.Key),
		"write another attempt":   repoint(t, gA.Outputs["output.mp4"], broker.OutputKey(ws, jobA, 2, "output.mp4")),
		"longer expiry, same sig": strings.Replace(gA.Inputs[0], "X-Amz-Expires=3600", "X-Amz-Expires=86400", 1),
	} {
		method := "GET"
		if strings.HasPrefix(name, "write") || strings.HasPrefix(name, "overwrite") {
			method = "PUT"
		}
		if c := do(t, method, u, []byte("evil")); c != 403 {
			t.Errorf("%s with job A's URL: %d, want 403", name, c)
		}
	}
	// B's own grant still works, and B's input is untouched.
	if c := do(t, "GET", gB.Inputs[0], nil); c != 200 {
		t.Fatalf("B reading its input: %d", c)
	}

	// Expired grants open nothing.
	short := broker.Broker{Store: s, TTL: time.Second}
	gX, err := short.Mint(ctx, ws, jobA, 3, []broker.Input{inA}, p.Outputs)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if c := do(t, "GET", gX.Inputs[0], nil); c != 403 {
		t.Errorf("expired GET: %d, want 403", c)
	}
	if c := do(t, "PUT", gX.Outputs["output.mp4"], []byte("late")); c != 403 {
		t.Errorf("expired PUT: %d, want 403", c)
	}
	// A TTL over an hour is refused before any URL is minted.
	if _, err := (broker.Broker{Store: s, TTL: 2 * time.Hour}).Mint(ctx, ws, jobA, 1, []broker.Input{inA}, p.Outputs); err == nil {
		t.Fatal("minted a grant longer than an hour")
	}
}
