package id

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	w := New[WorkspaceID]()
	got, err := Parse[workspace](w.String())
	if err != nil || got != w {
		t.Fatalf("Parse(%q) = %v, %v; want %v", w.String(), got, err, w)
	}
	b, _ := json.Marshal(w)
	var back WorkspaceID
	if err := json.Unmarshal(b, &back); err != nil || back != w {
		t.Fatalf("json round trip: %v %v", back, err)
	}
}

func TestParseRejects(t *testing.T) {
	w := New[WorkspaceID]()
	p := New[ProjectID]()
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"other kind", p.String()},
		{"no prefix", w.String()[3:]},
		{"upper hex", "ws_" + "0190F3C2AAAAAAAAAAAAAAAAAAAAAAAA"},
		{"short", w.String()[:10]},
		{"long", w.String() + "0"},
		{"not hex", "ws_zz90f3c2aaaaaaaaaaaaaaaaaaaaaaaa"},
		{"uuid with dashes", "ws_" + w.UUID().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse[workspace](tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) err = %v, want ErrInvalid", tc.in, err)
			}
		})
	}
}

func TestNewIsTimeOrdered(t *testing.T) {
	a, b := New[AssetID](), New[AssetID]()
	if a.String() >= b.String() {
		t.Fatalf("ids not increasing: %s then %s", a, b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(New[WorkspaceID]().String())
	f.Add("ws_")
	f.Add("ws_0190f3c2aaaaaaaaaaaaaaaaaaaaaaa\x00")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse[workspace](s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("accepted %q but prints %q", s, v.String())
		}
	})
}
