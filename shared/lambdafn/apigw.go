package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Request converts an API Gateway HTTP API event (payload format 2.0) into
// the http.Request the handlers serve, delivering every header exactly as
// API Gateway did: a value is never split on commas (Stripe-Signature
// "t=…,v1=…", an Idempotency-Key "a,b" and Standard Webhooks'
// "v1,<sig>" reach the handler whole). API Gateway has already joined
// repeated request headers with commas; the handler sees that one value.
// Cookies (which payload 2.0 moves out of the headers into their own list)
// become one Cookie header; a base64 body is decoded; RemoteAddr is the
// gateway's view of the source IP; API Gateway's request id becomes
// X-Request-Id (any X-Request-Id the caller sent is dropped).
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("lambdafn: event has no requestContext.http.method")
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if path == "" || path[0] != '/' {
		return nil, fmt.Errorf("lambdafn: event path %q is not absolute", path)
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	// rawPath is the path as the client sent it (percent-encoded):
	// keep its encoding when it is one, so %2F stays distinct from /.
	if p, err := url.PathUnescape(path); err == nil && p != path {
		u.Path, u.RawPath = p, path
	}
	var body []byte
	if ev.Body != "" {
		if ev.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(ev.Body)
			if err != nil {
				return nil, fmt.Errorf("lambdafn: base64 body: %w", err)
			}
			body = b
		} else {
			body = []byte(ev.Body)
		}
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambdafn: request: %w", err)
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.ContentLength = int64(len(body))
	if body == nil {
		r.Body = http.NoBody
	}
	r.Header = make(http.Header, len(ev.Headers)+2)
	for k, v := range ev.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "X-Request-Id" && ev.RequestContext.RequestID != "" {
			continue
		}
		r.Header[ck] = append(r.Header[ck], v)
	}
	if len(ev.Cookies) > 0 {
		r.Header["Cookie"] = append(r.Header["Cookie"], strings.Join(ev.Cookies, "; "))
	}
	if rid := ev.RequestContext.RequestID; rid != "" {
		r.Header["X-Request-Id"] = []string{strings.ReplaceAll(rid, "=", "")}
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	delete(r.Header, "Host")
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		r.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	return r, nil
}

// responseWriter collects a handler's reply for Response.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Response converts a handler's reply into API Gateway's payload 2.0
// response: Set-Cookie values go to cookies (one each), other repeated
// headers are joined with ", " (the only form payload 2.0 has), and a body
// that is not UTF-8 text is sent base64-encoded.
func Response(status int, header http.Header, body []byte) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range header {
		if len(vs) == 0 {
			continue
		}
		if textproto.CanonicalMIMEHeaderKey(k) == "Set-Cookie" {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	if len(body) > 0 && (!utf8.Valid(body) || !textual(header.Get("Content-Type"))) {
		res.Body, res.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		res.Body = string(body)
	}
	return res
}

// textual reports whether a content type is text that API Gateway may carry
// as a plain string.
func textual(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/x-ndjson" ||
		mt == "application/jsonl" || mt == "application/javascript" || mt == "application/x-www-form-urlencoded"
}

// API adapts h to API Gateway v2 events through Request and Response. A
// malformed event (which API Gateway does not send) is answered 400.
func API(h http.Handler) APIHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest,
				Headers: map[string]string{"Content-Type": "application/problem+json"},
				Body:    `{"type":"about:blank","title":"Bad Request","status":400}`}, nil
		}
		w := &responseWriter{header: http.Header{}}
		h.ServeHTTP(w, r)
		if w.status == 0 {
			w.status = http.StatusOK
		}
		_, _ = io.Copy(io.Discard, r.Body)
		return Response(w.status, w.header, w.body.Bytes()), nil
	}
}
