package lambdafn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// echo is what the echo handler saw of a request.
type echo struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	EscPath    string              `json:"esc_path"`
	Query      string              `json:"query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Header     map[string][]string `json:"header"`
	Body       []byte              `json:"body"`
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Set-Cookie", "a=1; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "b=2, with comma; Path=/")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Cookie")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, Path: r.URL.Path, EscPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Host: r.Host, RemoteAddr: r.RemoteAddr, Header: r.Header, Body: b})
	})
}

func v2Event(method, rawPath, query string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: rawPath, RawQueryString: query, Headers: headers}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = rawPath
	ev.RequestContext.HTTP.SourceIP = "203.0.113.9"
	ev.RequestContext.RequestID = "Abc123="
	ev.RequestContext.DomainName = "api.example.com"
	return ev
}

// TestAPIHeadersArriveWhole is observed #1 of issue 12: every header value
// reaches the handler exactly as API Gateway delivered it. The
// aws-lambda-go-api-proxy v2 adapter split values on commas, so
// Stripe-Signature arrived as "t=…" and Idempotency-Key "a,b" as "a".
func TestAPIHeadersArriveWhole(t *testing.T) {
	cases := []struct {
		name, header, value string
	}{
		{"stripe signature", "stripe-signature", "t=1795528800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"},
		{"idempotency key with comma", "idempotency-key", "a,b"},
		{"standard webhooks signature", "webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="},
		{"quoted comma", "if-none-match", `"a,b", "c"`},
		{"leading and trailing spaces kept as sent", "x-custom", "v1, v2 ,v3"},
		{"joined repeats as API Gateway sends them", "accept", "text/html,application/json;q=0.9"},
		{"date with comma", "if-modified-since", "Tue, 24 Nov 2026 14:00:00 GMT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := v2Event("POST", "/v1/x", "", map[string]string{c.header: c.value, "content-type": "application/json"})
			res, err := API(echoHandler())(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var got echo
			if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
				t.Fatalf("%v: %s", err, res.Body)
			}
			want := []string{c.value}
			if h := got.Header[http.CanonicalHeaderKey(c.header)]; !reflect.DeepEqual(h, want) {
				t.Fatalf("%s reached the handler as %q, want %q", c.header, h, want)
			}
		})
	}
}

func TestAPIRequestConversion(t *testing.T) {
	ev := v2Event("PUT", "/v1/files/a%2Fb", "x=1&y=a%2Cb", map[string]string{
		"host": "api.example.com", "x-request-id": "spoofed", "content-type": "application/octet-stream",
	})
	ev.Cookies = []string{"fb_session=abc", "theme=dark"}
	raw := []byte{0, 1, 2, 0xff, 0xfe, 'x'}
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(raw), true
	res, err := API(echoHandler())(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var got echo
	if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	if got.Method != "PUT" || got.Path != "/v1/files/a/b" || got.EscPath != "/v1/files/a%2Fb" || got.Query != "x=1&y=a%2Cb" {
		t.Errorf("request line: %+v", got)
	}
	if got.Host != "api.example.com" || got.RemoteAddr != "203.0.113.9:0" {
		t.Errorf("host %q remote %q", got.Host, got.RemoteAddr)
	}
	if c := got.Header["Cookie"]; !reflect.DeepEqual(c, []string{"fb_session=abc; theme=dark"}) {
		t.Errorf("cookies %q", c)
	}
	if rid := got.Header["X-Request-Id"]; !reflect.DeepEqual(rid, []string{"Abc123"}) {
		t.Errorf("X-Request-Id %q: want API Gateway's id, not the caller's", rid)
	}
	if string(got.Body) != string(raw) {
		t.Errorf("body %x, want %x", got.Body, raw)
	}
	if !reflect.DeepEqual(res.Cookies, []string{"a=1; Path=/; HttpOnly", "b=2, with comma; Path=/"}) {
		t.Errorf("response cookies %q", res.Cookies)
	}
	if res.Headers["Vary"] != "Origin, Cookie" || res.Headers["Set-Cookie"] != "" {
		t.Errorf("response headers %q", res.Headers)
	}
}

func TestAPIResponseBody(t *testing.T) {
	for _, c := range []struct {
		name, ct string
		body     []byte
		b64      bool
	}{
		{"json", "application/json", []byte(`{"a":1}`), false},
		{"problem", "application/problem+json", []byte(`{"status":404}`), false},
		{"text", "text/plain; charset=utf-8", []byte("héllo"), false},
		{"binary type", "video/mp4", []byte("ftypisom"), true},
		{"invalid utf-8 in text", "text/plain", []byte{0xff, 0xfe}, true},
		{"empty", "", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.ct != "" {
				h.Set("Content-Type", c.ct)
			}
			res := Response(200, h, c.body)
			if res.IsBase64Encoded != c.b64 {
				t.Fatalf("base64 = %v, want %v", res.IsBase64Encoded, c.b64)
			}
			got := []byte(res.Body)
			if c.b64 {
				var err error
				if got, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != string(c.body) {
				t.Fatalf("body %q, want %q", got, c.body)
			}
		})
	}
}

func TestAPIMalformedEvent(t *testing.T) {
	for name, ev := range map[string]events.APIGatewayV2HTTPRequest{
		"no method": {RawPath: "/x"},
		"bad base64": func() events.APIGatewayV2HTTPRequest {
			e := v2Event("POST", "/x", "", nil)
			e.Body, e.IsBase64Encoded = "!!", true
			return e
		}(),
		"no path":  v2Event("GET", "", "", nil),
		"relative": v2Event("GET", "x", "", nil),
	} {
		t.Run(name, func(t *testing.T) {
			called := false
			res, err := API(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))(context.Background(), ev)
			if err != nil || res.StatusCode != 400 || called {
				t.Fatalf("status %d err %v called %v", res.StatusCode, err, called)
			}
		})
	}
}

// FuzzRequest: any event converts without panicking, and every header
// value arrives unchanged.
func FuzzRequest(f *testing.F) {
	f.Add("/v1/x", "a=1", "idempotency-key", "a,b", "", false)
	f.Add("/v1/%zz", "", "stripe-signature", "t=1,v1=ab", "aGk=", true)
	f.Fuzz(func(t *testing.T, path, query, hk, hv, body string, b64 bool) {
		ev := v2Event("POST", path, query, map[string]string{hk: hv})
		ev.Body, ev.IsBase64Encoded = body, b64
		r, err := Request(context.Background(), ev)
		if err != nil {
			return
		}
		ck := http.CanonicalHeaderKey(hk)
		switch ck {
		case "Host", "X-Request-Id":
			return
		}
		if got := r.Header[ck]; len(got) != 1 || got[0] != hv {
			t.Fatalf("header %q = %q, want [%q]", hk, got, hv)
		}
	})
}
