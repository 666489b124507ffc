// Package testkit holds what the tests of many packages share: a clock
// they move by hand, a throw-away SQLite store opened as a node opens
// one, a fresh key-encryption key, keys and certificate requests. It is
// imported by tests only.
package testkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

// Clock is a clock a test moves by hand; it is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SQLite opens (or reopens) the SQLite store at path as node, polling its
// change log often so that tests see changes quickly; it is closed when
// the test ends.
func SQLite(tb testing.TB, path, node string) store.Store {
	tb.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{
		Driver: sqlstore.SQLite, Path: path, Node: node, Poll: 20 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// KEK returns a new key-encryption key.
func KEK(tb testing.TB) *secret.KEK {
	tb.Helper()
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// P256 returns a new ECDSA P-256 key.
func P256(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// CSR returns a certificate request (DER) signed by key, from tmpl (an
// empty request when nil).
func CSR(tb testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	tb.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
