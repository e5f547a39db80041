// Package events holds sample Lambda events for every function (one folder
// per function under events/) and the test that feeds each one through the
// real Lambda handler, wired to the local stack.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/cron"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
	"github.com/framebroker/framebroker/shared/pipeline"
)

type expectation struct {
	Expect struct {
		Status       int    `json:"status"`
		IsAuthorized *bool  `json:"isAuthorized"`
		ErrorType    string `json:"errorType"` // pipeline steps
		OK           bool   `json:"ok"`
	} `json:"_expect"`
}

func wsUUID(t *testing.T, s string) id.WorkspaceID {
	t.Helper()
	var ws id.WorkspaceID
	if err := ws.UnmarshalText([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return ws
}

// fill replaces {{name}} placeholders.
func fill(b []byte, vars map[string]string) []byte {
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return []byte(s)
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// TestEveryFunctionHasEvents checks that each Lambda of functions/ and each
// function of the router table has sample events.
func TestEveryFunctionHasEvents(t *testing.T) {
	dirs, err := os.ReadDir("../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && len(files(t, d.Name())) == 0 {
			t.Errorf("functions/%s has no sample events in events/%s/", d.Name(), d.Name())
		}
	}
}

// TestSampleEvents feeds every sample event through its function's real
// Lambda handler (the API Gateway v2 adapter over the router table, or the
// authorizer) against the local stack.
func TestSampleEvents(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	tok, user := e.User("owner@example.com")
	ws := e.Workspace(tok, "Events")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "P"}).Str("id")
	shot := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": "S"}).Str("id")
	rel := e.Must(201, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "R", "shots": []string{shot}}).Str("id")
	ast := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, map[string]any{"filename": "a.mp4", "content_type": "video/mp4", "size": 5}).Str("id")
	tokOther, _ := e.User("other@example.com")
	wsOther := e.Workspace(tokOther, "Other")
	foreign := e.Must(201, "POST", "/v1/workspaces/"+wsOther+"/projects", tokOther, map[string]string{"name": "theirs"}).Str("id")
	revoked, _ := e.User("revoked@example.com")
	e.Must(204, "POST", "/v1/auth/logout", revoked, nil)
	job := id.New[id.JobID]()
	var wsID id.WorkspaceID
	var astID id.AssetID
	_ = wsID.UnmarshalText([]byte(ws))
	_ = astID.UnmarshalText([]byte(ast))
	if _, err := e.DB.Owner.Exec(ctx, `INSERT INTO jobs (id, workspace_id, preset, inputs) VALUES ($1, $2, 'mp4-h264-720p', $3)`,
		job, wsID, []id.AssetID{astID}); err != nil {
		t.Fatal(err)
	}
	// A workspace due for purge (no grace in tests): the cron events with a
	// wrong or no secret must leave it, the right one must purge it.
	doomed := e.Workspace(tokOther, "Doomed")
	e.Must(202, "DELETE", "/v1/workspaces/"+doomed, tokOther, nil)
	doomedExists := func() bool {
		var n int
		if err := e.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE id = $1`, wsUUID(t, doomed)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	vars := map[string]string{
		"cron_secret": e.Config.CronSecret,
		"job":         job.String(), "release": rel,
		"token": tok, "user": user, "session": "ses_unused", "ws": ws, "project": prj, "shot": shot, "asset": ast,
		"foreign_project": foreign, "revoked_token": revoked, "email": "lambda-signup@example.com",
	}

	fns := e.App.Functions()
	for _, fn := range append(fns, "authorizer", "pipeline") {
		evs := files(t, fn)
		if len(evs) == 0 {
			t.Errorf("function %s has no sample events in events/%s/", fn, fn)
		}
		for _, path := range evs {
			t.Run(path, func(t *testing.T) {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				raw = fill(raw, vars)
				if strings.Contains(string(raw), "{{") {
					t.Fatalf("unfilled placeholder in %s", raw)
				}
				var exp expectation
				if err := json.Unmarshal(raw, &exp); err != nil {
					t.Fatal(err)
				}
				if fn == "pipeline" {
					var p pipeline.Payload
					if err := json.Unmarshal(raw, &p); err != nil {
						t.Fatal(err)
					}
					_, err := appfn.Steps(e.App.Pipeline.Steps)(ctx, p)
					var le messages.InvokeResponse_Error
					switch {
					case exp.Expect.OK && err != nil:
						t.Fatalf("step failed: %v", err)
					case exp.Expect.ErrorType != "" && (!errors.As(err, &le) || le.Type != exp.Expect.ErrorType):
						t.Fatalf("step error %#v, want type %s", err, exp.Expect.ErrorType)
					}
					return
				}
				if fn == cron.Function {
					var ev lambdafn.CronEvent
					if err := json.Unmarshal(raw, &ev); err != nil {
						t.Fatal(err)
					}
					h, err := e.App.FunctionHandler(fn)
					if err != nil {
						t.Fatal(err)
					}
					out, err := lambdafn.Cron(h, e.Config.CronSecret)(ctx, ev)
					if exp.Expect.Status != 0 {
						if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("status %d", exp.Expect.Status)) {
							t.Fatalf("err %v, want status %d", err, exp.Expect.Status)
						}
						if ev.Job == cron.WorkspacePurge && !doomedExists() {
							t.Fatal("a refused purge event purged a workspace")
						}
						return
					}
					var res cron.Result
					if err != nil || json.Unmarshal(out, &res) != nil || !res.Ran || res.Job != ev.Job {
						t.Fatalf("cron %s: %s, %v", ev.Job, out, err)
					}
					if ev.Job == cron.WorkspacePurge && doomedExists() {
						t.Fatalf("the purge event left the workspace due for purge: %s", out)
					}
					return
				}
				if fn == "authorizer" {
					var ev events.APIGatewayV2CustomAuthorizerV2Request
					if err := json.Unmarshal(raw, &ev); err != nil {
						t.Fatal(err)
					}
					res, err := lambdafn.Authorizer(e.App.Identity)(ctx, ev)
					if err != nil {
						t.Fatal(err)
					}
					if exp.Expect.IsAuthorized == nil || res.IsAuthorized != *exp.Expect.IsAuthorized {
						t.Fatalf("isAuthorized = %v, want %v", res.IsAuthorized, *exp.Expect.IsAuthorized)
					}
					if res.IsAuthorized && res.Context["user"] != user {
						t.Fatalf("context user = %v, want %s", res.Context["user"], user)
					}
					return
				}
				var ev events.APIGatewayV2HTTPRequest
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				h, err := e.App.FunctionHandler(fn)
				if err != nil {
					t.Fatal(err)
				}
				res, err := lambdafn.API(h)(ctx, ev)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != exp.Expect.Status {
					t.Fatalf("status %d, want %d; body %s", res.StatusCode, exp.Expect.Status, res.Body)
				}
				ct := res.Headers["Content-Type"]
				if res.StatusCode != 204 && ct != "application/json" && ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				if res.StatusCode >= 400 && !strings.Contains(res.Body, `"request_id":"JKJaXmPLvHcESHA"`) {
					t.Fatalf("problem body lacks API Gateway's request id: %s", res.Body)
				}
			})
		}
	}
}
