package gateway

import (
	"net/http"
	"net/netip"
	"strings"
)

// client is what the gateway believes about the client of one request.
type client struct {
	peer    netip.Addr // the TCP peer; invalid when RemoteAddr is not an address
	trusted bool       // the peer is a trusted proxy
	addr    netip.Addr // the real client: aws:SourceIp
	secure  bool       // the client's connection was TLS: aws:SecureTransport
}

// maxHops bounds the X-Forwarded-For hops examined.
const maxHops = 32

// clientOf finds the real client of r. X-Forwarded-For and
// X-Forwarded-Proto are believed only when the peer is a trusted proxy:
// walking X-Forwarded-For from the right, each trusted hop vouches for the
// one before it, and the first hop that is not trusted is the client. A
// hop that is not an address ends the walk at the last trusted one.
func (g *Gateway) clientOf(r *http.Request) client {
	var c client
	c.peer = parseHop(r.RemoteAddr)
	c.addr = c.peer
	c.secure = r.TLS != nil
	c.trusted = c.peer.IsValid() && g.trusted(c.peer)
	if !c.trusted {
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
			a := parseHop(hop)
			if !a.IsValid() {
				break walk
			}
			c.addr = a
			if !g.trusted(a) {
				break walk
			}
		}
	}
	switch p := lastValue(r.Header["X-Forwarded-Proto"]); {
	case strings.EqualFold(p, "https"):
		c.secure = true
	case strings.EqualFold(p, "http"):
		c.secure = false
	}
	return c
}

func (g *Gateway) trusted(a netip.Addr) bool {
	for _, p := range g.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads an address with or without a port, IPv4-mapped IPv6
// addresses as IPv4.
func parseHop(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && a.Zone() == "" {
		return a.Unmap()
	}
	return netip.Addr{}
}

// lastValue is the rightmost element of a comma-separated header: the one
// the nearest proxy set.
func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if j := strings.LastIndexByte(v, ','); j >= 0 {
		v = v[j+1:]
	}
	return strings.TrimSpace(v)
}
