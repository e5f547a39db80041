package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framebroker/framebroker/shared/cron"
)

// CronEvent is what an EventBridge schedule sends the cron Lambda: the
// rule's target input is this object (not the EventBridge envelope), with
// the secret resolved from Secrets Manager at deploy time.
type CronEvent struct {
	Job    string `json:"job"`
	Secret string `json:"secret"`
}

// Object is the event as the rule target input.
func (e CronEvent) Object() map[string]any {
	return map[string]any{"job": e.Job, "secret": e.Secret}
}

// Cron runs a CronEvent through h as POST /internal/cron/{job} with the
// secret in X-Cron-Secret, so the schedule goes through the same guard
// (constant-time secret check) and handler as the local ticker's calls. A
// non-2xx reply is an error (Lambda counts it; EventBridge retries).
func Cron(h http.Handler) func(context.Context, CronEvent) (json.RawMessage, error) {
	return func(ctx context.Context, ev CronEvent) (json.RawMessage, error) {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/internal/cron/"+url.PathEscape(ev.Job), http.NoBody)
		req.Header.Set(cron.HeaderSecret, ev.Secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := bytes.TrimSpace(rec.Body.Bytes())
		if rec.Code < 200 || rec.Code > 299 {
			return nil, fmt.Errorf("cron %q: status %d: %s", ev.Job, rec.Code, body)
		}
		if !json.Valid(body) {
			body = nil
		}
		return body, nil
	}
}

// isCronEvent tells a CronEvent from an API Gateway event.
func isCronEvent(raw []byte) (CronEvent, bool) {
	var probe struct {
		CronEvent
		RequestContext json.RawMessage `json:"requestContext"`
	}
	if json.Unmarshal(raw, &probe) != nil || probe.Job == "" || probe.RequestContext != nil {
		return CronEvent{}, false
	}
	return probe.CronEvent, true
}

// dispatch serves both event shapes a route Lambda receives: API Gateway v2
// requests and, for the function serving the cron route, CronEvents.
func dispatch(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	api, cronFn := API(h), Cron(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if ev, ok := isCronEvent(raw); ok {
			return cronFn(ctx, ev)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("lambdafn: event is neither a cron event nor an API Gateway v2 request: %w", err)
		}
		return api(ctx, ev)
	}
}
