package httpx

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/problem"
)

type strictInner struct {
	Retention string `json:"retention"`
}

type strictEmbedded struct {
	Tag string `json:"tag"`
}

type strictSample struct {
	strictEmbedded
	Name     string            `json:"name"`
	Shots    []string          `json:"shots"`
	Settings *strictInner      `json:"settings"`
	Meta     map[string]string `json:"meta"`
	Any      any               `json:"any"`
}

// TestStrictDecode (Observed 5): the decoder refuses, with 400 naming the
// field, what encoding/json accepts and Postgres cannot store or the API
// does not mean: NUL anywhere, bytes that are not UTF-8, duplicate keys,
// keys differing only in case, and fields named in the wrong case.
func TestStrictDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		field      string // "" = accepted
	}{
		{"plain", `{"name":"a","shots":["x"],"settings":{"retention":"90d"},"meta":{"k":"v"},"tag":"t","any":{"x":[1]}}`, ""},
		{"non-ASCII is fine", `{"name":"Café ☕ 日本","shots":["\u00e9"]}`, ""},
		{"control chars other than NUL are stored fine", `{"name":"a\tb\nc\u0001"}`, ""},
		{"NUL in a string", `{"name":"a\u0000b"}`, "name"},
		{"NUL in a list", `{"shots":["ok","\u0000"]}`, "shots[1]"},
		{"NUL in a nested field", `{"settings":{"retention":"\u0000"}}`, "settings.retention"},
		{"NUL in a map value", `{"meta":{"k":"\u0000"}}`, "meta.k"},
		{"NUL in a map key", `{"meta":{"k\u0000":"v"}}`, `meta.k\u0000`},
		{"NUL inside an opaque value", `{"any":{"deep":["\u0000"]}}`, "any.deep[0]"},
		{"NUL in an embedded field", `{"tag":"\u0000"}`, "tag"},
		{"duplicate key", `{"name":"a","name":"b"}`, "name"},
		{"duplicate nested key", `{"settings":{"retention":"a","retention":"b"}}`, "settings.retention"},
		{"duplicate map key", `{"meta":{"k":"a","k":"b"}}`, "meta.k"},
		{"keys differing in case", `{"name":"a","NAME":"b"}`, "NAME"},
		{"map keys differing in case", `{"meta":{"k":"a","K":"b"}}`, "meta.K"},
		{"field in the wrong case", `{"Name":"a"}`, "Name"},
		{"nested field in the wrong case", `{"settings":{"Retention":"x"}}`, "settings.Retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v strictSample
			err := DecodeBytes("test", []byte(tc.body), &v)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			assertField(t, err, tc.field)
		})
	}
	var v strictSample
	if err := DecodeBytes("test", []byte("{\"name\":\"a\xffb\"}"), &v); !problem.Is(err, problem.Invalid) {
		t.Fatalf("invalid UTF-8 accepted: %v", err)
	}
}

func assertField(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	var pe *problem.Error
	if !problem.Is(err, problem.Invalid) || !asProblem(err, &pe) || len(pe.Fields) != 1 || pe.Fields[0].Field != field {
		t.Fatalf("want 400 naming %q, got %#v", field, err)
	}
	w := httptest.NewRecorder()
	problem.Write(w, httptest.NewRequest("POST", "/", nil), err)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"field":`) {
		t.Fatalf("reply %d %s", w.Code, w.Body)
	}
}

func asProblem(err error, pe **problem.Error) bool {
	e, ok := err.(*problem.Error)
	*pe = e
	return ok
}

func FuzzStrictDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"meta":{"k":"v","K":"w"}}`, `{"name":"\u0000"}`, `{"shots":[[{}]]}`, "{\"name\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v strictSample
		err := DecodeBytes("fuzz", []byte(body), &v)
		if err == nil {
			if strings.Contains(v.Name, "\x00") || strings.Contains(strings.Join(v.Shots, ""), "\x00") {
				t.Fatalf("NUL accepted: %q", body)
			}
			return
		}
		if k := problem.KindOf(err); k.Status() < 400 || k.Status() >= 500 {
			t.Fatalf("client error classified %v: %v", k, err)
		}
	})
}

// TestStrictNamesFieldBeforeTypeError: a NUL inside a value that also
// fails its own parsing (an id) is reported as the NUL, naming the field.
func TestStrictNamesFieldBeforeTypeError(t *testing.T) {
	var v struct {
		N  int      `json:"n"`
		ID []idLike `json:"ids"`
	}
	assertField(t, DecodeBytes("test", []byte(`{"n":1,"ids":["x\u0000"]}`), &v), "ids[0]")
	if err := DecodeBytes("test", []byte(`{"n":"x"}`), &v); err == nil || len(problemFields(err)) != 1 || problemFields(err)[0].Field != "n" {
		t.Fatalf("type error: %v", err)
	}
}

type idLike string

func (i *idLike) UnmarshalText(b []byte) error {
	if strings.ContainsRune(string(b), 0) {
		return errors.New("not an id")
	}
	*i = idLike(b)
	return nil
}
