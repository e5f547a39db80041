package broker

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	u := "http://127.0.0.1:7070/b/ws/x/in?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261124%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261124T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeefcafe&X-Amz-Security-Token=tok"
	for _, in := range []string{u, "out.mp4=" + u} {
		got := strings.Join(RedactAll([]string{in}), "")
		for _, secret := range []string{"deadbeefcafe", "AKIA", "tok&", "=tok"} {
			if strings.Contains(got, secret) {
				t.Fatalf("%q leaks %q", got, secret)
			}
		}
		if !strings.Contains(got, "X-Amz-Expires=3600") || !strings.Contains(got, "/b/ws/x/in") {
			t.Fatalf("%q lost the non-secret parts", got)
		}
	}
	if Redact("-preset") != "-preset" || Redact("plain text?") != "plain text?" {
		t.Fatal("non-URLs changed")
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("http://h/p?X-Amz-Signature=abc")
	f.Add("http://h/p?x-amz-signature=abc&X-Amz-Signature=def")
	f.Fuzz(func(t *testing.T, s string) {
		out := Redact(s)
		if strings.Contains(s, "X-Amz-Signature=") && strings.Contains(s, "://") && strings.Contains(s, "?") {
			i := strings.Index(s, "X-Amz-Signature=")
			sig := s[i+len("X-Amz-Signature="):]
			if j := strings.IndexAny(sig, "&#"); j >= 0 {
				sig = sig[:j]
			}
			if len(sig) >= 8 && !strings.ContainsAny(sig, "%+;") && strings.Contains(out, "X-Amz-Signature="+sig) {
				t.Fatalf("signature kept: %q -> %q", s, out)
			}
		}
	})
}
