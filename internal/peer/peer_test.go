package peer

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestOf: X-Forwarded-For and -Proto are believed from trusted proxies
// only, walking from the right.
func TestOf(t *testing.T) {
	p := NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, tc := range []struct {
		name   string
		peer   string
		xff    []string
		proto  string
		tls    bool
		addr   string
		secure bool
	}{
		{"untrusted peer, forged header", "203.0.113.5:4000", []string{"1.2.3.4"}, "https", false, "203.0.113.5", false},
		{"trusted peer, one client hop", "10.0.0.1:4000", []string{"198.51.100.7"}, "https", false, "198.51.100.7", true},
		{"rightmost untrusted hop wins", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, "", false, "198.51.100.7", false},
		{"several headers", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.7", "10.2.2.2"}, "", false, "198.51.100.7", false},
		{"all trusted: the leftmost", "10.0.0.1:4000", []string{"10.3.3.3, 10.4.4.4"}, "", false, "10.3.3.3", false},
		{"garbage stops at the last trusted hop", "10.0.0.1:4000", []string{"6.6.6.6, garbage, 10.5.5.5"}, "", false, "10.5.5.5", false},
		{"ports and brackets", "[::1]:4000", []string{"[2001:db8::1]:123"}, "http", true, "2001:db8::1", false},
		{"mapped addresses", "[::ffff:10.0.0.1]:4000", []string{"::ffff:198.51.100.9"}, "", false, "198.51.100.9", false},
		{"no header", "10.0.0.1:4000", nil, "", true, "10.0.0.1", true},
		{"the nearest proto", "10.0.0.1:4000", []string{"198.51.100.7"}, "https, http", false, "198.51.100.7", false},
		{"not an address", "pipe", []string{"1.2.3.4"}, "", false, "invalid IP", false},
		{"https behind an http hop", "10.0.0.1:4000", []string{"198.51.100.7"}, "http, https", false, "198.51.100.7", false},
		{"https on every hop", "10.0.0.1:4000", []string{"198.51.100.7"}, "https,HTTPS", false, "198.51.100.7", true},
		{"an unknown scheme", "10.0.0.1:4000", []string{"198.51.100.7"}, "wss", true, "198.51.100.7", false},
		{"zones dropped", "[fe80::1%eth0]:4000", nil, "", false, "fe80::1", false},
		{"a vouched hop's zone dropped", "[::1]:4000", []string{"fe80::2%evil"}, "", false, "fe80::2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != nil {
				r.Header["X-Forwarded-For"] = tc.xff
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			c := p.Of(r)
			if c.Addr.String() != tc.addr || c.Secure != tc.secure {
				t.Errorf("got %s secure=%v, want %s secure=%v", c.Addr, c.Secure, tc.addr, tc.secure)
			}
			// Attached to the request, the same client is found again;
			// without, nobody is trusted.
			if got := FromRequest(p.Attach(r)); got != c {
				t.Errorf("FromRequest after Attach: %+v, want %+v", got, c)
			}
			if got := FromRequest(r); got != (Proxies{}).Of(r) || (got.Addr.IsValid() && got.Addr != got.Peer) {
				t.Errorf("FromRequest without Attach: %+v", got)
			}
		})
	}
}

// TestIP: records and rate limits get the address without its port, or
// RemoteAddr as it is when it is not an address.
func TestIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":           "192.0.2.1",
		"[2001:db8::2]:443":        "2001:db8::2",
		"[::ffff:192.0.2.9]:1":     "192.0.2.9",
		"@":                        "@",
		"/run/ztgate/control.sock": "/run/ztgate/control.sock",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		if got := FromRequest(r).IP(); got != want {
			t.Errorf("%q: IP %q, want %q", in, got, want)
		}
	}
}

// TestMappedProxies: a trusted proxy written as an IPv4-mapped IPv6
// address or prefix is trusted as the IPv4 peer it is.
func TestMappedProxies(t *testing.T) {
	p := NewProxies([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104"), netip.MustParsePrefix("::ffff:0.0.0.0/80")})
	for addr, want := range map[string]bool{"10.1.2.3": true, "11.0.0.1": false, "::ffff:10.9.9.9": true} {
		if got := p.Trusts(ParseHop(addr)); got != want {
			t.Errorf("%s trusted: %v, want %v", addr, got, want)
		}
	}
}
