package httpx

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/framebroker/framebroker/shared/problem"
)

// strict checks what encoding/json lets through and the database or the
// API contract cannot take, over the whole document, before anything is
// stored:
//   - bytes that are not UTF-8 (encoding/json would silently replace them);
//   - the NUL character (U+0000) in any string or key: Postgres text and
//     jsonb cannot store it, and the insert would fail as a 500;
//   - a key given twice in one object (encoding/json keeps the last, so
//     what was checked and what is stored could differ);
//   - keys of one object that differ only in case, and keys that name a
//     field of the target in another case (encoding/json matches names
//     case-insensitively; the API's names are exact).
//
// Each refusal names the field (a path such as `shots[2]` or
// `settings.retention`).
func strict(op string, body []byte, t reflect.Type) error {
	if !utf8.Valid(body) {
		return problem.E(op, problem.Invalid, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	return walk(op, dec, t, "")
}

// walk reads one value from dec, checking it against type t (nil: any).
func walk(op string, dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return problem.E(op, problem.Invalid, "malformed JSON")
	}
	t = concrete(t)
	switch v := tok.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return problem.Field(op, fieldName(path), "contains a NUL character (U+0000), which cannot be stored")
		}
	case json.Delim:
		switch v {
		case '{':
			return walkObject(op, dec, t, path)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := walk(op, dec, elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			return err
		}
	}
	return nil
}

func walkObject(op string, dec *json.Decoder, t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	var valueType reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			valueType = t.Elem()
		}
	}
	seen := map[string]string{} // case-folded key → key as sent
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return problem.E(op, problem.Invalid, "malformed JSON")
		}
		key, _ := tok.(string)
		name := join(path, key)
		if strings.ContainsRune(key, 0) {
			return problem.Field(op, fieldName(join(path, strings.ReplaceAll(key, "\x00", `\u0000`))), "key contains a NUL character (U+0000), which cannot be stored")
		}
		if prev, dup := seen[strings.ToLower(key)]; dup {
			if prev == key {
				return problem.Field(op, name, "is given twice")
			}
			return problem.Field(op, name, "differs only in case from "+strconv.Quote(prev)+"; keys are case-sensitive")
		}
		seen[strings.ToLower(key)] = key
		child := valueType
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				for f := range fields {
					if strings.EqualFold(f, key) {
						return problem.Field(op, name, "unknown field; did you mean "+strconv.Quote(f)+"? keys are case-sensitive")
					}
				}
			}
			child = ft
		}
		if err := walk(op, dec, child, name); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldName(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// concrete strips pointers; a type that decodes itself (json.Unmarshaler,
// encoding.TextUnmarshaler) or an interface is opaque (nil): its keys are
// not checked against names, but NUL and duplicates still are.
func concrete(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps the JSON names of struct t's fields to their types, as
// JSONFields lists them.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for _, f := range JSONFields(t) {
		m[f.Name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// JSONField is one member of a struct's JSON object as encoding/json
// names it.
type JSONField struct {
	Name string       // the key in the JSON object
	Type reflect.Type // the Go field's type
	// Optional is true for pointers and fields tagged omitempty or
	// omitzero: they may be absent from the object.
	Optional bool
	// Quoted is true for fields tagged ",string" (a number or bool
	// carried as a JSON string).
	Quoted bool
}

// JSONFields lists the JSON object members of struct type t by
// encoding/json's rules: the tag's name or the Go name, "-" skipped,
// unexported fields skipped, the fields of untagged embedded structs
// promoted unless a shallower field has the same name. The strict decoder
// and the OpenAPI document both read a type's fields through it, so they
// cannot disagree about which fields exist.
func JSONFields(t reflect.Type) []JSONField {
	var out []JSONField
	at := map[string]int{} // name → index in out
	add := func(f JSONField, promoted bool) {
		if i, ok := at[f.Name]; ok {
			if !promoted {
				out[i] = f
			}
			return
		}
		at[f.Name] = len(out)
		out = append(out, f)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for _, inner := range JSONFields(ft) {
					add(inner, true)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		has := func(o string) bool { return strings.Contains(","+opts+",", ","+o+",") }
		add(JSONField{
			Name:     name,
			Type:     f.Type,
			Optional: f.Type.Kind() == reflect.Pointer || has("omitempty") || has("omitzero"),
			Quoted:   has("string"),
		}, false)
	}
	return out
}
