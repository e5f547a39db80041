package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/config"
)

// TestConnectionLossIsInvisible (issue 16, observed #7): while four
// clients read a project as fast as they can, every connection the app
// role holds to the test database is terminated (pg_terminate_backend,
// what an Aurora failover or a proxy restart does to the pool), five times.
// Every request must still succeed: a dead pooled connection is replaced
// and the read retried once, never answered 503.
func TestConnectionLossIsInvisible(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("connloss@example.com")
	ws := e.Workspace(tok, "Conn")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "p"}).Str("id")
	url := e.Server.URL + "/v1/workspaces/" + ws + "/projects/" + prj

	admin, err := pgx.Connect(context.Background(), os.Getenv(config.EnvAdminDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())

	const clients = 4
	var done, failed atomic.Int64
	var perClient [clients]atomic.Int64 // requests each client finished
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.StatusCode, b))
				}
				done.Add(1)
				perClient[c].Add(1)
			}
		}()
	}
	// waitFor blocks until every client has finished n more requests
	// (progress, not time; the deadline only keeps a broken server from
	// hanging the test). Waiting on each client, not on the total, means
	// a request that was in flight (or retrying) when connections were
	// terminated has finished before the next round: each round is one
	// failover, as in production, not a second one landing on a retry's
	// fresh connection on a slow machine.
	waitFor := func(n int64) {
		t.Helper()
		var target [clients]int64
		for i := range perClient {
			target[i] = perClient[i].Load() + n
		}
		deadline := time.Now().Add(60 * time.Second)
		for i := range perClient {
			for perClient[i].Load() < target[i] {
				if time.Now().After(deadline) {
					close(stop)
					wg.Wait()
					t.Fatalf("no progress: %d requests done, %d failed", done.Load(), failed.Load())
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	waitFor(12)
	var killed int64
	for range 5 {
		var n int64
		if err := admin.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE usename = 'framebroker_app' AND datname = $1`, e.DB.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
		waitFor(10)
	}
	close(stop)
	wg.Wait()
	if killed == 0 {
		t.Fatal("no app connection was terminated: the test did not test anything")
	}
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed after %d connections were terminated; first: %v", f, done.Load(), killed, firstFailure.Load())
	}
	t.Logf("%d requests, 0 failed, %d app connections terminated in 5 rounds", done.Load(), killed)
}
