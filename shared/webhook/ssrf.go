package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned (wrapped) when a webhook URL resolves to
// an address deliveries may not reach.
var ErrForbiddenAddress = errors.New("webhook: destination address is not allowed")

// forbidden are the ranges a delivery may never reach unless allow-listed:
// loopback, private (RFC 1918, ULA), link-local (which holds the cloud
// metadata services 169.254.169.254 and fd00:ec2::254 is in ULA), carrier-grade
// NAT, "this network", multicast, reserved and documentation ranges.
var forbidden = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// AddressPolicy decides which resolved addresses deliveries may connect to.
// The zero value is the production policy: public unicast addresses only.
type AddressPolicy struct {
	// Allow lists ranges permitted despite the rules above, for local
	// development and tests (FRAMEBROKER_WEBHOOK_ALLOW_CIDRS, e.g.
	// "127.0.0.0/8"). Empty in production.
	Allow []netip.Prefix
}

// ParseAllow reads a comma-separated list of CIDR prefixes.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("webhook: allow-list entry %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check reports whether addr may be reached.
func (p AddressPolicy) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	if !addr.IsValid() || !addr.IsGlobalUnicast() {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
	}
	for _, f := range forbidden {
		if f.Contains(addr) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
		}
	}
	return nil
}

// control runs after DNS resolution, on the exact address about to be
// dialled, so a name that resolves (or re-resolves, DNS rebinding) to an
// internal address is refused.
func (p AddressPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	return p.Check(ap.Addr())
}

// ValidateURL checks a webhook URL when it is configured: absolute http(s),
// no credentials, no fragment, a host; a literal IP host must pass the
// address policy. Plain http is allowed only when the policy has an
// allow-list (local development). Names are checked again, after
// resolution, on every delivery.
func (p AddressPolicy) ValidateURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, errors.New("must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if len(p.Allow) == 0 {
			return nil, errors.New("must use https")
		}
	default:
		return nil, errors.New("must use https")
	}
	if u.User != nil {
		return nil, errors.New("must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("must name a host")
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if err := p.Check(a); err != nil {
			return nil, errors.New("names an address deliveries may not reach")
		}
	} else if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".internal") {
		if len(p.Allow) == 0 {
			return nil, errors.New("names an internal host")
		}
	}
	return u, nil
}

// Timeout bounds one delivery attempt, connection to last byte.
const Timeout = 15 * time.Second

// NewClient returns the HTTP client deliveries use: the address policy is
// enforced at dial time, no proxy from the environment (which would hide the
// real destination), redirects are not followed (a 3xx is a failed attempt),
// and each attempt is bounded by timeout.
func NewClient(p AddressPolicy, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
