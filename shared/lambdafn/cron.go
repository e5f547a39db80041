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
// rule's target input is this object (not the EventBridge envelope). The
// schedule sends only the job: the cron secret stays in Secrets Manager,
// which the function reads itself at cold start (EnvCronSecretArn), and
// who may invoke the function is the Lambda resource policy's decision.
// Secret, when an event carries one, is checked instead of the function's
// own (a wrong one is refused).
type CronEvent struct {
	Job    string `json:"job"`
	Secret string `json:"secret,omitempty"`
}

// Object is the event as the rule target input.
func (e CronEvent) Object() map[string]any {
	m := map[string]any{"job": e.Job}
	if e.Secret != "" {
		m["secret"] = e.Secret
	}
	return m
}

// Cron runs a CronEvent through h as POST /internal/cron/{job} with the
// event's secret, or else own (the function's resolved cron secret), in
// X-Cron-Secret, so the schedule goes through the same guard
// (constant-time secret check) and handler as the local ticker's calls. A
// non-2xx reply is an error (Lambda counts it; EventBridge retries).
func Cron(h http.Handler, own string) func(context.Context, CronEvent) (json.RawMessage, error) {
	return func(ctx context.Context, ev CronEvent) (json.RawMessage, error) {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/internal/cron/"+url.PathEscape(ev.Job), http.NoBody)
		secret := ev.Secret
		if secret == "" {
			secret = own
		}
		req.Header.Set(cron.HeaderSecret, secret)
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

// Dispatch serves both event shapes a route Lambda receives: API Gateway v2
// requests and, for the function serving the cron route, CronEvents (run
// with cronSecret unless the event carries its own).
func Dispatch(h http.Handler, cronSecret string) func(context.Context, json.RawMessage) (any, error) {
	api, cronFn := API(h), Cron(h, cronSecret)
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
