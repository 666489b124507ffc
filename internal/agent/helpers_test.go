package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"github.com/ztgate/ztgate/internal/testkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

const testTD = "example.org"

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// has reports whether a JSON log holds a line with message msg.
func (b *syncBuffer) has(msg string) bool {
	return strings.Contains(b.String(), `"msg":"`+msg)
}

// fakeClock is the server's clock, moved by hand; it starts at the real
// time because the CA and the TLS stack read real time.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// shortDir is a directory with a path short enough for a Unix socket.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func openSQLite(t testing.TB, path, node string) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.SQLite, Path: path, Node: node, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// env is one node: a store, its CA, the agent API on a TLS listener, the
// control socket, and the audit records.
type env struct {
	t      *testing.T
	dir    string // the node's data directory (its control socket)
	dbPath string
	kek    *secret.KEK
	st     store.Store
	ca     *pki.CA
	audit  *audit.Memory
	fail   atomic.Bool // the audit log fails
	clock  *fakeClock
	srv    *Server
	logs   *syncBuffer

	mu   sync.Mutex
	ts   *httptest.Server
	addr string
	tlsc *tls.Config
}

type envOption func(*ServerConfig)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, dir: shortDir(t), audit: &audit.Memory{}, clock: &fakeClock{}, logs: &syncBuffer{}}
	e.dbPath = filepath.Join(t.TempDir(), "ztgate.db")
	e.st = openSQLite(t, e.dbPath, "node-a")
	var err error
	if e.kek, err = secret.GenerateKEK(rand.Reader); err != nil {
		t.Fatal(err)
	}
	e.ca, err = pki.Open(context.Background(), pki.Config{Store: e.st, KEK: e.kek, TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.ca.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := ServerConfig{
		CA:    func() *pki.CA { return e.ca },
		Store: func() (store.Store, error) { return e.st, nil },
		Audit: recorderFunc(func(ctx context.Context, r *audit.Record) error {
			if e.fail.Load() {
				return errors.New("audit log: disk full")
			}
			return e.audit.Record(ctx, r)
		}),
		Log:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock: e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if e.srv, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	e.tlsc = &tls.Config{Certificates: []tls.Certificate{e.serverCert()}, ClientAuth: tls.RequestClientCert}
	e.startTLS("127.0.0.1:0")
	t.Cleanup(e.stopTLS)
	e.serveControl()
	return e
}

// serverCert is the TLS listener's certificate, issued by the CA for
// 127.0.0.1 as the node issues its own.
func (e *env) serverCert() tls.Certificate {
	key := newP256(e.t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		e.t.Fatal(err)
	}
	chain, err := e.ca.Sign(context.Background(), pki.Request{
		CSR: csr, Subject: pkix.Name{CommonName: "ztgate test node"}, Requester: "test",
	}, pki.ModifyCertFunc(func(c *x509.Certificate) error {
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		return nil
	}))
	if err != nil {
		e.t.Fatal(err)
	}
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// startTLS serves the agent API on addr, as the node's listener would.
func (e *env) startTLS(addr string) {
	e.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(PathPrefix, e.srv.Handler())
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener.Close()
	ts.Listener = l
	ts.TLS = e.tlsc.Clone()
	ts.StartTLS()
	e.mu.Lock()
	e.ts, e.addr = ts, l.Addr().String()
	e.mu.Unlock()
}

func (e *env) stopTLS() {
	e.mu.Lock()
	ts := e.ts
	e.ts = nil
	e.mu.Unlock()
	if ts != nil {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// restartTLS serves again on the same address.
func (e *env) restartTLS() { e.startTLS(e.addr) }

func (e *env) url() string { return "https://" + e.addr }

// serveControl serves the administration API on the node's control
// socket, as the node does.
func (e *env) serveControl() {
	l, err := control.Listen(filepath.Join(e.dir, "ztgate.sock"))
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ControlPrefix+"/", e.srv.ControlHandler())
	hs := &http.Server{Handler: mux, ConnContext: control.ConnContext}
	go hs.Serve(l)
	e.t.Cleanup(func() { hs.Close() })
}

// admin runs "ztgate agent ARGS --data-dir NODE".
func (e *env) admin(args ...string) (string, error) {
	e.t.Helper()
	cmd := Command()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--data-dir", e.dir))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func (e *env) mustAdmin(args ...string) string {
	e.t.Helper()
	out, err := e.admin(args...)
	if err != nil {
		e.t.Fatalf("ztgate agent %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// token creates a join token for name.
func (e *env) token(name string) string {
	return strings.TrimSpace(e.mustAdmin("token", "create", "--name", name))
}

// entry creates an entry and returns its id.
func (e *env) entry(parent, spiffeID string, extra ...string) string {
	args := append([]string{"entry", "create", "--parent", parent, "--spiffe-id", spiffeID}, extra...)
	return strings.TrimSpace(e.mustAdmin(args...))
}

// bundleJSON is the CA's bundle, as "ztgate ca show --format bundle" prints it.
func (e *env) bundleJSON() []byte { return e.ca.BundleJSON() }

// selfUID is the selector that matches this test process.
func selfUID() string { return "unix:uid:" + strconv.Itoa(os.Getuid()) }

// certCount is how many certificates the CA has on record.
func (e *env) certCount() int {
	recs, err := e.st.List(context.Background(), pki.KindCert, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return len(recs)
}

// failures returns the audit records of refusals named name.
func (e *env) records(category, name string) []audit.Record {
	var out []audit.Record
	for _, r := range e.audit.Records() {
		if r.ZTGate != nil && r.ZTGate.Category == category && r.EventName == name {
			out = append(out, r)
		}
	}
	return out
}

// runningAgent is an agent started by a test.
type runningAgent struct {
	a      *Agent
	dir    string
	socket string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func (e *env) startAgent(token string, mods ...func(*Config)) *runningAgent {
	e.t.Helper()
	return e.startAgentIn(shortDir(e.t), token, mods...)
}

func (e *env) startAgentIn(dir, token string, mods ...func(*Config)) *runningAgent {
	e.t.Helper()
	ra := &runningAgent{dir: dir, logs: &syncBuffer{}, done: make(chan error, 1)}
	cfg := Config{
		Server: e.url(), JoinToken: JoinToken(token), TrustBundle: e.bundleJSON(), Dir: dir,
		SyncInterval: 100 * time.Millisecond,
		Log:          slog.New(slog.NewJSONHandler(ra.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mods {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ra.a, ra.socket = a, a.cfg.Socket
	ctx, cancel := context.WithCancel(context.Background())
	ra.cancel = cancel
	go func() { ra.done <- a.Run(ctx) }()
	e.t.Cleanup(func() { ra.stop(e.t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if listening(ra.socket) {
			return ra
		}
		select {
		case err := <-ra.done:
			e.t.Fatalf("agent stopped: %v\n%s", err, ra.logs)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("agent socket never appeared\n%s", ra.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the agent and checks it stopped cleanly.
func (ra *runningAgent) stop(t testing.TB) {
	t.Helper()
	if ra.cancel == nil {
		return
	}
	ra.cancel()
	ra.cancel = nil
	select {
	case err := <-ra.done:
		if err != nil {
			t.Errorf("agent Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("agent did not stop")
	}
}

func (ra *runningAgent) addr() workloadapi.ClientOption {
	return workloadapi.WithAddr("unix://" + ra.socket)
}

// creds returns the agent's saved SVID as a TLS client certificate.
func (ra *runningAgent) creds(t testing.TB) (tls.Certificate, *pki.SVID) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ra.dir, svidFile))
	if err != nil {
		t.Fatal(err)
	}
	svid, key, err := pki.ParseSVIDPEM(data, data)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{PrivateKey: key.Signer(), Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c, svid
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newP256(t testing.TB) *ecdsa.PrivateKey { return testkit.P256(t) }

// csrPEM makes a CSR for key, shaped by mod.
func csrPEM(t testing.TB, key crypto.Signer, mod func(*x509.CertificateRequest)) string {
	t.Helper()
	tmpl := &x509.CertificateRequest{}
	if mod != nil {
		mod(tmpl)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: testkit.CSR(t, key, tmpl)}))
}

// rawClient calls the agent API directly, presenting cert when given.
type rawClient struct {
	t    testing.TB
	base string
	http *http.Client
}

func (e *env) rawClient(cert *tls.Certificate) *rawClient {
	pool := x509.NewCertPool()
	for _, c := range e.ca.Bundle().X509Authorities() {
		pool.AddCert(c)
	}
	tc := &tls.Config{RootCAs: pool}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &rawClient{t: e.t, base: e.url(), http: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}}
}

// call sends body (JSON-encoded unless it is a string) and returns the
// status and the decoded refusal, if any.
func (c *rawClient) call(method, endpoint string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+PathPrefix+endpoint, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// refusal checks that an answer is the refusal code, and returns it.
func wantRefusal(t testing.TB, status int, data []byte, wantStatus int, code string) APIError {
	t.Helper()
	var e APIError
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("status %d, body %q: not an error", status, data)
	}
	if status != wantStatus || e.Code != code {
		t.Fatalf("got %d %s (%q), want %d %s", status, e.Code, e.Message, wantStatus, code)
	}
	if e.Message == "" {
		t.Error("refusal without a message")
	}
	return e
}

// recorderFunc is an audit.Recorder.
type recorderFunc func(context.Context, *audit.Record) error

func (f recorderFunc) Record(ctx context.Context, r *audit.Record) error { return f(ctx, r) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func mustList(t testing.TB, e *env, kind string) []store.Record {
	t.Helper()
	recs, err := e.st.List(context.Background(), kind, "")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// revokedKeys lists the revoked serials' record keys.
func (e *env) revokedKeys() string {
	var keys []string
	for _, r := range mustList(e.t, e, pki.KindRevoked) {
		keys = append(keys, r.Key)
	}
	return strings.Join(keys, " ")
}

func rootPool(e *env) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range e.ca.Bundle().X509Authorities() {
		pool.AddCert(c)
	}
	return pool
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// agentClient joins an agent by hand and returns a client with its
// certificate: for tests that need several agents' credentials.
func (e *env) agentClient(name string) *rawClient {
	e.t.Helper()
	key := newP256(e.t)
	st, body := e.rawClient(nil).call(http.MethodPost, EndpointJoin, JoinRequest{Token: e.token(name), CSRPEM: csrPEM(e.t, key, nil)})
	if st != http.StatusOK {
		e.t.Fatalf("join %s: %d %s", name, st, body)
	}
	var resp SVIDResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		e.t.Fatal(err)
	}
	id, _, err := checkIssued(resp, key, "", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.rawClient(id.cert)
}

func putRaw(e *env, kind, key, value string) (int64, error) {
	return store.Put(context.Background(), e.st, kind, key, []byte(value))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func storeRecord(kind, key string, value []byte) store.Record {
	return store.Record{Kind: kind, Key: key, Value: value}
}

// listening reports whether a Unix socket accepts connections: its file
// appears at bind, a moment before it listens.
func listening(path string) bool {
	c, err := net.Dial("unix", path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
