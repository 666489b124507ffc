package gateway

import (
	"errors"
	"net/netip"
	"strings"
)

// ErrHost classifies a refused Host header (or :authority).
var ErrHost = errors.New("gateway: host refused")

// CanonicalHost normalises a Host header for routing: lower case, without
// its port and without one trailing dot, so that "Wiki.Example.COM.:443"
// and "wiki.example.com" reach the same route. It returns the host and the
// port ("" when none was given). It refuses what could be read as another
// host: non-ASCII names (send IDNs in their xn-- form), empty labels, more
// than one trailing dot, characters other than letters, digits, "-" and
// "_", labels over 63 bytes, names over 253, a port that is not 1 to 5
// digits, and IPv6 literals with a zone. An empty host (HTTP/1.0) is
// returned as "" and matches only routes for any host.
func CanonicalHost(h string) (host, port string, err error) {
	if h == "" {
		return "", "", nil
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", ErrHost
		}
		if rest := h[end+1:]; rest != "" {
			if rest[0] != ':' || !validPort(rest[1:]) {
				return "", "", ErrHost
			}
			port = rest[1:]
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", ErrHost
		}
		return "[" + a.String() + "]", port, nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i+1:]) {
			return "", "", ErrHost
		}
		h, port = h[:i], h[i+1:]
	}
	h = strings.TrimSuffix(h, ".")
	if !validHostName(h) {
		return "", "", ErrHost
	}
	return lower(h), port, nil
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// validHostName checks a DNS name (without a trailing dot) byte by byte.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

// lower is strings.ToLower for ASCII, without allocating when s is
// already lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
