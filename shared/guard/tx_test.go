package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

type fixedAuth struct{ user id.UserID }

func (f fixedAuth) Authenticate(context.Context, string) (guard.Principal, error) {
	return guard.Principal{User: f.user}, nil
}

// TestTransactionModes: a buffered member route runs in the guard's
// transaction and its after-commit hooks run only when it commits (a
// hook's problem becomes the reply); a NoTx route gets no transaction but a
// buffered reply; a Stream route gets neither.
func TestTransactionModes(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	user, ws := uuid.New(), uuid.New()
	for _, q := range []string{
		`INSERT INTO users (id, email, email_canonical) SELECT $1::uuid, 'a@example.com', 'a@example.com' WHERE $2::uuid IS NOT NULL`,
		`INSERT INTO workspaces (id, name, created_by) VALUES ($2, 'w', $1)`,
		`INSERT INTO members (workspace_id, user_id, role) VALUES ($2, $1, 'owner')`,
	} {
		if _, err := d.Owner.Exec(ctx, q, user, ws); err != nil {
			t.Fatal(err)
		}
	}
	hookRan := 0
	var sawTx bool
	hook := func(fail, hookErr bool) guard.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, a *guard.Access) error {
			sawTx = a.Tx != nil
			if a.Tx != nil {
				if err := db.AfterCommit(a.Tx, func(context.Context) error {
					hookRan++
					if hookErr {
						return problem.E("test", problem.Unavailable, "effect failed")
					}
					return nil
				}); err != nil {
					return err
				}
			}
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"partial":true}`))
			if fail {
				return errors.New("handler failed after writing")
			}
			return nil
		}
	}
	routes := []guard.Route{
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/ok", Policy: guard.Member(guard.Viewer), Handler: hook(false, false)},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/fail", Policy: guard.Member(guard.Viewer), Handler: hook(true, false)},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/hookfail", Policy: guard.Member(guard.Viewer), Handler: hook(false, true)},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/notx", Policy: guard.Member(guard.Viewer), Handler: hook(true, false), NoTx: true},
		{Method: "POST", Pattern: "/v1/workspaces/{ws}/stream", Policy: guard.Member(guard.Viewer), Handler: hook(false, false), Stream: true},
	}
	h, err := guard.NewMux(routes, fixedAuth{id.FromUUID[id.UserID](user)}, d.App)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		status   int
		tx       bool
		hookRuns int
		problem  bool
	}{
		{"ok", 202, true, 1, false},
		{"fail", 500, true, 0, true},     // rolled back: the hook never runs, the partial reply is not sent
		{"hookfail", 503, true, 1, true}, // committed, then the effect's own problem is the reply
		{"notx", 500, false, 0, true},    // no transaction, but the reply is buffered
		{"stream", 202, false, 0, false}, // no transaction, written directly
	} {
		t.Run(tc.path, func(t *testing.T) {
			hookRan = 0
			req := httptest.NewRequest("POST", "/v1/workspaces/"+id.FromUUID[id.WorkspaceID](ws).String()+"/"+tc.path, nil)
			req.Header.Set("Authorization", "Bearer x")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.status || sawTx != tc.tx || hookRan != tc.hookRuns {
				t.Fatalf("status %d tx %v hooks %d, want %d %v %d (%s)", w.Code, sawTx, hookRan, tc.status, tc.tx, tc.hookRuns, w.Body)
			}
			if tc.problem {
				var p struct {
					Type string `json:"type"`
				}
				if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type == "" {
					t.Fatalf("not a problem reply: %s", w.Body)
				}
			}
			if n := d.App.Stat().AcquiredConns(); n != 0 {
				t.Fatalf("%d connections still held after the request", n)
			}
		})
	}
}
