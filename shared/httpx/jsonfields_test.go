package httpx

import (
	"reflect"
	"testing"
)

type jfInner struct {
	Shared string `json:"shared"`
	Deep   int    `json:"deep,omitempty"`
}

type jfOuter struct {
	jfInner
	Shared  int     `json:"shared"` // shadows the promoted field
	Name    string  // no tag: the Go name
	Skip    string  `json:"-"`
	hidden  string  //nolint:unused // unexported: never a member
	Maybe   *string `json:"maybe"`
	Count   int64   `json:"count,string"`
	Zeroish bool    `json:"zeroish,omitzero"`
}

func TestJSONFields(t *testing.T) {
	_ = jfOuter{}.hidden
	got := map[string]JSONField{}
	for _, f := range JSONFields(reflect.TypeFor[jfOuter]()) {
		if _, dup := got[f.Name]; dup {
			t.Fatalf("%q listed twice", f.Name)
		}
		got[f.Name] = f
	}
	want := map[string]JSONField{
		"shared":  {Name: "shared", Type: reflect.TypeFor[int]()},
		"deep":    {Name: "deep", Type: reflect.TypeFor[int](), Optional: true},
		"Name":    {Name: "Name", Type: reflect.TypeFor[string]()},
		"maybe":   {Name: "maybe", Type: reflect.TypeFor[*string](), Optional: true},
		"count":   {Name: "count", Type: reflect.TypeFor[int64](), Quoted: true},
		"zeroish": {Name: "zeroish", Type: reflect.TypeFor[bool](), Optional: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSONFields:\n got %+v\nwant %+v", got, want)
	}
	// The strict decoder sees the same set.
	if m := fieldsOf(reflect.TypeFor[jfOuter]()); len(m) != len(want) || m["shared"] != reflect.TypeFor[int]() {
		t.Errorf("fieldsOf = %v", m)
	}
}
