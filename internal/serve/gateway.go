package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/assertion"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/demo"
	"github.com/ztgate/ztgate/internal/gateway"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/signin"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/sts"
	"github.com/ztgate/ztgate/internal/webidentity"
)

// MaxSignedBody bounds the body a SigV4 request to the gateway may carry
// with its payload signed: it is read whole to check the signature. Larger
// bodies are sent with UNSIGNED-PAYLOAD (or streaming), which the gateway
// forwards without reading.
const MaxSignedBody = 16 << 20

// routes turns the configuration's routes into the gateway's.
func gatewayRoutes(cs []config.Route, resolve func(string) string) ([]gateway.Route, map[string]string, error) {
	var out []gateway.Route
	policies := map[string]string{}
	for i, c := range cs {
		r := gateway.Route{
			Name: c.Name, Host: c.Host, PathPrefix: strings.TrimSuffix(c.PathPrefix, "/"),
			Public: c.Public, Auth: c.Auth, ReportOnly: c.ReportOnly, StripPrefix: c.StripPrefix,
			H2C: c.H2C, MaxSessionAge: c.MaxSessionAge.D(),
		}
		for _, u := range c.Upstreams {
			pu, err := url.Parse(u)
			if err != nil {
				return nil, nil, fmt.Errorf("gateway.routes[%d].upstreams: %w", i, err)
			}
			r.Upstreams = append(r.Upstreams, pu)
		}
		if c.UpstreamCA != "" || c.UpstreamCert != "" {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if c.UpstreamCA != "" {
				pem, err := os.ReadFile(resolve(c.UpstreamCA))
				if err != nil {
					return nil, nil, fmt.Errorf("gateway.routes[%d].upstream_ca_file: %w", i, err)
				}
				tc.RootCAs = x509.NewCertPool()
				if !tc.RootCAs.AppendCertsFromPEM(pem) {
					return nil, nil, fmt.Errorf("gateway.routes[%d].upstream_ca_file: no PEM certificate in it", i)
				}
			}
			if c.UpstreamCert != "" {
				cert, err := tls.LoadX509KeyPair(resolve(c.UpstreamCert), resolve(c.UpstreamKey))
				if err != nil {
					return nil, nil, fmt.Errorf("gateway.routes[%d].upstream_cert_file: %w", i, err)
				}
				tc.Certificates = []tls.Certificate{cert}
			}
			r.UpstreamTLS = tc
		}
		out = append(out, r)
		if c.Policy != "" {
			policies[routeKey(c.Name)] = c.Policy
		}
	}
	return out, policies, nil
}

// routeKey names a route's resource policy in the snapshot.
func routeKey(name string) string { return "route/" + name }

// sigv4Gateway authenticates SigV4-signed requests to gateway routes, for
// any service name the client signs for.
type sigv4Gateway struct{ a *authn.Authenticator }

func (sigv4Gateway) Method() string { return "sigv4" }

func (g sigv4Gateway) Authenticate(r *http.Request, _ *gateway.Route) (*gateway.Identity, error) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") && !r.URL.Query().Has("X-Amz-Credential") {
		return nil, gateway.ErrNoCredentials
	}
	var body []byte
	switch r.Header.Get("X-Amz-Content-Sha256") {
	case sigv4.UnsignedPayload, sigv4.StreamingPayload:
		// Not part of the signature (or checked chunk by chunk upstream
		// of nothing: streaming bodies are forwarded as sent).
	default:
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, MaxSignedBody+1))
			if err != nil {
				return nil, &gateway.Refusal{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "The request body could not be read."}
			}
			if len(b) > MaxSignedBody {
				return nil, &gateway.Refusal{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
					Message: "A body whose payload is signed must be at most " + strconv.Itoa(MaxSignedBody) + " bytes; send larger ones with x-amz-content-sha256: UNSIGNED-PAYLOAD."}
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	c, err := g.a.Authenticate(r, body)
	if err != nil {
		var e *sigv4.Error
		if errors.As(err, &e) {
			return nil, &gateway.Refusal{Status: e.HTTPStatus, Code: e.Code, Message: e.Message}
		}
		return nil, err
	}
	id := &gateway.Identity{
		Principal: c.Principal, ARN: c.ARN, ID: c.ID, Account: c.Account, Method: "sigv4",
		Context: &c.Context, SessionPolicies: c.SessionPolicies, Audit: c.Identity(),
	}
	if c.Session != nil {
		id.AuthTime = c.Session.Issued
	}
	return id, nil
}

// jwtGateway authenticates bearer OIDC tokens from the trusted issuers
// (sts.web_identity): the caller is the federated principal
// arn:zt:iam::ACCOUNT:oidc-provider/HOST/PATH, which routes' resource
// policies allow with conditions on HOST/PATH:sub, :aud and :amr.
//
// A verified token is remembered, by its SHA-256, until it expires or for
// jwtCacheTTL at most, so that a client sending the same token with every
// request does not cost a signature verification each time.
type jwtGateway struct {
	web     sts.WebIdentity
	account string
	clock   func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]verifiedJWT
}

// verifiedJWT is a token this node verified, and when.
type verifiedJWT struct {
	tok *webidentity.Token
	at  time.Time
}

// usable reports whether the verification still stands at now.
func (v verifiedJWT) usable(now time.Time) bool {
	return now.Before(v.tok.Expires) && now.Before(v.at.Add(jwtCacheTTL)) && !now.Before(v.at)
}

// jwtCacheTTL bounds how long a verified bearer token is trusted without
// verifying it again (a key withdrawn from the issuer's JWKS meanwhile
// stops it within this long); maxCachedJWTs bounds the memory.
const (
	jwtCacheTTL   = 5 * time.Minute
	maxCachedJWTs = 10_000
)

func newJWTGateway(web sts.WebIdentity, account string) *jwtGateway {
	return &jwtGateway{web: web, account: account, clock: time.Now, cache: map[[32]byte]verifiedJWT{}}
}

func (*jwtGateway) Method() string { return "jwt" }

// verify verifies tok, or finds it verified and not yet expired.
func (g *jwtGateway) verify(ctx context.Context, tok string) (*webidentity.Token, error) {
	key := sha256.Sum256([]byte(tok))
	now := g.clock()
	g.mu.Lock()
	v, ok := g.cache[key]
	g.mu.Unlock()
	if ok && v.usable(now) {
		return v.tok, nil
	}
	t, err := g.web.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if len(g.cache) >= maxCachedJWTs {
		for k, c := range g.cache {
			if !c.usable(now) {
				delete(g.cache, k)
			}
		}
		if len(g.cache) >= maxCachedJWTs {
			clear(g.cache)
		}
	}
	g.cache[key] = verifiedJWT{tok: t, at: now}
	g.mu.Unlock()
	return t, nil
}

func (g *jwtGateway) Authenticate(r *http.Request, _ *gateway.Route) (*gateway.Identity, error) {
	// The scheme is case-insensitive (RFC 9110, 11.1).
	h := r.Header.Get("Authorization")
	if len(h) < len("Bearer ") || !strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		return nil, gateway.ErrNoCredentials
	}
	tok := h[len("Bearer "):]
	t, err := g.verify(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		return nil, &gateway.Refusal{Status: http.StatusUnauthorized, Code: "InvalidToken", Message: "The bearer token is not valid."}
	}
	provider := sts.ProviderARN(g.account, t.Provider)
	p := authz.ParsePrincipal(provider)
	p.Kind = authz.FederatedUser
	var kc authz.Context
	kc.SetString("aws:FederatedProvider", provider)
	kc.SetString(t.Provider+":sub", t.Subject)
	if len(t.Audience) > 0 {
		kc.Set(t.Provider+":aud", keys.List(t.Audience))
	}
	if len(t.AMR) > 0 {
		kc.Set(t.Provider+":amr", keys.List(t.AMR))
	}
	return &gateway.Identity{
		Principal: p, ARN: provider, ID: t.Subject, Account: g.account, Method: "jwt",
		AuthTime: t.IssuedAt, Context: &kc,
		Audit: audit.UserIdentity{Type: "WebIdentityUser", PrincipalID: t.Provider + ":" + t.Subject, UserName: t.Subject},
	}, nil
}

// decider decides gateway requests with the node's policy snapshot and
// the routes' resource policies.
type decider struct{ policies *iam.Policies }

func (d decider) Decide(id *gateway.Identity, action, resource string) authz.Decision {
	snap := d.policies.Snapshot()
	if snap == nil {
		return authz.Decision{}
	}
	r := &authz.Request{Principal: id.Principal, Action: action, Resource: resource, Context: id.Context}
	return snap.Decide(r, routeKey(routeOf(resource)), id.SessionPolicies)
}

// routeOf is the route name in a route resource ARN
// (arn:zt:gateway::ACCOUNT:route/NAME/path).
func routeOf(resource string) string {
	_, rest, ok := strings.Cut(resource, ":route/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// asserter signs the upstream's identity assertion, reusing one per
// session and route while it is fresh.
type asserter struct {
	s       *assertion.Signer
	account string
}

func (a asserter) Assert(id *gateway.Identity, rt *gateway.Route) (string, error) {
	c := assertion.Claims{
		Subject: id.ARN, Audience: routeARN(a.account, rt.Name), PrincipalID: id.ID,
		Account: id.Account, Groups: id.Groups, SessionID: id.SessionID, Method: id.Method, AuthTime: id.AuthTime,
	}
	if c.Subject == "" {
		c.Subject = "anonymous"
	}
	key := id.Method + "\x00" + id.ARN + "\x00" + id.SessionID + "\x00" + rt.Name
	return a.s.Cached(key, c)
}

// routeARN names a route as a whole: the audience of its assertions.
func routeARN(account, name string) string {
	return "arn:" + iam.Partition + ":gateway::" + account + ":route/" + name
}

// gateway returns the node's gateway and the assertion signer, made once
// the store is open; nil when no route is configured.
func (n *node) gateway() (*gateway.Gateway, *assertion.Signer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gw != nil || n.st == nil || len(n.gwRoutes) == 0 {
		return n.gw, n.signer
	}
	if n.gwErr != nil && time.Since(n.gwTried) < 5*time.Second {
		return nil, nil
	}
	n.gwTried = time.Now()
	gw, signer, err := n.newGateway()
	if err != nil {
		n.gwErr = err
		n.log.Error("the gateway could not start; retrying", "err", err)
		return nil, nil
	}
	n.gw, n.signer, n.gwErr = gw, signer, nil
	return gw, signer
}

// newGateway builds the gateway; n.mu is held.
func (n *node) newGateway() (*gateway.Gateway, *assertion.Signer, error) {
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	signer, err := assertion.New(ctx, assertion.Config{Store: n.st, KEK: n.kek, TTL: n.cfg.Gateway.AssertionTTL.D(), Log: n.log})
	if err != nil {
		return nil, nil, fmt.Errorf("assertion keys: %w", err)
	}
	proxies, err := n.cfg.Gateway.Proxies()
	if err != nil {
		return nil, nil, err
	}
	if n.signin == nil {
		if n.signin, err = n.newSignin(ctx); err != nil {
			return nil, nil, fmt.Errorf("sign-in: %w", err)
		}
	}
	auths := []gateway.Authenticator{sessionGateway{s: n.signin, account: n.account()}, sigv4Gateway{a: n.gatewayAuthn()}}
	if n.web != nil {
		auths = append(auths, newJWTGateway(n.web, n.account()))
	}
	auths = append(auths, mtlsGateway{n: n})
	c := gateway.Config{
		Account: n.account(), Routes: n.gwRoutes, Authenticators: auths,
		Decider: decider{policies: n.policies}, Asserter: asserter{s: signer, account: n.account()},
		Audit: n.audit, TrustedProxies: proxies, Metrics: n.m.gateway, Log: n.log,
		LoginURL: n.signin.LoginURL,
	}
	gw, err := gateway.New(c)
	if err != nil {
		return nil, nil, err
	}
	return gw, signer, nil
}

// checkRoutes compiles the configured routes as the gateway will, with
// stand-ins for the authenticators the node will have, so that a route
// the gateway would refuse (a path prefix with dot segments, an upstream
// with a query, jwt without web identity issuers) stops the start with
// its reason, rather than leaving every route down while the node says it
// is ready.
func (n *node) checkRoutes() error {
	if len(n.gwRoutes) == 0 {
		return nil
	}
	methods := []string{"session", "sigv4"}
	if n.web != nil {
		methods = append(methods, "jwt")
	}
	auths := []gateway.Authenticator{}
	for _, m := range append(methods, "mtls") {
		auths = append(auths, standIn(m))
	}
	proxies, err := n.cfg.Gateway.Proxies()
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{Account: n.account(), Routes: n.gwRoutes, Authenticators: auths,
		Decider: refuseAll{}, Audit: &audit.Memory{}, TrustedProxies: proxies})
	if err != nil {
		if len(methods) == 2 && strings.Contains(err.Error(), `"jwt"`) {
			return fmt.Errorf("gateway.routes: %w (jwt needs sts.web_identity.issuers)", err)
		}
		return fmt.Errorf("gateway.routes: %w", err)
	}
	gw.Close()
	return nil
}

// standIn is an authenticator of a method that authenticates nobody.
type standIn string

func (m standIn) Method() string { return string(m) }
func (m standIn) Authenticate(*http.Request, *gateway.Route) (*gateway.Identity, error) {
	return nil, gateway.ErrNoCredentials
}

// refuseAll decides nothing is allowed.
type refuseAll struct{}

func (refuseAll) Decide(*gateway.Identity, string, string) authz.Decision { return authz.Decision{} }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// gatewayAuthn is the SigV4 check for gateway routes: any service name,
// payloads unsigned where the client says so; n.mu is held.
func (n *node) gatewayAuthn() *authn.Authenticator {
	keys := session.KeyStore{Keys: n.iam, Tokens: n.tokens, Revoked: &n.revoked}
	return authn.New(authn.Config{
		Verifier: &sigv4.Verifier{Keys: keys, MaxSkew: n.maxSkew(), AllowUnsignedPayload: true},
		Users:    n.iam, Tokens: n.tokens, Policies: n.policies,
	})
}

// gatewayLoop starts the gateway as soon as the store allows, then keeps
// its signing keys rotated and in step with the other nodes.
func (n *node) gatewayLoop(ctx context.Context) {
	n.mu.Lock()
	none := len(n.gwRoutes) == 0
	n.mu.Unlock()
	if none {
		return
	}
	for {
		if _, signer := n.gateway(); signer != nil {
			n.mu.Lock()
			si := n.signin
			n.mu.Unlock()
			go func() {
				if err := si.Run(ctx); err != nil && ctx.Err() == nil {
					n.log.Error("following sign-in sessions stopped", "err", err)
				}
			}()
			if err := signer.Run(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("rotating the gateway's assertion keys stopped", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// demoHost is the host name of the development demo app: browsers and
// curl resolve *.localhost to this machine.
const demoHost = "demo.localhost"

// startDemo serves the demo app on a loopback port and routes demoHost to
// it, for serve --dev without routes of its own.
func (n *node) startDemo() (func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo app: %w", err)
	}
	jwks := func() []byte {
		if _, s := n.gateway(); s != nil {
			return s.JWKS()
		}
		return nil
	}
	srv := &http.Server{Handler: demo.New(demo.Config{JWKS: jwks, Audience: routeARN(n.account(), "demo")}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	u, _ := url.Parse("http://" + ln.Addr().String())
	n.gwRoutes = append(n.gwRoutes, gateway.Route{Name: "demo", Host: demoHost, Upstreams: []*url.URL{u}})
	n.routePols[routeKey("demo")] = demoPolicy(n.account())
	return func() { srv.Close() }, nil
}

// demoPolicy is the demo route's resource policy: every principal of the
// account may use the demo app, except its /admin pages.
func demoPolicy(account string) string {
	route := routeARN(account, "demo")
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"AccountMayUseTheDemo","Effect":"Allow","Principal":{"AWS":"` + account + `"},"Action":"http:*","Resource":"` + route + `/*"},` +
		`{"Sid":"NoAdminPages","Effect":"Deny","Principal":"*","Action":"http:*","Resource":["` + route + `/admin","` + route + `/admin/*"]}]}`
}

// sessionGateway authenticates people by their sign-in session cookie.
type sessionGateway struct {
	s       *signin.Service
	account string
}

func (sessionGateway) Method() string { return "session" }

func (g sessionGateway) Authenticate(r *http.Request, _ *gateway.Route) (*gateway.Identity, error) {
	sess, err := g.s.Authenticate(r)
	if errors.Is(err, signin.ErrNoSession) || errors.Is(err, signin.ErrRevoked) || errors.Is(err, signin.ErrExpired) {
		// Browsers are sent to sign in (again); API clients told 401.
		return nil, gateway.ErrNoCredentials
	}
	if err != nil {
		return nil, err
	}
	p := authz.ParsePrincipal(sess.Principal)
	var kc authz.Context
	kc.SetString("aws:MultiFactorAuthPresent", strconv.FormatBool(sess.MFA))
	if sess.MFA && !sess.AuthTime.IsZero() {
		kc.SetString("aws:MultiFactorAuthAge", strconv.FormatInt(int64(time.Since(sess.AuthTime)/time.Second), 10))
	}
	if !sess.AuthTime.IsZero() {
		kc.SetString("aws:TokenIssueTime", sess.AuthTime.UTC().Format(time.RFC3339))
	}
	id := &gateway.Identity{
		Principal: p, ARN: sess.Principal, ID: sess.UserID, Account: g.account, Method: "session",
		SessionID: sess.ID, Groups: sess.Groups, AuthTime: sess.AuthTime, Context: &kc,
		Audit: audit.UserIdentity{Type: "IAMUser", ARN: sess.Principal, PrincipalID: sess.UserID, AccountID: g.account, UserName: sess.Name},
	}
	if p.Kind == authz.RoleSession {
		id.Audit.Type = "AssumedRole"
	}
	return id, nil
}

// holds reports whether the user or role principal names still exists
// under the unique id id, by the current policy snapshot; true while
// there is none yet.
func (n *node) holds(principal, id string) bool {
	if n.policies == nil {
		return true
	}
	snap := n.policies.Snapshot()
	if snap == nil {
		return true
	}
	p := authz.ParsePrincipal(principal)
	return snap.Holds(&p, id)
}

// newSignin makes the sign-in service; n.mu is held.
func (n *node) newSignin(ctx context.Context) (*signin.Service, error) {
	c := signin.Config{
		Store: n.st, KEK: n.kek, Directory: n.iam, Audit: n.audit, Log: n.log, Account: n.account(),
		Holds:       n.holds,
		IdleTimeout: n.cfg.Gateway.Sessions.IdleTimeout.D(), MaxLifetime: n.cfg.Gateway.Sessions.MaxLifetime.D(),
	}
	for _, p := range n.cfg.Gateway.Providers {
		c.IdPs = append(c.IdPs, signin.IdP{
			Name: p.Name, DisplayName: p.DisplayName, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			Scopes: p.Scopes, Role: p.Role, GroupsClaim: p.GroupsClaim,
		})
	}
	for _, r := range n.gwRoutes {
		if r.Host != "" {
			c.AllowedRedirectHosts = append(c.AllowedRedirectHosts, r.Host)
		}
	}
	return signin.New(ctx, c)
}
