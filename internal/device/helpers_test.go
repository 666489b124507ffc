package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/testkit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testNow is the fake clock's start.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testTD    = "example.org"
	testOwner = "arn:zt:iam::000000000000:user/alice"
)

// fakeClock is a clock tests move by hand.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock(testNow) }

// openSQLite opens (or reopens) the SQLite store at path, as a node
// would; it is closed when the test ends.
func openSQLite(tb testing.TB, path, node string) store.Store { return testkit.SQLite(tb, path, node) }

func newKEK(tb testing.TB) *secret.KEK { return testkit.KEK(tb) }

// node is one ztgate node's view: its store, CA and registry, on a clock
// shared with the other nodes of the test.
type node struct {
	st    store.Store
	ca    *pki.CA
	reg   *Registry
	clock *fakeClock
}

// caMaxTTL lets device certificates live their default 30 days.
const caMaxTTL = 90 * 24 * time.Hour

// newNode opens the CA and the registry on st.
func newNode(tb testing.TB, st store.Store, kek *secret.KEK, clock *fakeClock, mods ...func(*Config)) *node {
	tb.Helper()
	ca, err := pki.Open(context.Background(), pki.Config{Store: st, KEK: kek, TrustDomain: testTD, Clock: clock.Now, MaxTTL: caMaxTTL})
	if err != nil {
		tb.Fatal(err)
	}
	c := Config{Store: st, CA: ca, Clock: clock.Now, MaxCertTTL: caMaxTTL}
	for _, m := range mods {
		m(&c)
	}
	reg, err := Open(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	return &node{st: st, ca: ca, reg: reg, clock: clock}
}

// newEnv is one node on a fresh SQLite store.
func newEnv(tb testing.TB, mods ...func(*Config)) *node {
	tb.Helper()
	return newNode(tb, openSQLite(tb, filepath.Join(tb.TempDir(), "ztgate.db"), "test"), newKEK(tb), newFakeClock(), mods...)
}

// token makes an enrollment token, shaped by mods.
func (n *node) token(tb testing.TB, mods ...func(*TokenRequest)) (string, TokenInfo) {
	tb.Helper()
	req := TokenRequest{Name: "alice's laptop", Owner: testOwner, Managed: true, Groups: []string{"laptops", "eng"}, CreatedBy: "arn:zt:iam::000000000000:user/admin"}
	for _, m := range mods {
		m(&req)
	}
	tok, info, err := n.reg.CreateToken(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	return tok.Reveal(), info
}

// enroll enrolls a new device with a P-256 key.
func (n *node) enroll(tb testing.TB) (*Enrollment, *ecdsa.PrivateKey) {
	tb.Helper()
	key := newP256(tb)
	return n.enrollKey(tb, key), key
}

func (n *node) enrollKey(tb testing.TB, key crypto.Signer) *Enrollment {
	tb.Helper()
	tok, _ := n.token(tb)
	e, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: newCSR(tb, key), From: "192.0.2.7"})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func newP256(tb testing.TB) *ecdsa.PrivateKey { return testkit.P256(tb) }

// newCSR makes a CSR for key, shaped by mods.
func newCSR(tb testing.TB, key crypto.Signer, mods ...func(*x509.CertificateRequest)) []byte {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "my laptop"}}
	for _, m := range mods {
		m(tmpl)
	}
	return testkit.CSR(tb, key, tmpl)
}

// goodReport is a report that makes a device compliant.
func goodReport() Report {
	return Report{
		OS: PlatformMacOS, OSVersion: "14.4.1", DiskEncrypted: true, FirewallEnabled: true, ScreenLock: true,
		AgentVersion: "0.9.0", CollectedAt: testNow.Add(-10 * time.Second),
	}
}

// report is goodReport collected 10 seconds before the clock's time.
func (n *node) report() Report {
	r := goodReport()
	r.CollectedAt = n.clock.Now().Add(-10 * time.Second)
	return r
}

// signed signs rep with key and chain at the clock's time.
func (n *node) signed(tb testing.TB, rep Report, key crypto.Signer, chain []*x509.Certificate) []byte {
	tb.Helper()
	jws, err := SignReportAt(rep, key, chain, n.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(jws)
}

// records returns the records of kind.
func records(tb testing.TB, st store.Store, kind string) []store.Record {
	tb.Helper()
	recs, err := st.List(context.Background(), kind, "")
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// sentinels are every error class the package returns.
var sentinels = []error{
	ErrConfig, ErrInvalid, ErrNotFound, ErrToken, ErrCSR, ErrTooLarge, ErrMalformed, ErrCertificate,
	ErrSignature, ErrUnknownDevice, ErrRevoked, ErrStale, ErrFuture, ErrReplay, ErrLimit,
}

// checkErr fails unless err matches want and no other sentinel, and its
// message starts in lowercase.
func checkErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("err = %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			tb.Errorf("err %q also matches %v", err, s)
		}
	}
	if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] {
		tb.Errorf("error does not start in lowercase: %q", msg)
	}
}

// waitFor polls a condition a feed makes true asynchronously.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run runs fn (a Run method) until the test ends.
func run(tb testing.TB, fn func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// auditRecords returns the records of m named name.
func auditRecords(m *audit.Memory, name string) []audit.Record {
	var out []audit.Record
	for _, r := range m.Records() {
		if r.EventName == name {
			out = append(out, r)
		}
	}
	return out
}
