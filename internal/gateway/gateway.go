package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// Config is what a Gateway needs.
type Config struct {
	// Account owns the routes: it is the account in their resource ARNs.
	Account string
	Routes  []Route
	// Authenticators, in the order routes without their own Auth list
	// try them. Their methods must be distinct.
	Authenticators []Authenticator
	Decider        Decider // required
	Asserter       Asserter
	// Audit records every decision and every refused credential; a
	// record that cannot be written refuses the request (a GET, forwarded
	// while its record is written, has its answer withheld). When it can
	// Submit (audit.Writer), safe requests overlap the record's wait with
	// the upstream's. Required.
	Audit audit.Recorder
	// TrustedProxies are the peers whose X-Forwarded-For, -Proto and
	// -Host are believed.
	TrustedProxies []netip.Prefix
	// LoginURL is where browsers without a (recent enough) sign-in are
	// sent, with the original URL in the ReturnToParam query parameter;
	// nil, or "", refuses them with 401 instead.
	LoginURL func(r *http.Request) string
	Metrics  *Metrics
	Log      *slog.Logger
	Clock    func() time.Time
}

// ReturnToParam is the login URL's query parameter that carries the URL a
// browser asked for.
const ReturnToParam = "return_to"

// Gateway is the identity-aware reverse proxy: an http.Handler that
// decides every request before forwarding it.
type Gateway struct {
	account  string
	router   *router
	routes   []*route
	decider  Decider
	asserter Asserter
	audit    audit.Recorder
	proxies  peer.Proxies
	loginURL func(*http.Request) string
	metrics  *Metrics
	log      *slog.Logger
	errorLog *log.Logger
	clock    func() time.Time
	buffers  *bufferPool
}

var _ http.Handler = (*Gateway)(nil)

// New validates c and returns a Gateway: route names unique and of
// [A-Za-z0-9_.-]{1,64}, hosts and path prefixes canonical, no two routes
// on the same host and prefix, upstreams absolute http or https URLs,
// every route's authentication methods configured.
func New(c Config) (*Gateway, error) {
	switch {
	case c.Decider == nil:
		return nil, fmt.Errorf("%w: no decider", ErrConfig)
	case c.Audit == nil:
		return nil, fmt.Errorf("%w: no audit recorder", ErrConfig)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: trusted proxy %v is not a valid prefix", ErrConfig, p)
		}
	}
	t, routes, err := compileRoutes(&c)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		account: c.Account, router: t, routes: routes,
		decider: c.Decider, asserter: c.Asserter, audit: c.Audit,
		loginURL: c.LoginURL, metrics: c.Metrics, log: c.Log, clock: c.Clock,
		buffers: &bufferPool{},
	}
	g.proxies = peer.NewProxies(c.TrustedProxies)
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.clock == nil {
		g.clock = time.Now
	}
	g.errorLog = slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)
	for _, rt := range routes {
		rt.proxy = newUpstreamTransport(rt, g.clock)
	}
	return g, nil
}

// Close closes the idle connections to the upstreams.
func (g *Gateway) Close() {
	for _, rt := range g.routes {
		rt.proxy.closeIdle()
	}
}

// Match returns a copy of the route a request would be served by, after
// the path and host checks.
func (g *Gateway) Match(r *http.Request) (*Route, bool) {
	raw, ref := requestPath(r)
	if ref != nil {
		return nil, false
	}
	path, _, err := CanonicalPath(raw)
	if err != nil {
		return nil, false
	}
	host, _, err := CanonicalHost(r.Host)
	if err != nil {
		return nil, false
	}
	rt := g.router.match(host, path)
	if rt == nil {
		return nil, false
	}
	c := rt.Route
	return &c, true
}

// Owns reports whether the gateway answers r: a route matches it, or
// its target, path or host is one the gateway refuses (an absolute-form
// target, ambiguous encodings, dot or empty segments, a host that is not
// canonical ASCII), which no other endpoint of a node serves either: the
// client gets the gateway's refusal, in its format, with a request id.
func (g *Gateway) Owns(r *http.Request) bool {
	raw, ref := requestPath(r)
	if ref != nil {
		return true
	}
	path, _, err := CanonicalPath(raw)
	if err != nil {
		return true
	}
	host, _, err := CanonicalHost(r.Host)
	if err != nil {
		return true
	}
	return g.router.match(host, path) != nil
}

// exchange is one request on its way through the gateway.
type exchange struct {
	g             *Gateway
	rid           string
	format        format
	rt            *route
	path, escaped string // canonical
	host, port    string // canonical
	client        peer.Client
	id            *Identity
	assertion     string
	body          *requestBody // an HTTP/1.x body being forwarded
	// signed holds the headers as the client sent them, identity headers
	// included: a signature (SigV4) covers the request as sent, so
	// authenticators see it whole; nothing else does.
	signed http.Header
}

func (x *exchange) routeName() string {
	if x.rt == nil {
		return noRoute
	}
	return x.rt.Name
}

// ServeHTTP decides the request and forwards or refuses it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	x := &exchange{g: g, rid: newRequestID()}
	defer func() {
		g.metrics.request(x.routeName(), r.Method, sw.status(), time.Since(start))
	}()
	w.Header().Set("X-Request-Id", x.rid)

	// Nothing past this point sees a client-sent identity header, except
	// the authenticators, which check signatures over the request as sent.
	if h := withoutIdentityHeaders(r.Header); len(h) != len(r.Header) {
		x.signed = r.Header
		r = r.WithContext(r.Context())
		r.Header = h
	}
	x.format = formatOf(r)
	if ref := x.serve(sw, r); ref != nil {
		switch ref.Status {
		case http.StatusUnauthorized:
			x.challenge(sw.Header())
		case http.StatusMethodNotAllowed:
			sw.Header().Set("Allow", "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE")
		}
		writeRefusal(sw, x.format, x.rid, ref)
	}
}

// challenge sets WWW-Authenticate on a 401 answer (RFC 9110, 11.6.1):
// the schemes the route takes in the Authorization header, or, on a
// route taken by sessions only, ztgate's sign-in, which no standard
// scheme describes. A route taking client certificates only has no
// scheme to name.
func (x *exchange) challenge(h http.Header) {
	var cs []string
	session := false
	if x.rt != nil {
		for _, a := range x.rt.auth {
			switch a.Method() {
			case "sigv4":
				cs = append(cs, "AWS4-HMAC-SHA256")
			case "jwt":
				cs = append(cs, `Bearer realm="ztgate"`)
			case "session":
				session = true
			}
		}
	}
	if len(cs) == 0 && session {
		cs = append(cs, `ztgate-session realm="ztgate"`)
	}
	if len(cs) > 0 {
		h["Www-Authenticate"] = cs
	}
}

// serve runs the request's checks and decision, and forwards it. A
// refusal it returns is written by the caller.
func (x *exchange) serve(w http.ResponseWriter, r *http.Request) *Refusal {
	g := x.g
	if r.Method == http.MethodConnect || !validMethod(r.Method) {
		return refuseMethod
	}
	raw, ref := requestPath(r)
	if ref != nil {
		return ref
	}
	var err error
	x.path, x.escaped, err = CanonicalPath(raw)
	if err != nil {
		var pe *PathError
		if errors.As(err, &pe) {
			return refusePath(pe)
		}
		return refusePathLong
	}
	x.host, x.port, err = CanonicalHost(r.Host)
	if err != nil {
		return refuseHost
	}
	x.rt = g.router.match(x.host, x.path)
	if x.rt == nil {
		return refuseNotFound
	}
	rt := x.rt
	x.client = g.proxies.Of(r)
	now := g.clock()

	id, ref := x.authenticate(r)
	if ref != nil {
		return ref
	}
	if id == nil {
		if !rt.Public {
			if x.redirectToLogin(w, r) {
				return nil
			}
			return refuseAuth
		}
		id = &Identity{Principal: authz.Principal{Kind: authz.Anonymous}}
	}
	x.id = id
	if rt.MaxSessionAge > 0 && id.Method != "" && (id.AuthTime.IsZero() || now.Sub(id.AuthTime) > rt.MaxSessionAge) {
		if x.redirectToLogin(w, r) {
			return nil
		}
		return refuseReauth
	}

	action := "http:" + r.Method
	resource := ResourceARN(g.account, rt.Name, x.path)
	x.fillContext(r, now)
	d := g.decider.Decide(id, action, resource)
	allowed := d.Effect == authz.Allowed
	reportOnly := !allowed && rt.ReportOnly
	// The decision's record is durable before anything of the answer goes
	// out. A safe request that will be forwarded overlaps the disk's wait
	// with the upstream's: it goes on at once, and its answer is held.
	rec := x.decisionRecord(r, action, resource, d, reportOnly)
	var wait func(context.Context) error
	if sub, ok := g.audit.(submitter); ok && (allowed || reportOnly) && safeMethod(r.Method) {
		wait, err = sub.Submit(r.Context(), rec)
	} else {
		err = g.audit.Record(r.Context(), rec)
	}
	if err != nil {
		g.log.Error("gateway: auditing a decision failed; refusing the request", "route", rt.Name, "err", err, "request_id", x.rid)
		return refuseAudit
	}
	switch {
	case allowed:
		g.metrics.decision(rt.Name, labelAllowed)
	case reportOnly:
		g.metrics.decision(rt.Name, labelReportOnly)
		g.log.Warn("gateway: denied in report-only mode; forwarding", "route", rt.Name, "principal", id.ARN,
			"action", action, "resource", resource, "decision", d.Effect.String(), "request_id", x.rid)
	default:
		g.metrics.decision(rt.Name, d.Effect.String())
		return refuseDenied(id.ARN, action, d.Effect == authz.ExplicitDeny)
	}

	if g.asserter != nil {
		a, err := g.asserter.Assert(id, &rt.Route)
		if err != nil {
			g.log.Error("gateway: signing the identity assertion failed", "route", rt.Name, "err", err, "request_id", x.rid)
			if wait != nil && wait(r.Context()) != nil {
				return refuseAudit
			}
			return refuseInternal
		}
		x.assertion = a
	}
	if wait != nil {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		hw := &heldWriter{ResponseWriter: w, x: x, ctx: r.Context(), wait: wait, cancel: cancel}
		defer hw.release() // an answer that wrote nothing still waits
		defer func() {
			// The upstream exchange cancelled after a failed record ends
			// the proxy with http.ErrAbortHandler; the refusal is whole.
			if v := recover(); v != nil && (v != http.ErrAbortHandler || hw.err == nil) {
				panic(v)
			}
		}()
		w, r = hw, r.WithContext(ctx)
	}
	x.forward(w, r)
	return nil
}

// validMethod accepts upper-case method names (WebDAV's have "-"): the
// policy matches actions case-insensitively, so "get" would be decided as
// GET and then served by an upstream as whatever it makes of it.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// requestPath is the path as the client sent it. Absolute-form targets
// ("GET http://host/path") are accepted only when a Host header is still
// present and names the same host; net/http drops the Host header of such
// requests, so behind it they are always refused.
func requestPath(r *http.Request) (string, *Refusal) {
	uri := r.RequestURI
	if uri == "" { // a request that did not come from a server
		if r.URL.Opaque != "" || r.URL.Host != "" {
			return "", refuseTarget
		}
		return r.URL.EscapedPath(), nil
	}
	if uri[0] == '/' || uri == "*" {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		return uri, nil
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		return "", refuseTarget
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	hdr := r.Header.Get("Host")
	a, _, err1 := CanonicalHost(authority)
	h, _, err2 := CanonicalHost(hdr)
	if hdr == "" || err1 != nil || err2 != nil || a != h || strings.Contains(authority, "@") {
		return "", refuseTarget
	}
	return path, nil
}

// authenticate tries the route's methods in order. It returns no identity
// and no refusal when the request carries no credentials at all.
func (x *exchange) authenticate(r *http.Request) (*Identity, *Refusal) {
	if x.signed != nil {
		orig, ar := r, *r
		ar.Header = x.signed
		// An authenticator that read the body left a replacement in it.
		defer func() { orig.Body = ar.Body }()
		r = &ar
	}
	for _, a := range x.rt.auth {
		id, err := a.Authenticate(r, &x.rt.Route)
		var ref *Refusal
		switch {
		case err == nil && id != nil:
			if id.Method == "" {
				id.Method = a.Method()
			}
			return id, nil
		case errors.Is(err, ErrNoCredentials):
			continue
		case errors.As(err, &ref):
			c := *ref
			if c.Status < 400 || c.Status > 499 {
				c.Status = http.StatusUnauthorized
			}
			if aerr := x.g.audit.Record(r.Context(), x.authFailureRecord(r, a.Method(), &c)); aerr != nil {
				x.g.log.Error("gateway: auditing an authentication failure failed", "route", x.rt.Name, "err", aerr, "request_id", x.rid)
				return nil, refuseAudit
			}
			return nil, &c
		default:
			if err == nil {
				err = errors.New("authenticator returned neither an identity nor an error")
			}
			x.g.log.Error("gateway: authentication failed", "route", x.rt.Name, "method", a.Method(), "err", err, "request_id", x.rid)
			return nil, refuseInternal
		}
	}
	return nil, nil
}

// redirectToLogin sends a browser to the login page and reports whether
// it did: only on a route that accepts sessions, where signing in helps
// (elsewhere the browser would come back without a way in, and loop).
func (x *exchange) redirectToLogin(w http.ResponseWriter, r *http.Request) bool {
	if x.g.loginURL == nil || x.format != formatHTML || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !x.rt.accepts("session") {
		return false
	}
	login := x.g.loginURL(r)
	if login == "" {
		return false
	}
	u, err := url.Parse(login)
	if err != nil {
		x.g.log.Error("gateway: the login URL is not a URL", "err", err, "request_id", x.rid)
		return false
	}
	q := u.Query()
	q.Set(ReturnToParam, x.originalURL(r))
	u.RawQuery = q.Encode()
	h := w.Header()
	h.Set("Location", u.String())
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
	return true
}

// originalURL is the URL the client asked for, in its canonical form.
func (x *exchange) originalURL(r *http.Request) string {
	scheme := "http"
	if x.client.Secure {
		scheme = "https"
	}
	s := scheme + "://" + x.hostPort() + x.escaped
	if r.URL.RawQuery != "" {
		s += "?" + r.URL.RawQuery
	}
	return s
}

func (x *exchange) hostPort() string {
	if x.port == "" {
		return x.host
	}
	return x.host + ":" + x.port
}

// fillContext completes the identity's condition context with what the
// gateway knows. Its own keys replace any an authenticator set.
func (x *exchange) fillContext(r *http.Request, now time.Time) {
	id := x.id
	if id.Context == nil {
		id.Context = &authz.Context{}
	}
	c := id.Context
	if x.client.Addr.IsValid() {
		c.SetString(keys.SourceIP, x.client.Addr.String())
	} else {
		c.Delete(keys.SourceIP)
	}
	c.SetString(keys.SecureTransport, strconv.FormatBool(x.client.Secure))
	if r.TLS != nil {
		c.SetString(keys.TLSVersion, tls.VersionName(r.TLS.Version))
		c.SetString(keys.TLSCipherSuite, tls.CipherSuiteName(r.TLS.CipherSuite))
	} else {
		c.Delete(keys.TLSVersion)
		c.Delete(keys.TLSCipherSuite)
	}
	c.SetString(keys.CurrentTime, now.UTC().Format(time.RFC3339))
	c.SetString(keys.EpochTime, strconv.FormatInt(now.Unix(), 10))
	setOrDelete(c, keys.UserAgent, r.Header.Get("User-Agent"))
	setOrDelete(c, keys.Referer, r.Header.Get("Referer"))
	c.SetString(keys.Route, x.rt.Name)
	c.SetString(keys.Host, x.host)
	c.SetString(keys.HTTPPath, x.path)
	c.SetString(keys.HTTPMethod, r.Method)
	setIfMissing := func(k, v string) {
		if _, ok := c.Lookup(k); !ok && v != "" {
			c.SetString(k, v)
		}
	}
	setIfMissing(keys.AuthMethod, id.Method)
	setIfMissing(keys.SessionID, id.SessionID)
	if !id.AuthTime.IsZero() {
		setIfMissing(keys.AuthTime, id.AuthTime.UTC().Format(time.RFC3339))
	}
	c.SetDefaults(id.Principal, now)
}

func setOrDelete(c *authz.Context, k, v string) {
	if v == "" {
		c.Delete(k)
		return
	}
	c.SetString(k, v)
}

// actor is the audit record's description of the caller.
func (x *exchange) actor(r *http.Request, method string, id audit.UserIdentity) audit.Actor {
	a := audit.Actor{Identity: id, UserAgent: r.Header.Get("User-Agent"), AuthMethod: method}
	if x.id != nil {
		a.Device = x.id.Device
	}
	if x.client.Addr.IsValid() {
		a.SourceIP = x.client.Addr.String()
	}
	if r.TLS != nil {
		a.TLS = &audit.TLSDetails{
			TLSVersion:               tls.VersionName(r.TLS.Version),
			CipherSuite:              tls.CipherSuiteName(r.TLS.CipherSuite),
			ClientProvidedHostHeader: x.host,
		}
	}
	return a
}

func (x *exchange) decisionRecord(r *http.Request, action, resource string, d authz.Decision, reportOnly bool) *audit.Record {
	var matched []audit.Statement
	for _, s := range d.Matched() {
		effect := "Deny"
		if s.Allow {
			effect = "Allow"
		}
		name := ""
		if s.Policy != nil {
			name = s.Policy.Name
		}
		matched = append(matched, audit.Statement{Policy: name, Sid: s.Sid, Index: s.Index, Effect: effect})
	}
	ev := audit.DecisionEvent{
		Actor:      x.actor(r, x.id.Method, auditIdentity(x.id)),
		Source:     audit.SourceGateway,
		Name:       r.Method,
		RequestID:  x.rid,
		Action:     action,
		Resources:  []audit.Resource{{ARN: resource, AccountID: x.g.account, Type: "ZTGate::Gateway::Route"}},
		Route:      x.rt.Name,
		Decision:   d.Effect.String(),
		Matched:    matched,
		ReportOnly: reportOnly,
		ReadOnly:   r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions,
		Parameters: map[string]any{"host": x.host, "path": x.path},
	}
	switch {
	case d.Effect == authz.ImplicitDeny && d.BlockedBy == authz.NoLayer:
		ev.BlockedBy = authz.LayerIdentity.String()
	case d.Effect != authz.Allowed && d.BlockedBy != authz.NoLayer:
		ev.BlockedBy = d.BlockedBy.String()
	}
	return ev.Record()
}

func (x *exchange) authFailureRecord(r *http.Request, method string, ref *Refusal) *audit.Record {
	return audit.AuthFailureEvent{
		Actor:     x.actor(r, method, audit.UserIdentity{Type: "Unknown"}),
		Source:    audit.SourceGateway,
		Name:      r.Method,
		RequestID: x.rid,
		Code:      ref.Code,
		Message:   ref.Message,
		Parameters: map[string]any{
			"route": x.rt.Name, "host": x.host, "path": x.path,
		},
	}.Record()
}

// auditIdentity names the caller in audit records: the authenticator's
// description, else one built from the identity.
func auditIdentity(id *Identity) audit.UserIdentity {
	if id.Audit.Type != "" {
		return id.Audit
	}
	p := id.Principal
	u := audit.UserIdentity{PrincipalID: id.ID, ARN: id.ARN, AccountID: id.Account}
	if u.ARN == "" {
		u.ARN = p.ARN
	}
	if u.AccountID == "" {
		u.AccountID = p.Account
	}
	switch p.Kind {
	case authz.Anonymous:
		return audit.UserIdentity{Type: "Anonymous"}
	case authz.AccountRoot:
		u.Type = "Root"
	case authz.User:
		u.Type, u.UserName = "IAMUser", p.Name
	case authz.Role, authz.RoleSession:
		u.Type = "AssumedRole"
	case authz.FederatedUser:
		u.Type = "FederatedUser"
	case authz.Service:
		u.Type = "AWSService"
	case authz.Workload:
		u.Type = "Workload"
	default:
		u.Type = "Unknown"
	}
	return u
}

// forward sends the request upstream and streams the answer back.
func (x *exchange) forward(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// An upstream may answer while the body is still arriving
		// (streams, echoes): HTTP/1.1 must keep reading it meanwhile.
		rc := http.NewResponseController(w)
		rc.EnableFullDuplex()
		x.body = newRequestBody(r, rc)
		defer x.body.finish()
		r = r.WithContext(r.Context()) // the server's request keeps its body
		r.Body = x.body
	}
	p := &httputil.ReverseProxy{
		Rewrite:   x.rewrite,
		Transport: x.rt.proxy,
		// No flushing of our own: the proxy flushes streams (answers
		// of unknown length, as gRPC's, and server-sent events) after
		// every write anyway. An answer of known length goes out as the
		// upstream framed it. Flushing its head at once (-1) raced the
		// end of a gRPC trailers-only answer (one HEADERS frame that
		// carries the status and ends the stream); when the flush won,
		// the client got a head, then an end of stream without status.
		FlushInterval: 0,
		BufferPool:    x.g.buffers,
		ErrorLog:      x.g.errorLog,
		ErrorHandler:  x.proxyError,
		ModifyResponse: func(res *http.Response) error {
			if res.StatusCode == http.StatusSwitchingProtocols {
				if err := x.body.switching(); err != nil {
					return err
				}
			} else {
				x.body.answer(res.Header)
			}
			// One request id, ours (the proxy adds the upstream's
			// headers to those already set).
			res.Header.Del("X-Request-Id")
			if len(res.Trailer) > 0 {
				// An HTTP/2 upstream may send a length with its
				// trailers; an HTTP/1.1 client gets trailers only
				// with chunking.
				res.Header.Del("Content-Length")
				res.ContentLength = -1
			}
			return nil
		},
	}
	defer func() {
		// When the upstream's answer breaks off after its head, the proxy
		// aborts the client's connection: an upstream error all the same
		// (unless the client is the one who went away).
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler && r.Context().Err() == nil {
				x.g.metrics.upstreamError(x.rt.Name)
				x.g.log.Warn("gateway: the upstream's answer broke off", "route", x.rt.Name, "request_id", x.rid)
			}
			panic(v)
		}
	}()
	p.ServeHTTP(w, r)
}

// rewrite builds the upstream request: the decided path, no ztgate
// credentials, no forwarding or override header of the client's, ztgate's
// forwarding headers and the identity assertion. The reverse proxy has
// already removed hop-by-hop headers from Out.
func (x *exchange) rewrite(pr *httputil.ProxyRequest) {
	out, h := pr.Out, pr.Out.Header
	switch x.id.Method {
	case "sigv4":
		// A presigned URL is a credential until it expires.
		out.URL.RawQuery = stripSigningParams(out.URL.RawQuery)
		fallthrough
	case "jwt":
		h.Del("Authorization")
		h.Del("X-Amz-Security-Token")
	}
	stripForwarding(h)
	// The session cookie and the sign-in pages' flow and CSRF cookies
	// are ztgate's own: no upstream sees them.
	stripCookie(h, SessionCookie)
	stripCookie(h, SessionCookie+"-flow")
	stripCookie(h, SessionCookie+"-csrf")

	// The path relative to the upstream; the transport adds the
	// upstream's base path and address.
	out.URL.Path, out.URL.RawPath = x.rt.upstreamPath(x.path, x.escaped)
	out.Host = ""

	if x.client.Peer.IsValid() {
		xff := x.client.Peer.String()
		if prior := pr.In.Header["X-Forwarded-For"]; x.client.Trusted && len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + xff
		}
		h.Set("X-Forwarded-For", xff)
	}
	proto := "http"
	if x.client.Secure {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	fh := x.hostPort()
	if x.client.Trusted {
		if v := peer.LastValue(pr.In.Header["X-Forwarded-Host"]); v != "" {
			fh = v
		}
	}
	if fh != "" {
		h.Set("X-Forwarded-Host", fh)
	}
	h.Set("X-Request-Id", x.rid)
	if x.assertion != "" {
		h.Set(AssertionHeader, x.assertion)
	}
}

// proxyError answers a request whose upstream failed.
func (x *exchange) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x.body.answer(w.Header())
	if r.Context().Err() != nil { // the client went away
		x.g.log.Debug("gateway: client gone before the upstream answered", "route", x.rt.Name, "err", err, "request_id", x.rid)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	x.g.metrics.upstreamError(x.rt.Name)
	x.g.log.Warn("gateway: upstream failed", "route", x.rt.Name, "err", err, "request_id", x.rid)
	writeRefusal(w, x.format, x.rid, refuseBadGateway)
}

// newRequestID returns a random (version 4) UUID, as AWS's request ids.
func newRequestID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// statusWriter remembers the status of the answer for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack takes over the connection of an upgraded request (WebSocket).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.code = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// bufferPool lends the reverse proxy its copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
