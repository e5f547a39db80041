package openapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/guard"
)

type thing struct {
	ID      string    `json:"id"`
	Name    *string   `json:"name"`
	Tags    []string  `json:"tags"`
	Note    string    `json:"note,omitempty"`
	Created time.Time `json:"created_at"`
}

type thingInput struct {
	Name string `json:"name"`
}

func table() []guard.Route {
	h := func(http.ResponseWriter, *http.Request, *guard.Access) error { return nil }
	return []guard.Route{
		{Method: "POST", Pattern: "/v1/things", Policy: guard.Authenticated(), Handler: h, Function: "f",
			Request: thingInput{}, Reply: thing{}, Status: http.StatusCreated},
		{Method: "GET", Pattern: "/v1/things/{id}", Policy: guard.Public(), Handler: h, Function: "f", Reply: thing{}},
		{Method: "DELETE", Pattern: "/v1/things/{id}", Policy: guard.Authenticated(), Handler: h, Function: "f", Status: http.StatusNoContent},
		{Method: "GET", Pattern: "/v1/untyped", Policy: guard.Public(), Handler: h, Function: "f"},
		{Method: "POST", Pattern: "/v1/raw", Policy: guard.Public(), Handler: h, Function: "f", Reply: thing{},
			RequestTypes: []string{"video/mp4", "image/jpeg"}},
	}
}

// TestValidatorCatchesDrift: each way a reply or an accepted request can
// disagree with the document is reported, naming the route; agreeing
// exchanges pass.
func TestValidatorCatchesDrift(t *testing.T) {
	doc, err := Build(Info{Title: "t", Version: "1"}, table(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(doc)
	if err != nil {
		t.Fatal(err)
	}
	const good = `{"id":"x","name":null,"tags":null,"created_at":"2026-01-01T00:00:00Z"}`
	jsonH := http.Header{"Content-Type": {"application/json"}}
	probH := http.Header{"Content-Type": {"application/problem+json"}}
	for _, tc := range []struct {
		name, method, path, reqBody string
		status                      int
		header                      http.Header
		body                        string
		want                        string // "" = valid
	}{
		{"valid reply", "GET", "/v1/things/1", "", 200, jsonH, good, ""},
		{"valid create", "POST", "/v1/things", `{"name":"a"}`, 201, jsonH, good, ""},
		{"undocumented field", "GET", "/v1/things/1", "", 200, jsonH, `{"id":"x","name":"n","tags":[],"created_at":"t","secret":1}`, `field "secret" is not documented`},
		{"missing required", "GET", "/v1/things/1", "", 200, jsonH, `{"name":"n","tags":[],"created_at":"t"}`, `required field "id" missing`},
		{"wrong type", "GET", "/v1/things/1", "", 200, jsonH, `{"id":5,"name":"n","tags":[],"created_at":"t"}`, `$.id: number, want string`},
		{"wrong item type", "GET", "/v1/things/1", "", 200, jsonH, `{"id":"x","name":"n","tags":[1],"created_at":"t"}`, `$.tags[0]`},
		{"undocumented status", "POST", "/v1/things", `{"name":"a"}`, 200, jsonH, good, "answered 200"},
		{"accepted request off-schema", "POST", "/v1/things", `{"nom":"a"}`, 201, jsonH, good, `request: $: required field "name" missing`},
		{"refused request not checked", "POST", "/v1/things", `{"nom":"a"}`, 400, probH, `{"type":"https://x/p","title":"Bad","status":400}`, ""},
		{"error not a problem", "GET", "/v1/things/1", "", 404, jsonH, `{}`, "not application/problem+json"},
		{"problem missing status", "GET", "/v1/things/1", "", 404, probH, `{"type":"https://x/p","title":"t"}`, `required field "status" missing`},
		{"204 without a body", "DELETE", "/v1/things/1", "", 204, http.Header{}, "", ""},
		{"unknown path answered 200", "GET", "/nowhere", "", 200, jsonH, `{}`, "no documented route"},
		{"untyped route: body not checked", "GET", "/v1/untyped", "", 200, jsonH, `{"anything":1}`, ""},
		{"untyped route: status still checked", "GET", "/v1/untyped", "", 201, jsonH, `{}`, "answered 201"},
		{"raw request body: not JSON, fine", "POST", "/v1/raw", "\x00\x00\x00\x18ftypisom", 200, jsonH, good, ""},
		{"raw request body: reply still checked", "POST", "/v1/raw", "\xff\xd8", 200, jsonH, `{"id":1}`, "$.id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
			errs := v.Check(Exchange{Request: r, RequestBody: []byte(tc.reqBody), Status: tc.status, Header: tc.header, Body: []byte(tc.body)})
			got := strings.Join(errs, "\n")
			if tc.want == "" && got != "" {
				t.Fatalf("valid exchange reported: %s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("want a report containing %q, got %q", tc.want, got)
			}
		})
	}
}

// TestDocumentShape: the table's facts reach the document.
func TestDocumentShape(t *testing.T) {
	doc, err := Build(Info{Title: "t", Version: "1"}, table(), []Webhook{{Type: "thing.made", Payload: thing{}}})
	if err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]map[string]any)
	post := paths["/v1/things"]["post"].(map[string]any)
	if _, ok := post["responses"].(map[string]any)["201"]; !ok {
		t.Errorf("POST /v1/things: no 201 response: %v", post["responses"])
	}
	if sec := post["security"].([]any); len(sec) != 1 {
		t.Errorf("authenticated route without the session scheme: %v", sec)
	}
	if sec := paths["/v1/things/{id}"]["get"].(map[string]any)["security"].([]any); len(sec) != 0 {
		t.Errorf("public route demands security: %v", sec)
	}
	raw, _ := paths["/v1/raw"]["post"].(map[string]any)["requestBody"].(map[string]any)
	content, _ := raw["content"].(map[string]any)
	for _, mt := range []string{"video/mp4", "image/jpeg"} {
		if s, _ := content[mt].(map[string]any)["schema"].(map[string]any); s["format"] != "binary" {
			t.Errorf("POST /v1/raw: request body %s not documented as binary: %v", mt, raw)
		}
	}
	if _, ok := content["application/json"]; ok {
		t.Errorf("raw request documented as JSON: %v", raw)
	}
	if _, ok := doc["webhooks"].(map[string]any)["thing.made"]; !ok {
		t.Error("webhook event missing")
	}
	if _, ok := doc["components"].(map[string]any)["schemas"].(map[string]any)["openapi.thing"]; !ok {
		t.Error("named reply type not a component")
	}
}
