package signin

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/ztgate/ztgate/internal/peer"
)

// hostname returns the host of a Host header without its port, lower case.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}

// isLocalhost reports whether a host name is localhost or under it, which
// browsers treat as secure contexts even over plain HTTP.
func isLocalhost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// scheme is the scheme the browser used to reach r: https unless the
// request came without TLS (its own, or a trusted proxy's, see
// [peer.FromRequest]) to a localhost name or Insecure is set (a node
// behind a TLS-terminating proxy is reached over https).
func (s *Service) scheme(r *http.Request) string {
	if !peer.FromRequest(r).Secure && (!s.secure || isLocalhost(hostname(r.Host))) {
		return "http"
	}
	return "https"
}

// origin is the browser's origin of r.
func (s *Service) origin(r *http.Request) string {
	return s.scheme(r) + "://" + strings.ToLower(r.Host)
}

// LoginURL is where to send a browser without a session: the sign-in
// page, with the URL it asked for to return to.
func (s *Service) LoginURL(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, PathPrefix) || r.Method != http.MethodGet {
		return PathPrefix + "login"
	}
	return PathPrefix + "login?rd=" + url.QueryEscape(s.origin(r)+r.URL.RequestURI())
}

// safeReturn returns rd if it is a safe place to send the browser after
// signing in — a path on this host, or an http(s) URL on this host or an
// allowed one — and "/" otherwise. It never returns a URL that leaves the
// allowed hosts: no open redirect.
func (s *Service) safeReturn(r *http.Request, rd string) string {
	const fallback = "/"
	if rd == "" || len(rd) > 4096 {
		return fallback
	}
	for i := 0; i < len(rd); i++ {
		// Control characters, spaces and backslashes are read differently
		// by browsers and by url.Parse ("/\evil", "\t//evil"): refuse.
		if c := rd[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil {
		return fallback
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(rd, "/") || strings.HasPrefix(rd, "//") || strings.HasPrefix(u.Path, PathPrefix+"logout") {
			return fallback
		}
		return rd
	}
	switch {
	case u.Host == "":
		return fallback
	case u.Scheme == "https":
	case u.Scheme == "http" && (!s.secure || isLocalhost(hostname(u.Host))):
	default:
		return fallback
	}
	if !s.hostAllowed(r, u.Host) || strings.HasPrefix(u.Path, PathPrefix+"logout") {
		return fallback
	}
	return u.String()
}

// hostAllowed reports whether a return URL may name host (with its port):
// the request's own host, or one of the configured hosts.
func (s *Service) hostAllowed(r *http.Request, host string) bool {
	if strings.EqualFold(host, r.Host) {
		return true
	}
	name := hostname(host)
	for _, a := range s.c.AllowedRedirectHosts {
		a = strings.ToLower(a)
		if _, _, err := net.SplitHostPort(a); err == nil {
			if strings.EqualFold(host, a) { // an entry with a port: that port only
				return true
			}
			continue
		}
		if suffix, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(name, "."+suffix) {
				return true
			}
			continue
		}
		if name == hostname(a) {
			return true
		}
	}
	return false
}

// rpID is the WebAuthn relying party id for a host: its registrable name
// (example.com for app.example.com), localhost for localhost. Passkeys
// registered on one host then work on every host of the same name.
func rpID(host string) (string, bool) {
	if net.ParseIP(host) != nil || host == "" {
		return "", false // WebAuthn refuses IP addresses
	}
	if host == "localhost" {
		return host, true
	}
	if id, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return id, true
	}
	return host, true
}
