package webhook_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/webhook"
)

// TestAddressPolicy: the production policy refuses loopback, private,
// link-local (cloud metadata), CGNAT and friends, in IPv4, IPv6 and
// IPv4-mapped IPv6; the allow-list admits exactly what it lists.
func TestAddressPolicy(t *testing.T) {
	prod := webhook.AddressPolicy{}
	dev := webhook.AddressPolicy{Allow: loopback}
	for _, tc := range []struct {
		addr      string
		prod, dev bool // allowed?
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"127.8.8.8", false, true},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fd00:ec2::254", false, false},
		{"fe80::1", false, false},
		{"100.64.0.1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := prod.Check(a) == nil; got != tc.prod {
			t.Errorf("production %s: allowed=%v, want %v", tc.addr, got, tc.prod)
		}
		if got := dev.Check(a) == nil; got != tc.dev {
			t.Errorf("dev %s: allowed=%v, want %v", tc.addr, got, tc.dev)
		}
	}
}

// TestValidateURL checks endpoint URLs at configuration time.
func TestValidateURL(t *testing.T) {
	prod := webhook.AddressPolicy{}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/x?token=1", true},
		{"https://93.184.216.34/x", true},
		{"http://hooks.example.com/x", false},
		{"https://user:pw@hooks.example.com/", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://[::1]/", false},
		{"https://localhost/", false},
		{"https://metadata.google.internal/", false},
		{"ftp://hooks.example.com/", false},
		{"/relative", false},
		{"https://hooks.example.com/#frag", false},
		{"https://" + strings.Repeat("a", 2050) + ".com/", false},
	} {
		if _, err := prod.ValidateURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("%.60s: err %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// FuzzValidateURL: no input panics, and nothing accepted names a forbidden
// literal address.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://example.com/", "https://[::ffff:127.0.0.1]/", "https://0x7f.1/", "http://a@b/", "https://%31%32%37.0.0.1/"} {
		f.Add(s)
	}
	p := webhook.AddressPolicy{}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := p.ValidateURL(s)
		if err != nil {
			return
		}
		if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && p.Check(a) != nil {
			t.Fatalf("accepted %q naming %s", s, a)
		}
	})
}

// TestClientChecksAfterResolution: a name ("localhost") that resolves to
// loopback is refused at dial time by the production policy, before any
// byte reaches the server; the dev allow-list lets it through.
func TestClientChecksAfterResolution(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, err := webhook.NewClient(webhook.AddressPolicy{}, 2*time.Second).Get(u)
	if !errors.Is(err, webhook.ErrForbiddenAddress) {
		t.Fatalf("production policy: err %v, want ErrForbiddenAddress", err)
	}
	if hits != 0 {
		t.Fatal("the server was reached")
	}
	res, err := webhook.NewClient(webhook.AddressPolicy{Allow: loopback}, 2*time.Second).Get(u)
	if err != nil {
		t.Fatalf("dev policy: %v", err)
	}
	res.Body.Close()
	if hits != 1 {
		t.Fatalf("hits %d", hits)
	}
}
