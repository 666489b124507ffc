// Package peer tells who sent a request: the TCP peer, or, when the peer
// is a proxy the operator trusts (gateway.trusted_proxies), the client
// that proxy vouches for in X-Forwarded-For, and whether the client's own
// connection was TLS (X-Forwarded-Proto). Every part of a node that names
// the client — aws:SourceIp and aws:SecureTransport, audit records, rate
// limits — asks it, so that all of them see the same client behind a
// load balancer and none believes a header from anyone else.
package peer

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the trusted proxies' addresses. The zero value trusts
// nobody: the TCP peer is the client.
type Proxies struct {
	prefixes []netip.Prefix
}

// NewProxies trusts the given prefixes; an invalid one is skipped (the
// configuration validates them). IPv4-mapped IPv6 prefixes are read as
// IPv4, as the addresses they are compared with are.
func NewProxies(prefixes []netip.Prefix) Proxies {
	var p Proxies
	for _, pr := range prefixes {
		if !pr.IsValid() {
			continue
		}
		if a := pr.Addr(); a.Is4In6() {
			if pr.Bits() < 96 {
				continue // wider than the mapped range: never an IPv4 peer
			}
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		p.prefixes = append(p.prefixes, pr.Masked())
	}
	return p
}

// Trusts says whether a is a trusted proxy.
func (p Proxies) Trusts(a netip.Addr) bool {
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// Client is what is believed about the client of one request.
type Client struct {
	Peer    netip.Addr // the TCP peer; invalid when RemoteAddr is not an address
	Trusted bool       // the peer is a trusted proxy
	Addr    netip.Addr // the real client: aws:SourceIp
	Secure  bool       // the client's connection was TLS: aws:SecureTransport
	raw     string     // RemoteAddr, when it is not an address
}

// IP is the client's address as records and rate limits spell it: the
// address without a port, or RemoteAddr as it is when that is not an
// address (a Unix socket, a test).
func (c Client) IP() string {
	if c.Addr.IsValid() {
		return c.Addr.String()
	}
	return c.raw
}

// maxHops bounds the X-Forwarded-For hops examined.
const maxHops = 32

// Of finds the real client of r. X-Forwarded-For and X-Forwarded-Proto
// are believed only when the peer is a trusted proxy: walking
// X-Forwarded-For from the right, each trusted hop vouches for the one
// before it, and the first hop that is not trusted is the client. A hop
// that is not an address ends the walk at the last trusted one.
func (p Proxies) Of(r *http.Request) Client {
	var c Client
	c.Peer = ParseHop(r.RemoteAddr)
	c.Addr = c.Peer
	c.Secure = r.TLS != nil
	if !c.Peer.IsValid() {
		c.raw = r.RemoteAddr
		return c
	}
	c.Trusted = p.Trusts(c.Peer)
	if !c.Trusted {
		return c
	}
	xff := r.Header["X-Forwarded-For"]
	hops := 0
walk:
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			hop := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			if hops++; hops > maxHops {
				break walk
			}
			a := ParseHop(hop)
			if !a.IsValid() {
				break walk
			}
			c.Addr = a
			if !p.Trusts(a) {
				break walk
			}
		}
	}
	if vs := r.Header["X-Forwarded-Proto"]; len(vs) > 0 {
		c.Secure = allHTTPS(vs)
	}
	return c
}

// allHTTPS reports whether every element of a comma-separated
// X-Forwarded-Proto is https: behind proxies that append, one plain hop
// (a client reaching the first proxy over HTTP) makes the client's
// connection plain.
func allHTTPS(vs []string) bool {
	n := 0
	for _, v := range vs {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			if !strings.EqualFold(e, "https") {
				return false
			}
			n++
		}
	}
	return n > 0
}

type ctxKey struct{}

// Attach returns r with its Client, as p finds it, in its context, for
// [FromRequest].
func (p Proxies) Attach(r *http.Request) *http.Request {
	c := p.Of(r)
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
}

// FromRequest returns the Client that [Proxies.Attach] put in r's
// context; without one, the TCP peer, no proxy trusted.
func FromRequest(r *http.Request) Client {
	if c, ok := r.Context().Value(ctxKey{}).(Client); ok {
		return c
	}
	return Proxies{}.Of(r)
}

// ParseHop reads an address with or without a port, IPv4-mapped IPv6
// addresses as IPv4, without an IPv6 zone (which names the receiver's
// interface, and which no IpAddress condition would match).
func ParseHop(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// LastValue is the rightmost element of a comma-separated header: the
// one the nearest proxy set.
func LastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if j := strings.LastIndexByte(v, ','); j >= 0 {
		v = v[j+1:]
	}
	return strings.TrimSpace(v)
}
