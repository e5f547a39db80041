package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Validator checks requests and replies against a document: the subset of
// JSON Schema the generator writes ($ref, type, properties, required,
// additionalProperties, items, const, enum, oneOf).
type Validator struct {
	doc map[string]any
	mux *http.ServeMux
}

// NewValidator prepares doc for Check.
func NewValidator(d Document) (*Validator, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	v := &Validator{mux: http.NewServeMux()}
	if err := json.Unmarshal(b, &v.doc); err != nil {
		return nil, err
	}
	paths, _ := v.doc["paths"].(map[string]any)
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		for method := range paths[p].(map[string]any) {
			v.mux.Handle(strings.ToUpper(method)+" "+p, http.NotFoundHandler())
		}
	}
	return v, nil
}

// Route is the "METHOD pattern" of the documented operation serving r, or
// "" when none does.
func (v *Validator) Route(r *http.Request) string {
	_, pattern := v.mux.Handler(r)
	return pattern
}

// Exchange is one request and its reply.
type Exchange struct {
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Check returns what in x disagrees with the document, each prefixed with
// the route. A request body is checked only when the reply is a success
// (refusing malformed input is the API's job, tested on purpose); every
// error reply must be a problem document; every success reply must have a
// documented status and match its schema.
func (v *Validator) Check(x Exchange) []string {
	route := v.Route(x.Request)
	var errs []string
	fail := func(format string, args ...any) {
		name := route
		if name == "" {
			name = x.Request.Method + " " + x.Request.URL.Path + " (no documented route)"
		}
		errs = append(errs, name+": "+fmt.Sprintf(format, args...))
	}
	ct, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	if x.Status >= 400 {
		if ct != "application/problem+json" {
			fail("%d reply is %q, not application/problem+json", x.Status, ct)
			return errs
		}
		for _, e := range v.value(ref("schemas", "Problem"), x.Body) {
			fail("%d problem: %s", x.Status, e)
		}
		return errs
	}
	if route == "" {
		if x.Status >= 300 && x.Status < 400 {
			return nil // path-cleaning redirect of the mux
		}
		fail("answered %d", x.Status)
		return errs
	}
	method, path, _ := strings.Cut(route, " ")
	op, _ := v.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	responses, _ := op["responses"].(map[string]any)
	res, ok := responses[strconv.Itoa(x.Status)].(map[string]any)
	if !ok {
		var documented []string
		for k := range responses {
			documented = append(documented, k)
		}
		sort.Strings(documented)
		fail("answered %d, documented %v", x.Status, documented)
		return errs
	}
	if untyped, _ := op["x-untyped"].(bool); untyped {
		return errs
	}
	if content, ok := res["content"].(map[string]any); ok {
		media, ok := content[ct].(map[string]any)
		switch {
		case !ok:
			fail("%d reply is %q, documented %v", x.Status, ct, slices.Sorted(maps.Keys(content)))
		case ct == "application/json":
			for _, e := range v.value(media["schema"], x.Body) {
				fail("%d reply: %s", x.Status, e)
			}
		}
	} else if len(bytes.TrimSpace(x.Body)) > 0 && x.Status != http.StatusNoContent && x.Status < 300 {
		fail("%d reply has a body, none documented", x.Status)
	}
	if rb, ok := op["requestBody"].(map[string]any); ok && x.Status < 300 {
		// A JSON body is checked against its schema; a raw (binary) body
		// has no schema to check.
		if media, ok := rb["content"].(map[string]any)["application/json"].(map[string]any); ok {
			for _, e := range v.value(media["schema"], x.RequestBody) {
				fail("request: %s", e)
			}
		}
	}
	return errs
}

func (v *Validator) value(schema any, body []byte) []string {
	var val any
	if err := json.Unmarshal(body, &val); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var errs []string
	v.check(schema, val, "$", &errs, 0)
	return errs
}

func (v *Validator) resolve(s any) map[string]any {
	m, _ := s.(map[string]any)
	for i := 0; i < 8; i++ {
		r, ok := m["$ref"].(string)
		if !ok {
			break
		}
		var cur any = v.doc
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			cur, _ = cur.(map[string]any)[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

func (v *Validator) check(schema any, val any, at string, errs *[]string, depth int) {
	if depth > 64 {
		return
	}
	s := v.resolve(schema)
	if s == nil {
		return
	}
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, alt := range alts {
			var sub []string
			v.check(alt, val, at, &sub, depth+1)
			if len(sub) == 0 {
				n++
			}
		}
		if n != 1 {
			*errs = append(*errs, fmt.Sprintf("%s: matches %d of oneOf's %d schemas", at, n, len(alts)))
		}
		return
	}
	if c, ok := s["const"]; ok && !equalJSON(c, val) {
		*errs = append(*errs, fmt.Sprintf("%s: %v, want %v", at, val, c))
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || equalJSON(e, val)
		}
		if !found {
			*errs = append(*errs, fmt.Sprintf("%s: %v is not one of %v", at, val, enum))
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch tt := t.(type) {
		case string:
			types = []string{tt}
		case []any:
			for _, x := range tt {
				types = append(types, x.(string))
			}
		}
		matched := false
		for _, typ := range types {
			matched = matched || isType(typ, val)
		}
		if !matched {
			*errs = append(*errs, fmt.Sprintf("%s: %s, want %s", at, jsonType(val), strings.Join(types, " or ")))
			return
		}
	}
	switch x := val.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					*errs = append(*errs, fmt.Sprintf("%s: required field %q missing", at, r))
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if ps, ok := props[k]; ok {
				v.check(ps, x[k], at+"."+k, errs, depth+1)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					*errs = append(*errs, fmt.Sprintf("%s: field %q is not documented", at, k))
				}
			case map[string]any:
				v.check(ap, x[k], at+"."+k, errs, depth+1)
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				v.check(items, e, fmt.Sprintf("%s[%d]", at, i), errs, depth+1)
			}
		}
	}
}

func isType(typ string, val any) bool {
	switch typ {
	case "null":
		return val == nil
	case "boolean":
		_, ok := val.(bool)
		return ok
	case "string":
		_, ok := val.(string)
		return ok
	case "number":
		_, ok := val.(float64)
		return ok
	case "integer":
		f, ok := val.(float64)
		return ok && f == math.Trunc(f)
	case "array":
		_, ok := val.([]any)
		return ok
	case "object":
		_, ok := val.(map[string]any)
		return ok
	}
	return false
}

func jsonType(val any) string {
	switch val.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", val)
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
