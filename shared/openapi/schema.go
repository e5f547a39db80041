package openapi

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/framebroker/framebroker/shared/httpx"
)

// gen turns Go types into JSON Schemas (2020-12, as OpenAPI 3.1 uses),
// collecting named struct types under components/schemas.
type gen struct {
	schemas map[string]any
	names   map[reflect.Type]string
}

func newGen() *gen { return &gen{schemas: map[string]any{}, names: map[reflect.Type]string{}} }

func typeOf(v any) reflect.Type {
	if t, ok := v.(reflect.Type); ok {
		return t
	}
	return reflect.TypeOf(v)
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	durationType      = reflect.TypeFor[time.Duration]()
	rawType           = reflect.TypeFor[json.RawMessage]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
)

// schema is the schema of values of t as encoding/json writes them.
func (g *gen) schema(t reflect.Type) map[string]any {
	switch {
	case t == nil:
		return map[string]any{}
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{} // any JSON
	case t.Kind() == reflect.Pointer:
		s := g.schema(t.Elem())
		return nullable(s)
	case t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType):
		// Custom JSON: only its own tests know the shape.
		return map[string]any{}
	case t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t == durationType {
			return map[string]any{"type": "integer", "description": "nanoseconds"}
		}
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": []any{"string", "null"}, "contentEncoding": "base64"}
		}
		// A nil slice is written as null.
		return map[string]any{"type": []any{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = schemaName(t)
			g.names[t] = name
			g.schemas[name] = map[string]any{} // placeholder for recursion
			g.schemas[name] = g.object(t)
		}
		return ref("schemas", name)
	}
	return map[string]any{}
}

func nullable(s map[string]any) map[string]any {
	if _, isRef := s["$ref"]; isRef || len(s) == 0 {
		if len(s) == 0 {
			return s
		}
		return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
	}
	out := map[string]any{}
	for k, v := range s {
		out[k] = v
	}
	switch tt := s["type"].(type) {
	case string:
		out["type"] = []any{tt, "null"}
	case []any:
		has := false
		for _, x := range tt {
			has = has || x == "null"
		}
		if !has {
			out["type"] = append(append([]any{}, tt...), "null")
		}
	}
	return out
}

// object is the schema of a struct: its JSON fields (embedded structs'
// fields promoted), required unless omitempty/omitzero, nothing else allowed.
func (g *gen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *gen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for _, f := range httpx.JSONFields(t) {
		s := g.schema(f.Type)
		if f.Quoted {
			s = map[string]any{"type": "string"}
		}
		props[f.Name] = s
		// A pointer may be absent from a request (the decoder leaves it
		// nil), so it is never required.
		if !f.Optional {
			*required = append(*required, f.Name)
		}
	}
}

var pathRE = regexp.MustCompile(`[A-Za-z0-9_.\-]*/`)

// schemaName names a component: package and type, generics spelled out,
// e.g. tenancy.Project, httpx.List_tenancy.Project.
func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	n := pathRE.ReplaceAllString(t.Name(), "")
	n = strings.NewReplacer("[", "_", "]", "", ",", "_", "*", "", " ", "").Replace(n)
	if pkg == "" {
		return n
	}
	return pkg + "." + n
}
