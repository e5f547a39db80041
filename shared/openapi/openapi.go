// Package openapi generates the API's OpenAPI 3.1 document from the router
// table (guard.Route: method, pattern, policy, request and reply types) so
// the contract has one source of truth, and validates requests and replies
// against it (the test harness runs every exchange of the suite through
// Validator, so the document cannot drift from the code).
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/problem"
)

// Version is the OpenAPI version of the document.
const Version = "3.1.0"

// Path is where the document is served.
const Path = "/v1/openapi.json"

// Webhook is one event the API delivers to webhook endpoints: its type
// (e.g. "job.completed") and the zero value of its payload ("data").
type Webhook struct {
	Type    string
	Summary string
	Payload any
}

// Info describes the API for the document's info object.
type Info struct {
	Title       string
	Version     string
	Description string
}

// Document is an OpenAPI document as generic JSON (it is only ever
// marshalled, served and walked by the validator).
type Document map[string]any

// Build generates the document for routes (the router table), the webhook
// events and the problem types. Routes with the same pattern share a path
// item. envelope is the zero value of the webhook delivery body; its "data"
// field is replaced per event by the event's payload schema.
func Build(info Info, routes []guard.Route, hooks []Webhook) (Document, error) {
	g := newGen()
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op, err := g.operation(rt)
		if err != nil {
			return nil, fmt.Errorf("openapi: %s %s: %w", rt.Method, rt.Pattern, err)
		}
		item := paths[rt.Pattern]
		if item == nil {
			item = map[string]any{}
			paths[rt.Pattern] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	webhooks := map[string]any{}
	for _, h := range hooks {
		data := g.schema(typeOf(h.Payload))
		body := map[string]any{
			"type": "object", "additionalProperties": false,
			"required": []string{"type", "timestamp", "data"},
			"properties": map[string]any{
				"type":      map[string]any{"const": h.Type},
				"timestamp": map[string]any{"type": "string", "format": "date-time"},
				"data":      data,
			},
		}
		webhooks[h.Type] = map[string]any{"post": map[string]any{
			"operationId": "webhook_" + sanitize(h.Type),
			"security":    []any{},
			"summary":     h.Summary,
			"description": "Delivered with the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature (v1, HMAC-SHA256 of id.timestamp.body with the endpoint's whsec_ secret). Answer 2xx within the timeout; other answers are retried (1m, 5m, 30m, then further steps with jitter).",
			"parameters": []any{
				map[string]any{"name": "webhook-id", "in": "header", "required": true, "schema": map[string]any{"type": "string"}},
				map[string]any{"name": "webhook-timestamp", "in": "header", "required": true, "schema": map[string]any{"type": "string"}},
				map[string]any{"name": "webhook-signature", "in": "header", "required": true, "schema": map[string]any{"type": "string"}},
			},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": body}}},
			"responses":   map[string]any{"2XX": map[string]any{"description": "Received; any 2xx ends the retries."}},
		}}
	}
	var kinds []string
	for k := problem.Kind(0); k < 64; k++ {
		if k.String() != "" {
			kinds = append(kinds, fmt.Sprintf("- `%s` (%d): %s", k.Type(), k.Status(), k.String()))
		}
	}
	kinds = append(kinds, "\nRefusals with their own type, and what a client should do:")
	for _, f := range problem.Refusals() {
		kinds = append(kinds, fmt.Sprintf("- `%s` (%d): %s. %s", f.Type(), f.Kind.Status(), f.Title, f.Advice))
	}
	g.schemas["Problem"] = map[string]any{
		"type":        "object",
		"description": "An error (RFC 9457 application/problem+json). The `type` URI is stable API; the kinds:\n" + strings.Join(kinds, "\n"),
		"required":    []string{"type", "title", "status"},
		"properties": map[string]any{
			"type":       map[string]any{"type": "string", "format": "uri"},
			"title":      map[string]any{"type": "string"},
			"status":     map[string]any{"type": "integer"},
			"detail":     map[string]any{"type": "string"},
			"instance":   map[string]any{"type": "string"},
			"request_id": map[string]any{"type": "string"},
			"errors": map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "required": []string{"field", "detail"},
				"properties": map[string]any{"field": map[string]any{"type": "string"}, "detail": map[string]any{"type": "string"}},
			}},
		},
	}
	return Document{
		"openapi": Version,
		"info": map[string]any{
			"title": info.Title, "version": info.Version, "description": info.Description,
			"license": map[string]any{"name": "Proprietary", "identifier": "LicenseRef-Framebroker"},
		},
		"servers":  []any{map[string]any{"url": "/", "description": "this deployment"}},
		"paths":    paths,
		"webhooks": webhooks,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "http", "scheme": "bearer", "description": "A session token from POST /v1/auth/login (or a magic link, OAuth)."},
				"cronSecret": map[string]any{"type": "apiKey", "in": "header", "name": "X-Cron-Secret",
					"description": "Platform-internal routes: the shared secret, compared in constant time."},
			},
			"parameters": map[string]any{
				"limit":  map[string]any{"name": "limit", "in": "query", "description": "Page size.", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
				"cursor": map[string]any{"name": "cursor", "in": "query", "description": "The next_cursor of the previous page.", "schema": map[string]any{"type": "string"}},
			},
			"headers": map[string]any{
				"RateLimit":        map[string]any{"description": "IETF RateLimit: the caller's remaining allowance.", "schema": map[string]any{"type": "string"}},
				"RateLimit-Policy": map[string]any{"description": "IETF RateLimit-Policy: the quotas that apply.", "schema": map[string]any{"type": "string"}},
				"Retry-After":      map[string]any{"description": "Seconds to wait before retrying.", "schema": map[string]any{"type": "integer"}},
			},
			"responses": map[string]any{
				"Problem": map[string]any{"description": "An error; the `type` says which.", "content": problemContent()},
				"RateLimited": map[string]any{"description": "The caller's allowance is spent.", "content": problemContent(),
					"headers": map[string]any{"Retry-After": ref("headers", "Retry-After")}},
			},
		},
	}, nil
}

func problemContent() map[string]any {
	return map[string]any{"application/problem+json": map[string]any{"schema": ref("schemas", "Problem")}}
}

func ref(kind, name string) map[string]any {
	return map[string]any{"$ref": "#/components/" + kind + "/" + name}
}

// operation is one route's operation object.
func (g *gen) operation(rt guard.Route) (map[string]any, error) {
	op := map[string]any{
		"operationId": operationID(rt),
		"tags":        []string{rt.Function},
	}
	op["summary"] = rt.Summary
	if rt.Summary == "" {
		op["summary"] = rt.Method + " " + rt.Pattern
	}
	var params []any
	for _, p := range rt.Params() {
		params = append(params, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.Query {
		if q == "limit" || q == "cursor" {
			params = append(params, ref("parameters", q))
			continue
		}
		params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	switch rt.Policy.Level {
	case guard.LevelPublic:
		op["security"] = []any{}
	case guard.LevelInternal:
		op["security"] = []any{map[string]any{"cronSecret": []string{}}}
	default:
		op["security"] = []any{map[string]any{"session": []string{}}}
	}
	desc := "Access: " + rt.Policy.String() + "."
	if rt.Policy.Level == guard.LevelMember {
		desc += " A workspace the caller is not a member of, and any resource of another workspace, is answered 404 exactly like a missing one."
	}
	op["description"] = desc
	switch {
	case rt.Request != nil:
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schema(typeOf(rt.Request))},
		}}
	case len(rt.RequestTypes) > 0:
		content := map[string]any{}
		for _, t := range rt.RequestTypes {
			content[t] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
		}
		op["requestBody"] = map[string]any{"required": true, "content": content,
			"description": "The file itself as the raw request body (not JSON, not multipart)."}
	}
	if rt.Reply == nil && rt.ReplyType == "" && rt.SuccessStatus() != http.StatusNoContent {
		// Not described yet (app's TestEveryRouteIsTyped names it): the
		// validator checks only its status and error replies.
		op["x-untyped"] = true
	}
	ok := map[string]any{"description": http.StatusText(rt.SuccessStatus())}
	switch {
	case rt.Reply != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(typeOf(rt.Reply))}}
	case rt.ReplyType != "":
		ok["content"] = map[string]any{rt.ReplyType: map[string]any{"schema": map[string]any{"type": "string"}}}
	}
	responses := map[string]any{
		fmt.Sprint(rt.SuccessStatus()): ok,
		"default":                      ref("responses", "Problem"),
	}
	for _, st := range rt.AlsoStatus {
		also := map[string]any{"description": http.StatusText(st)}
		if c, ok := ok["content"]; ok {
			also["content"] = c
		}
		responses[fmt.Sprint(st)] = also
	}
	if rt.SeeOther {
		responses["303"] = map[string]any{"description": "A browser (Accept: text/html) is sent to a page; results travel in the Location's fragment.",
			"headers": map[string]any{"Location": map[string]any{"schema": map[string]any{"type": "string"}}}}
	}
	if rt.Limit != nil {
		ok["headers"] = map[string]any{"RateLimit": ref("headers", "RateLimit"), "RateLimit-Policy": ref("headers", "RateLimit-Policy")}
		responses["429"] = ref("responses", "RateLimited")
	}
	op["responses"] = responses
	return op, nil
}

// operationID is a stable, unique id: method and pattern, e.g.
// post_v1_workspaces_ws_jobs.
func operationID(rt guard.Route) string {
	return strings.ToLower(rt.Method) + "_" + sanitize(rt.Pattern)
}

func sanitize(s string) string {
	var b strings.Builder
	under := true
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// JSON is the document as indented JSON with sorted keys.
func (d Document) JSON() ([]byte, error) { return json.MarshalIndent(d, "", "  ") }

// Handler serves the document (public, cacheable for a minute).
func Handler(d Document) (http.HandlerFunc, error) {
	b, err := d.JSON()
	if err != nil {
		return nil, err
	}
	return ServeJSON(b), nil
}

// ServeJSON serves an already encoded document b (Document.JSON), as
// Handler does.
func ServeJSON(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	}
}
