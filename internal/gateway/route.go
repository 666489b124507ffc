package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Route is one protected application: the requests it matches and the
// upstreams that serve them.
type Route struct {
	// Name names the route in resource ARNs, audit records and metrics:
	// 1 to 64 of [A-Za-z0-9_.-], unique.
	Name string
	// Host is an exact host name (compared lower case, port and one
	// trailing dot ignored), or "*.example.com" for any one label under
	// example.com; "" for any host. The most specific host level with
	// routes decides: exact, then wildcard, then any host; a request
	// whose path no route of that level matches is not found, it does not
	// fall through to a less specific host.
	Host string
	// PathPrefix is matched on the canonical (decoded) path at segment
	// boundaries: "/app" matches /app and /app/x, not /apple. "" means "/".
	// It must itself be canonical and not end in "/". The longest
	// matching prefix wins.
	PathPrefix string
	// Upstreams serve the route: absolute http or https URLs, with an
	// optional canonical base path the request path is appended to.
	// Several are used in turn; one that failed is skipped for
	// UpstreamBackoff, and a request whose connection could not be made
	// is tried on the next.
	Upstreams []*url.URL
	// Public routes need no authentication. Their requests are still
	// decided (unauthenticated callers as the anonymous principal) and
	// audited.
	Public bool
	// Auth lists the accepted authentication methods in order ("session",
	// "sigv4", "jwt", "mtls"); empty accepts every configured
	// authenticator, in the configuration's order, except mtls: client
	// certificates admit workloads and devices, which a route names on
	// purpose.
	Auth []string
	// ReportOnly serves denied requests anyway, logging and auditing the
	// denial as report-only: a way to try a policy before enforcing it.
	ReportOnly bool
	// StripPrefix removes PathPrefix from the path sent upstream.
	StripPrefix bool
	// UpstreamTLS is the TLS configuration towards https upstreams (CA,
	// client certificate); nil uses the system roots.
	UpstreamTLS *tls.Config
	// H2C speaks HTTP/2 without TLS (prior knowledge) to http upstreams,
	// as gRPC servers expect. Upgrade requests (WebSocket) still use
	// HTTP/1.1.
	H2C bool
	// MaxSessionAge, when set, requires the caller to have authenticated
	// within it: older (or unknown) authentications are sent to log in
	// again (browsers) or refused.
	MaxSessionAge time.Duration
}

// UpstreamBackoff is how long an upstream that failed is skipped.
const UpstreamBackoff = 10 * time.Second

// ResourceARN is the resource a request to route for path is decided on:
// arn:zt:gateway::ACCOUNT:route/NAME/PATH, where path is the canonical
// path, beginning with "/".
func ResourceARN(account, route, path string) string {
	return "arn:zt:gateway::" + account + ":route/" + route + path
}

// ErrConfig classifies an invalid gateway configuration.
var ErrConfig = errors.New("gateway: invalid configuration")

// route is a validated Route with what serving it needs.
type route struct {
	Route
	host      string // canonical; "*.suffix" for a wildcard; "" for any
	prefix    string // canonical, decoded
	prefixEsc string // its canonical encoding
	auth      []Authenticator
	upstreams []*upstream
	proxy     *upstreamTransport
}

// accepts reports whether the route accepts an authentication method.
func (rt *route) accepts(method string) bool {
	for _, a := range rt.auth {
		if a.Method() == method {
			return true
		}
	}
	return false
}

// matches reports whether path is within the route's prefix.
func (rt *route) matches(path string) bool {
	p := rt.prefix
	if p == "/" {
		return true
	}
	return strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/')
}

// upstreamPath is the path sent upstream, relative to the upstream's base.
func (rt *route) upstreamPath(path, escaped string) (string, string) {
	if !rt.StripPrefix || rt.prefix == "/" {
		return path, escaped
	}
	path, escaped = path[len(rt.prefix):], escaped[len(rt.prefixEsc):]
	if path == "" {
		return "/", "/"
	}
	return path, escaped
}

// router finds a request's route.
type router struct {
	exact    map[string][]*route
	wildcard map[string][]*route // by the suffix after "*."
	any      []*route
}

func (t *router) add(rt *route) {
	switch {
	case rt.host == "":
		t.any = append(t.any, rt)
	case strings.HasPrefix(rt.host, "*."):
		t.wildcard[rt.host[2:]] = append(t.wildcard[rt.host[2:]], rt)
	default:
		t.exact[rt.host] = append(t.exact[rt.host], rt)
	}
}

// sort orders each level's routes by decreasing prefix length, so that the
// first match is the longest.
func (t *router) sort() {
	byLen := func(a, b *route) int { return len(b.prefix) - len(a.prefix) }
	for _, rs := range t.exact {
		slices.SortStableFunc(rs, byLen)
	}
	for _, rs := range t.wildcard {
		slices.SortStableFunc(rs, byLen)
	}
	slices.SortStableFunc(t.any, byLen)
}

// match finds the route for a canonical host and path.
func (t *router) match(host, path string) *route {
	rs, ok := t.exact[host]
	if !ok {
		if i := strings.IndexByte(host, '.'); i > 0 {
			rs, ok = t.wildcard[host[i+1:]]
		}
	}
	if !ok {
		rs = t.any
	}
	for _, rt := range rs {
		if rt.matches(path) {
			return rt
		}
	}
	return nil
}

// compileRoutes validates the routes and builds the router.
func compileRoutes(c *Config) (*router, []*route, error) {
	byMethod := map[string]Authenticator{}
	var methods []Authenticator
	for i, a := range c.Authenticators {
		if a == nil {
			return nil, nil, fmt.Errorf("%w: authenticator %d is nil", ErrConfig, i)
		}
		m := a.Method()
		if _, dup := byMethod[m]; dup || m == "" {
			return nil, nil, fmt.Errorf("%w: authenticator method %q is empty or given twice", ErrConfig, m)
		}
		byMethod[m] = a
		methods = append(methods, a)
	}
	t := &router{exact: map[string][]*route{}, wildcard: map[string][]*route{}}
	names := map[string]bool{}
	places := map[string]string{}
	var all []*route
	for i := range c.Routes {
		src := &c.Routes[i]
		rt := &route{Route: *src}
		rt.Upstreams = slices.Clone(src.Upstreams)
		rt.Auth = slices.Clone(src.Auth)
		if !validName(rt.Name) {
			return nil, nil, fmt.Errorf("%w: route %d: name %q must be 1 to 64 of A-Z a-z 0-9 _ . -", ErrConfig, i, rt.Name)
		}
		if names[rt.Name] {
			return nil, nil, fmt.Errorf("%w: route %q: name given twice", ErrConfig, rt.Name)
		}
		names[rt.Name] = true
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: route %q: %s", ErrConfig, rt.Name, fmt.Sprintf(format, args...))
		}

		host, err := routeHost(rt.Host)
		if err != nil {
			return nil, nil, fail("host %q: %v", rt.Host, err)
		}
		rt.host = host

		prefix := rt.PathPrefix
		if prefix == "" {
			prefix = "/"
		}
		p, esc, err := CanonicalPath(escape(prefix))
		switch {
		case err != nil:
			return nil, nil, fail("path prefix %q: %v", prefix, err)
		case p != prefix:
			return nil, nil, fail("path prefix %q is not canonical", prefix)
		case prefix != "/" && strings.HasSuffix(prefix, "/"):
			return nil, nil, fail("path prefix %q must not end with /", prefix)
		}
		rt.prefix, rt.prefixEsc = p, esc
		rt.PathPrefix = p
		place := rt.host + " " + rt.prefix
		if other, dup := places[place]; dup {
			return nil, nil, fail("host %q and path prefix %q are already route %q's", rt.Host, prefix, other)
		}
		places[place] = rt.Name

		if len(rt.Upstreams) == 0 || len(rt.Upstreams) > 64 {
			return nil, nil, fail("%d upstreams: 1 to 64 are needed", len(rt.Upstreams))
		}
		for _, u := range rt.Upstreams {
			up, err := newUpstream(u)
			if err != nil {
				return nil, nil, fail("upstream: %v", err)
			}
			rt.upstreams = append(rt.upstreams, up)
		}

		if rt.MaxSessionAge < 0 {
			return nil, nil, fail("negative maximum session age")
		}
		if len(rt.Auth) == 0 {
			for _, a := range methods {
				if a.Method() != "mtls" {
					rt.auth = append(rt.auth, a)
				}
			}
		}
		for _, m := range rt.Auth {
			a, ok := byMethod[m]
			if !ok {
				return nil, nil, fail("authentication method %q has no authenticator", m)
			}
			if slices.Contains(rt.auth, a) {
				return nil, nil, fail("authentication method %q given twice", m)
			}
			rt.auth = append(rt.auth, a)
		}
		if !rt.Public && len(rt.auth) == 0 {
			return nil, nil, fail("not public, and no authenticator is configured")
		}
		t.add(rt)
		all = append(all, rt)
	}
	t.sort()
	return t, all, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// routeHost validates a route's host: a name without a port, a wildcard
// "*.name", or "".
func routeHost(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	wild := strings.HasPrefix(h, "*.")
	name := strings.TrimPrefix(h, "*.")
	if strings.ContainsAny(name, ":*") && !strings.HasPrefix(name, "[") {
		return "", errors.New("a route host has no port and at most one leading wildcard label")
	}
	c, port, err := CanonicalHost(name)
	if err != nil || port != "" || c == "" {
		return "", errors.New("not a valid host name")
	}
	if wild {
		if strings.HasPrefix(c, "[") {
			return "", errors.New("an address cannot be a wildcard")
		}
		return "*." + c, nil
	}
	return c, nil
}

// upstream is one server of a route.
type upstream struct {
	scheme, host      string
	basePath, baseEsc string // without a trailing slash; "" for none
	downUntil         atomicTime
}

func newUpstream(u *url.URL) (*upstream, error) {
	switch {
	case u == nil:
		return nil, errors.New("nil URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q is not an http or https URL", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("%q has no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("%q has user information; give upstream credentials another way", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("%q has a query or fragment", u.Redacted())
	}
	up := &upstream{scheme: u.Scheme, host: u.Host}
	if ep := u.EscapedPath(); ep != "" && ep != "/" {
		p, esc, err := CanonicalPath(strings.TrimSuffix(ep, "/"))
		if err != nil {
			return nil, fmt.Errorf("%q: base path: %v", u.Redacted(), err)
		}
		up.basePath, up.baseEsc = p, esc
	}
	return up, nil
}

// target is the upstream URL for a path relative to the upstream.
func (up *upstream) target(u *url.URL, path, escaped string) {
	u.Scheme, u.Host = up.scheme, up.host
	// Both forms are set, so that net/url sends exactly the canonical
	// encoding rather than its own.
	u.Path, u.RawPath = up.basePath+path, up.baseEsc+escaped
}
