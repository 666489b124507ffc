package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/ztgate/ztgate/internal/store"
)

// BenchmarkIssueSVID measures one X.509-SVID from a CSR: parsing and
// checking the CSR (its signature verified), the pipeline, the ECDSA P-256
// signature, and the record written to SQLite (synchronous=FULL, so one
// fsync per certificate). Its peer is BenchmarkECDSAP256Sign.
func BenchmarkIssueSVID(b *testing.B) {
	e := newEnv(b)
	ca := e.open(b)
	benchIssue(b, ca)
	if n := len(records(b, e.st, KindCert)); n < b.N {
		b.Fatalf("%d records for %d certificates", n, b.N)
	}
}

// nullStore takes writes and keeps nothing: for issuance without the
// store's cost.
type nullStore struct{ store.Store }

func (nullStore) Update(context.Context, func(store.Tx) error) (int64, error) { return 1, nil }

// BenchmarkIssueSVIDNoWrite is BenchmarkIssueSVID without the store
// write: the CA's own cost.
func BenchmarkIssueSVIDNoWrite(b *testing.B) {
	e := newEnv(b)
	ca := e.open(b)
	ca.st = nullStore{e.st}
	benchIssue(b, ca)
}

func benchIssue(b *testing.B, ca *CA) {
	csr := newCSR(b, newP256(b))
	id := mustID(b, "spiffe://example.org/ns/prod/sa/api")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.IssueSVID(ctx, csr, id, 0, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAP256Sign is the peer of BenchmarkIssueSVID: one bare
// ECDSA P-256 signature of a SHA-256 digest, the least an issuance costs.
func BenchmarkECDSAP256Sign(b *testing.B) {
	key := newP256(b)
	digest := sha256.Sum256([]byte("tbsCertificate"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ecdsa.Sign(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySVID measures the check an enforcement point makes on a
// presented chain.
func BenchmarkVerifySVID(b *testing.B) {
	e := newEnv(b)
	ca := e.open(b)
	chain, err := ca.IssueSVID(context.Background(), newCSR(b, newP256(b)), mustID(b, "spiffe://example.org/w"), 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	bundle, now := ca.Bundle(), e.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifySVID(chain, bundle, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintJWTSVID(b *testing.B) {
	e := newEnv(b)
	ca := e.open(b)
	id, aud := mustID(b, "spiffe://example.org/w"), []string{"spiffe://example.org/db"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.MintJWTSVID(id, aud, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevoked(b *testing.B) {
	e := newEnv(b)
	ca := e.open(b)
	chain, err := ca.IssueSVID(context.Background(), newCSR(b, newP256(b)), mustID(b, "spiffe://example.org/w"), 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	serial := chain[0].SerialNumber
	b.ReportAllocs()
	for b.Loop() {
		if ca.Revoked(serial) {
			b.Fatal("revoked")
		}
	}
}
