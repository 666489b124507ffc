package testkit

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(time.Minute)
	if !c.Now().Equal(start.Add(time.Minute)) {
		t.Fatal(c.Now())
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatal(c.Now())
	}
}

func TestSQLiteAndKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	st := SQLite(t, path, "n1")
	if _, err := st.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.Put(context.Background(), "k", "a", []byte("v"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Get(context.Background(), "k", "a"); err != nil || string(r.Value) != "v" {
		t.Fatal(r, err)
	}
	if KEK(t) == nil {
		t.Fatal("no key")
	}
}

func TestCSR(t *testing.T) {
	key := P256(t)
	csr, err := x509.ParseCertificateRequest(CSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "w"}}))
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "w" || !key.PublicKey.Equal(csr.PublicKey) {
		t.Fatalf("%v %+v", err, csr)
	}
}
