package gateway

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
)

const testAccount = "111122223333"

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeAuth authenticates one method from a table of credentials: a
// bearer token ("jwt"), the credential name of an AWS4 Authorization
// ("sigv4"), or the session cookie ("session"). An unknown credential is
// refused; "boom" is an internal failure.
type fakeAuth struct {
	method string
	users  map[string]Identity
	clock  *fakeClock
}

var _ Authenticator = (*fakeAuth)(nil)

func (a *fakeAuth) Method() string { return a.method }

func (a *fakeAuth) Authenticate(r *http.Request, _ *Route) (*Identity, error) {
	var cred string
	switch a.method {
	case "jwt":
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			cred = v
		}
	case "sigv4":
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="); ok {
			cred, _, _ = strings.Cut(v, "/")
		}
	case "session":
		if c, err := r.Cookie(SessionCookie); err == nil {
			cred = c.Value
		}
	case "mtls":
		cred = r.Header.Get("X-Test-Client-Cert")
	}
	switch cred {
	case "":
		return nil, ErrNoCredentials
	case "boom":
		return nil, fmt.Errorf("the key store is down")
	}
	u, ok := a.users[cred]
	if !ok {
		return nil, &Refusal{Status: http.StatusUnauthorized, Code: "InvalidCredentials", Message: "The credentials <b>&</b> are not valid."}
	}
	id := u
	id.Context = &authz.Context{}
	if u.Context != nil {
		for _, k := range u.Context.Keys() {
			v, _ := u.Context.Lookup(k)
			id.Context.Set(k, v)
		}
	}
	if id.AuthTime.IsZero() && a.clock != nil {
		id.AuthTime = a.clock.Now().Add(-time.Minute)
	}
	return &id, nil
}

func user(name string) Identity {
	arn := "arn:zt:iam::" + testAccount + ":user/" + name
	return Identity{
		Principal: authz.Principal{ARN: arn, Kind: authz.User, Partition: "zt", Account: testAccount, Name: name},
		ARN:       arn, ID: "AIDA" + strings.ToUpper(name), Account: testAccount,
	}
}

// decision is one request the fake decider saw.
type decision struct {
	action, resource string
	ctx              map[string]string
	principal        string
}

// prefixDecider allows the resources under allow (ARN prefixes) and
// explicitly denies those under deny; it records what it decided on.
type prefixDecider struct {
	allow, deny []string
	mu          sync.Mutex
	seen        []decision
}

var _ Decider = (*prefixDecider)(nil)

func (d *prefixDecider) Decide(id *Identity, action, resource string) authz.Decision {
	ctx := map[string]string{}
	for _, k := range id.Context.Keys() {
		v, _ := id.Context.Lookup(k)
		ctx[k] = v.At(0)
	}
	d.mu.Lock()
	d.seen = append(d.seen, decision{action: action, resource: resource, ctx: ctx, principal: id.Principal.ARN})
	d.mu.Unlock()
	for _, p := range d.deny {
		if strings.HasPrefix(resource, p) {
			return authz.Decision{Effect: authz.ExplicitDeny}
		}
	}
	for _, p := range d.allow {
		if strings.HasPrefix(resource, p) {
			return authz.Decision{Effect: authz.Allowed}
		}
	}
	return authz.Decision{Effect: authz.ImplicitDeny}
}

func (d *prefixDecider) decisions() []decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]decision(nil), d.seen...)
}

// policyDecider decides with the real policy engine over identity
// policies.
type policyDecider struct{ set *authz.Set }

func (d *policyDecider) Decide(id *Identity, action, resource string) authz.Decision {
	return authz.Evaluate(&authz.Request{Principal: id.Principal, Action: action, Resource: resource, Context: id.Context},
		&authz.Policies{Identity: d.set})
}

// fakeAsserter signs nothing: its assertion names the caller and route.
type fakeAsserter struct{ err error }

func (a *fakeAsserter) Assert(id *Identity, rt *Route) (string, error) {
	if a.err != nil {
		return "", a.err
	}
	who := id.ARN
	if who == "" {
		who = "anonymous"
	}
	return "assert:" + rt.Name + ":" + who, nil
}

// seenRequest is what an upstream received.
type seenRequest struct {
	Method, RequestURI, Path, RawPath, Host, Proto string
	Header                                         http.Header
}

// upstream is a real HTTP server that records what it receives.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
	name string
}

func newRecorder(t testing.TB, name string) *recorder {
	u := &recorder{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *recorder) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{
		Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
		Host: r.Host, Proto: r.Proto, Header: r.Header.Clone(),
	})
	u.mu.Unlock()
	w.Header().Set("X-Upstream", u.name)
	io.WriteString(w, "hello from "+u.name)
}

func (u *recorder) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// byID finds the request forwarded for a gateway request id.
func (u *recorder) byID(rid string) (seenRequest, bool) {
	for _, s := range u.requests() {
		if s.Header.Get("X-Request-Id") == rid {
			return s, true
		}
	}
	return seenRequest{}, false
}

func (u *recorder) URL() *url.URL { return mustURL(u.Server.URL) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// harness is a gateway served on a real listener, in front of upstreams.
type harness struct {
	t       testing.TB
	gw      *Gateway
	srv     *httptest.Server
	audit   *audit.Memory
	dec     *prefixDecider
	reg     *prometheus.Registry
	metrics *Metrics
	clock   *fakeClock
	cfg     Config
}

// newHarness builds a gateway from cfg; empty parts get the defaults: a
// prefix decider, a memory audit, a fake clock, jwt, sigv4 and session
// authenticators knowing alice and bob, and metrics.
func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), reg: prometheus.NewRegistry()}
	if cfg.Audit == nil {
		h.audit = &audit.Memory{Clock: h.clock.Now}
		cfg.Audit = h.audit
	} else if m, ok := cfg.Audit.(*audit.Memory); ok {
		h.audit = m
	}
	if cfg.Decider == nil {
		h.dec = &prefixDecider{}
		cfg.Decider = h.dec
	} else if d, ok := cfg.Decider.(*prefixDecider); ok {
		h.dec = d
	}
	if cfg.Clock == nil {
		cfg.Clock = h.clock.Now
	}
	if cfg.Account == "" {
		cfg.Account = testAccount
	}
	if cfg.Authenticators == nil {
		users := map[string]Identity{"alice": user("alice"), "bob": user("bob")}
		cfg.Authenticators = []Authenticator{
			&fakeAuth{method: "session", users: users, clock: h.clock},
			&fakeAuth{method: "sigv4", users: users, clock: h.clock},
			&fakeAuth{method: "jwt", users: users, clock: h.clock},
		}
	}
	if cfg.Metrics == nil {
		m, err := NewMetrics(h.reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Metrics = m
	}
	h.metrics = cfg.Metrics
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	h.gw, h.cfg = gw, cfg
	h.srv = serveGateway(t, gw, nil)
	return h
}

// serveGateway serves handler on a real listener; configure, if not nil,
// adjusts the server before it starts. A panic the server recovered from
// (it logs it and drops the connection, so the client may never notice)
// fails the test.
func serveGateway(t testing.TB, handler http.Handler, configure func(*http.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	errs := &syncBuffer{}
	srv.Config.ErrorLog = log.New(errs, "", 0)
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	// Cleanups run last first: the log is read once the server is closed
	// and its connections are done.
	t.Cleanup(func() {
		if s := errs.String(); strings.Contains(s, "panic") {
			t.Errorf("the server recovered from a panic:\n%s", s)
		} else if s != "" {
			t.Logf("the server logged:\n%s", s)
		}
	})
	t.Cleanup(srv.Close)
	return srv
}

// syncBuffer is a buffer written by several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitRequests waits until the gateway has counted want requests of a
// route, method and status code. A request is counted when the gateway is
// done with it, which can be after the client has received the whole
// answer: the counter is read until it reaches want, and fails the test
// if it goes past it or does not get there within a few seconds.
func (h *harness) waitRequests(route, method, code string, want float64) {
	h.t.Helper()
	c := h.metrics.requests.WithLabelValues(route, method, code)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := testutil.ToFloat64(c)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			h.t.Errorf("requests counted for route %q, %s, %s: %v, want %v", route, method, code, got, want)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// do sends a request through the gateway with the real client.
func (h *harness) do(method, target string, header map[string]string, body io.Reader) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+target, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(b)
}

// raw sends one HTTP/1.1 request as bytes, for targets and hosts no client
// would send.
func (h *harness) raw(target, host string, extra ...string) (*http.Response, string) {
	h.t.Helper()
	return rawRequest(h.t, h.srv.Listener.Addr().String(), "GET", target, host, extra...)
}

func rawRequest(t testing.TB, addr, method, target, host string, extra ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	if host != "\x00" { // "\x00": no Host header at all
		b.WriteString("Host: " + host + "\r\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return rawBytes(t, addr, b.String())
}

// rawBytes sends a request as bytes and reads the response.
func rawBytes(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// record finds the audit record of a request id.
func (h *harness) record(rid string) (audit.Record, bool) {
	for _, r := range h.audit.Records() {
		if r.RequestID == rid {
			return r, true
		}
	}
	return audit.Record{}, false
}

// ctxValue reads one key of a recorded context.
func ctxValue(d decision, k string) string { return d.ctx[k] }
