package workload

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// fakeClock moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	// Near the real time: go-spiffe checks JWT expiry against it.
	return &fakeClock{now: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: t, ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waiters = slices.DeleteFunc(c.waiters, func(w fakeWaiter) bool {
		if w.at.After(c.now) {
			return false
		}
		w.ch <- c.now
		return true
	})
}

// testCA is a tiny real CA: a self-signed root (several after rotate)
// that signs SPIFFE leaves from CSRs, as the server will.
type testCA struct {
	td    spiffeid.TrustDomain
	clock Clock

	mu          sync.Mutex
	authorities []*x509.Certificate
	signer      *x509.Certificate
	key         *ecdsa.PrivateKey
	down        bool
	issued      int
	failed      int
	// misissue, when set, alters each leaf template before signing, to
	// play a faulty issuer.
	misissue func(tmpl *x509.Certificate, pub *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey)
}

var _ Issuer = (*testCA)(nil)

func newTestCA(t testing.TB, clock Clock) *testCA {
	t.Helper()
	ca := &testCA{td: spiffeid.RequireTrustDomainFromString("example.org"), clock: clock}
	ca.rotate(t)
	return ca
}

// rotate adds a new root, which signs from now on; the old stays in the
// bundle.
func (ca *testCA) rotate(t testing.TB) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := ca.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{Organization: []string{"ztgate test"}, CommonName: "root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * 365 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{ca.td.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.authorities = append(slices.Clip(ca.authorities), cert)
	ca.signer, ca.key = cert, key
}

func (ca *testCA) setDown(down bool) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.down = down
}

func (ca *testCA) counts() (issued, failed int) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.issued, ca.failed
}

func (ca *testCA) IssueX509SVID(_ context.Context, csrDER []byte, spiffeID string, ttl time.Duration) ([]*x509.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.down {
		ca.failed++
		return nil, errors.New("test ca: connection refused")
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	id, err := spiffeid.FromString(spiffeID)
	if err != nil {
		return nil, err
	}
	if len(csr.URIs) != 1 || csr.URIs[0].String() != id.String() {
		return nil, fmt.Errorf("test ca: csr names %v, asked for %s", csr.URIs, id)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("test ca: csr key is %T, want P-256", csr.PublicKey)
	}
	now := ca.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		NotBefore:             now,
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URL()},
	}
	signer, key := ca.signer, ca.key
	if ca.misissue != nil {
		var s *x509.Certificate
		var k *ecdsa.PrivateKey
		pub, s, k = ca.misissue(tmpl, pub)
		if s != nil {
			signer, key = s, k
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, pub, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca.issued++
	return []*x509.Certificate{leaf}, nil
}

func (ca *testCA) Bundle(context.Context) (string, []*x509.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.down {
		return "", nil, errors.New("test ca: connection refused")
	}
	return ca.td.Name(), slices.Clone(ca.authorities), nil
}

// jwtCA adds the JWT-SVID profile to testCA with one ES256 key.
type jwtCA struct {
	*testCA
	jwtKey *ecdsa.PrivateKey
}

var _ JWTIssuer = (*jwtCA)(nil)

func newJWTCA(t testing.TB, clock Clock) *jwtCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtCA{testCA: newTestCA(t, clock), jwtKey: key}
}

func (j *jwtCA) IssueJWTSVID(_ context.Context, spiffeID string, audience []string, ttl time.Duration) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: j.jwtKey, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := j.clock.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{
		Subject:  spiffeID,
		Audience: audience,
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(ttl)),
	}).Serialize()
}

func (j *jwtCA) JWTBundles(context.Context) (map[string][]byte, error) {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &j.jwtKey.PublicKey, KeyID: "k1", Algorithm: string(jose.ES256), Use: "jwt-svid",
	}}})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{j.td.Name(): b}, nil
}

func (j *jwtCA) ValidateJWTSVID(_ context.Context, token, audience string) (string, map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", nil, err
	}
	var claims jwt.Claims
	var all map[string]any
	if err := tok.Claims(&j.jwtKey.PublicKey, &claims, &all); err != nil {
		return "", nil, err
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{audience}, Time: j.clock.Now()}, 0); err != nil {
		return "", nil, err
	}
	return claims.Subject, all, nil
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// shortDir is a fresh directory with a path short enough for a socket
// (t.TempDir's grow with the test's name).
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// harness is a running server with a fake clock and a test CA.
type harness struct {
	t       testing.TB
	clock   *fakeClock
	ca      *testCA
	entries *EntrySet
	srv     *Server
	socket  string
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

type harnessOption func(*Config)

func startServer(t testing.TB, iss Issuer, clock *fakeClock, entries []Entry, opts ...harnessOption) *harness {
	t.Helper()
	return startServerIn(t, shortDir(t), iss, clock, entries, opts...)
}

// selfEntry is a registration entry for the test process itself.
var selfEntry = Entry{ID: "self", SPIFFEID: "spiffe://example.org/self", Selectors: []string{"unix:uid:0"}}

// startSelf starts a server with a test CA and the one entry selfEntry,
// and returns its fake clock, the CA, the harness and a test context.
func startSelf(t testing.TB) (*fakeClock, *testCA, *harness, context.Context) {
	t.Helper()
	clock := newFakeClock()
	ca := newTestCA(t, clock)
	h := startServer(t, ca, clock, []Entry{selfEntry})
	return clock, ca, h, testCtx(t)
}

// client opens a Workload API client to h, closed when the test ends.
func (h *harness) client(ctx context.Context) *workloadapi.Client {
	h.t.Helper()
	c, err := workloadapi.New(ctx, h.addr())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// startServerIn starts a server whose socket is in dir.
func startServerIn(t testing.TB, dir string, iss Issuer, clock *fakeClock, entries []Entry, opts ...harnessOption) *harness {
	t.Helper()
	set, err := NewEntrySet(entries...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: clock, entries: set, logs: &syncBuffer{}, done: make(chan error, 1)}
	switch ca := iss.(type) {
	case *testCA:
		h.ca = ca
	case *jwtCA:
		h.ca = ca.testCA
	}
	h.socket = filepath.Join(dir, "agent.sock")
	cfg := Config{
		Socket:  h.socket,
		Issuer:  iss,
		Entries: set,
		Clock:   clock,
		Log:     slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.srv.Run(ctx) }()
	t.Cleanup(h.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The file appears at bind, before the socket listens: wait for a
		// connection to be taken.
		if c, err := net.Dial("unix", h.socket); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h
}

// stop shuts the server down and checks that it did so cleanly.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

func (h *harness) addr() workloadapi.ClientOption {
	return workloadapi.WithAddr("unix://" + h.socket)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// self returns entries' selectors that match this test process.
func selfPath(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// x509Watcher collects X.509 context updates and watch errors.
type x509Watcher struct {
	updates chan *workloadapi.X509Context
	errs    chan error
}

func newX509Watcher() *x509Watcher {
	return &x509Watcher{updates: make(chan *workloadapi.X509Context, 16), errs: make(chan error, 16)}
}

func (w *x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) { w.updates <- c }
func (w *x509Watcher) OnX509ContextWatchError(err error) {
	select {
	case w.errs <- err:
	default:
	}
}

func (w *x509Watcher) next(t testing.TB) *workloadapi.X509Context {
	t.Helper()
	select {
	case c := <-w.updates:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no X.509 context update")
		return nil
	}
}

func defaultSVID(t testing.TB, c *workloadapi.X509Context) *x509svid.SVID {
	t.Helper()
	if len(c.SVIDs) == 0 {
		t.Fatal("update without SVIDs")
	}
	return c.SVIDs[0]
}

// waitFor polls cond, in real time, until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logged reports whether the server logged msg.
func logged(h *harness, msg string) bool {
	return bytes.Contains(h.logs.Bytes(), []byte(`"msg":"`+msg+`"`))
}

// fetchAll returns the SPIFFE IDs the test process gets.
func fetchAll(t testing.TB, h *harness) ([]string, error) {
	t.Helper()
	svids, err := workloadapi.FetchX509SVIDs(testCtx(t), h.addr())
	var ids []string
	for _, s := range svids {
		ids = append(ids, s.ID.String())
	}
	return ids, err
}
