package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/testkit"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testNow is the fake clock's start.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testTD = "example.org"

// fakeClock is a clock tests move by hand.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock(testNow) }

// openSQLite opens (or reopens) the SQLite store at path, as a node
// would; it is closed when the test ends.
func openSQLite(tb testing.TB, path, node string) store.Store { return testkit.SQLite(tb, path, node) }

func newKEK(tb testing.TB) *secret.KEK { return testkit.KEK(tb) }

// env is one node's view: a store, the cluster's KEK, a clock and a log.
type env struct {
	st    store.Store
	kek   *secret.KEK
	clock *fakeClock
	logs  *bytes.Buffer
}

func newEnv(tb testing.TB) *env {
	return &env{
		st:    openSQLite(tb, filepath.Join(tb.TempDir(), "ztgate.db"), "test"),
		kek:   newKEK(tb),
		clock: newFakeClock(),
		logs:  new(bytes.Buffer),
	}
}

func (e *env) config() Config {
	return Config{
		Store: e.st, KEK: e.kek, TrustDomain: testTD, Clock: e.clock.Now,
		Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) open(tb testing.TB, mods ...func(*Config)) *CA {
	tb.Helper()
	c := e.config()
	for _, m := range mods {
		m(&c)
	}
	ca, err := Open(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

func mustID(tb testing.TB, s string) ID {
	tb.Helper()
	id, err := ParseID(s)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func newP256(tb testing.TB) *ecdsa.PrivateKey { return testkit.P256(tb) }

// newCSR makes a CSR for key, shaped by mods.
func newCSR(tb testing.TB, key crypto.Signer, mods ...func(*x509.CertificateRequest)) []byte {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}
	for _, m := range mods {
		m(tmpl)
	}
	return testkit.CSR(tb, key, tmpl)
}

func withURI(s string) func(*x509.CertificateRequest) {
	return func(r *x509.CertificateRequest) {
		u, err := url.Parse(s)
		if err != nil {
			panic(err)
		}
		r.URIs = append(r.URIs, u)
	}
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

func certRecords(tb testing.TB, st store.Store) []CertRecord {
	tb.Helper()
	var out []CertRecord
	for _, rec := range records(tb, st, KindCert) {
		var c CertRecord
		if err := json.Unmarshal(rec.Value, &c); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// sentinels are every error class the package returns.
var sentinels = []error{
	ErrConfig, ErrCA, ErrMalformed, ErrTooLarge, ErrCSRSignature, ErrKeyType, ErrCARequest,
	ErrLifetime, ErrRequest, ErrInvalidID, ErrTrustDomain, ErrNotSVID, ErrKeyMismatch,
	ErrUntrusted, ErrValidity, ErrSignature, ErrAudience, ErrRevoked, ErrUnknownCert,
}

// checkErr fails unless err matches want and no other sentinel, and its
// message is lowercase at the start.
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
