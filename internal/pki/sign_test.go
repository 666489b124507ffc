package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/ztgate/ztgate/internal/store"
)

func TestIssueSVID(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, key := range map[string]crypto.Signer{"p256": newP256(t), "p384": p384, "rsa2048": rsaKey, "ed25519": edKey} {
		t.Run(name, func(t *testing.T) {
			id := mustID(t, "spiffe://example.org/ns/prod/sa/"+name)
			csr := newCSR(t, key, withURI(id.String()), func(r *x509.CertificateRequest) { r.DNSNames = []string{"ignored.example.com"} })
			chain, err := ca.IssueSVID(ctx, csr, id, 0, "agent:node-1")
			if err != nil {
				t.Fatal(err)
			}
			leaf := chain[0]
			if len(chain) != 2 || !chain[1].Equal(ca.Chain()[0]) {
				t.Fatalf("chain of %d, want leaf and intermediate", len(chain))
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String() || len(leaf.DNSNames) != 0 || len(leaf.EmailAddresses) != 0 || len(leaf.IPAddresses) != 0 {
				t.Errorf("names: uris %v dns %v", leaf.URIs, leaf.DNSNames)
			}
			if leaf.Subject.CommonName == "ignored" || leaf.Subject.String() != "O=ztgate" {
				t.Errorf("subject %q taken from the csr", leaf.Subject)
			}
			wantKU := x509.KeyUsageDigitalSignature
			if name == "rsa2048" {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			if leaf.KeyUsage != wantKU {
				t.Errorf("key usage %b, want %b", leaf.KeyUsage, wantKU)
			}
			if len(leaf.ExtKeyUsage) != 2 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || leaf.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
				t.Errorf("ext key usage %v", leaf.ExtKeyUsage)
			}
			if leaf.IsCA || !leaf.BasicConstraintsValid {
				t.Errorf("CA %v, basic constraints %v", leaf.IsCA, leaf.BasicConstraintsValid)
			}
			if !leaf.NotBefore.Equal(testNow.Add(-Backdate)) || !leaf.NotAfter.Equal(testNow.Add(DefaultTTL)) {
				t.Errorf("validity %s – %s", leaf.NotBefore, leaf.NotAfter)
			}
			if !sameKey(leaf.PublicKey, key.Public()) {
				t.Error("the certificate is not for the csr's key")
			}
			if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 || leaf.SerialNumber.BitLen() < 100 {
				t.Errorf("serial %x is not a random 128-bit number", leaf.SerialNumber)
			}
			if err := leaf.CheckSignatureFrom(ca.Chain()[0]); err != nil {
				t.Error(err)
			}
			// Our own verification, and go-spiffe's.
			if svid, err := VerifySVID(chain, ca.Bundle(), e.clock.Now()); err != nil || svid.ID != id {
				t.Errorf("VerifySVID: %v, %v", svid, err)
			}
			goSpiffeVerifies(t, chain, key, ca.BundleJSON(), id, e.clock.Now())
		})
	}
	recs := certRecords(t, e.st)
	if len(recs) != 4 {
		t.Fatalf("%d certificates recorded, want 4", len(recs))
	}
	for _, r := range recs {
		c, err := x509.ParseCertificate(r.DER)
		if err != nil {
			t.Fatal(err)
		}
		if r.Serial != serialKey(c.SerialNumber) || r.SPIFFEID != c.URIs[0].String() || r.Requester != "agent:node-1" ||
			!r.NotAfter.Equal(c.NotAfter) || !r.NotBefore.Equal(c.NotBefore) || r.Subject != "O=ztgate" || !r.Issued.Equal(testNow) {
			t.Errorf("record %+v does not describe its certificate", r)
		}
	}
}

// goSpiffeVerifies checks an issued chain with go-spiffe: it parses as an
// X509-SVID with its key, and verifies against our bundle as go-spiffe
// parses it.
func goSpiffeVerifies(t *testing.T, chain []*x509.Certificate, key crypto.Signer, bundleJSON []byte, id ID, now time.Time) {
	t.Helper()
	var raw []byte
	for _, c := range chain {
		raw = append(raw, c.Raw...)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := x509svid.ParseRaw(raw, pkcs8)
	if err != nil {
		t.Fatalf("go-spiffe refuses the svid: %v", err)
	}
	if svid.ID.String() != id.String() {
		t.Errorf("go-spiffe reads id %s", svid.ID)
	}
	td := spiffeid.RequireTrustDomainFromString(id.TrustDomain().String())
	bundle, err := spiffebundle.Parse(td, bundleJSON)
	if err != nil {
		t.Fatalf("go-spiffe refuses the bundle: %v", err)
	}
	got, chains, err := x509svid.Verify(chain, bundle, x509svid.WithTime(now))
	if err != nil || got.String() != id.String() || len(chains) == 0 {
		t.Fatalf("go-spiffe does not verify the svid: %v %v", got, err)
	}
}

func TestIssueTTL(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t, func(c *Config) { c.MaxTTL = 4 * time.Hour })
	ctx := context.Background()
	id := mustID(t, "spiffe://example.org/w")
	chain, err := ca.IssueSVID(ctx, newCSR(t, newP256(t)), id, 4*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !chain[0].NotAfter.Equal(testNow.Add(4 * time.Hour)) {
		t.Errorf("not after %s", chain[0].NotAfter)
	}
	for _, ttl := range []time.Duration{4*time.Hour + time.Second, -time.Second} {
		_, err := ca.IssueSVID(ctx, newCSR(t, newP256(t)), id, ttl, "test")
		checkErr(t, err, ErrLifetime)
	}
	// Near the intermediate's end, a certificate stops with it.
	end := ca.Chain()[0].NotAfter
	e.clock.Set(end.Add(-time.Hour))
	chain, err = ca.IssueSVID(ctx, newCSR(t, newP256(t)), id, 2*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !chain[0].NotAfter.Equal(end) {
		t.Errorf("not after %s, want the intermediate's %s", chain[0].NotAfter, end)
	}
	e.clock.Set(end)
	_, err = ca.IssueSVID(ctx, newCSR(t, newP256(t)), id, 0, "test")
	checkErr(t, err, ErrCA)
}

// TestIssueRefuses: every bad request is refused with its own class and a
// clear message, and nothing is recorded as issued.
func TestIssueRefuses(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	key := newP256(t)
	good := newCSR(t, key)
	badSig := bytes.Clone(good)
	badSig[len(badSig)-1] ^= 1
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	basicCA, _ := asn1.Marshal(struct {
		IsCA bool
	}{true})
	certSign, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0x04}, BitLength: 6}) // keyCertSign
	hugeExt := newCSR(t, key, func(r *x509.CertificateRequest) {
		r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: bytes.Repeat([]byte{4}, MaxCSRSize)}}
	})
	id := mustID(t, "spiffe://example.org/w")
	for _, tc := range []struct {
		name      string
		csr       []byte
		id        ID
		requester string
		want      error
		why       string
	}{
		{"empty", nil, id, "t", ErrMalformed, "empty csr"},
		{"junk", []byte("not a csr at all"), id, "t", ErrMalformed, "csr"},
		{"truncated", good[:len(good)/2], id, "t", ErrMalformed, "csr"},
		{"trailing data", append(bytes.Clone(good), 0), id, "t", ErrMalformed, "trailing data"},
		{"pem", []byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"), id, "t", ErrMalformed, "pem"},
		{"oversize", make([]byte, MaxCSRSize+1), id, "t", ErrTooLarge, "65537 bytes exceeds the 65536-byte limit"},
		{"oversize valid csr", hugeExt, id, "t", ErrTooLarge, "limit"},
		{"bad signature", badSig, id, "t", ErrCSRSignature, "csr signature invalid"},
		{"rsa 1024", newCSR(t, small), id, "t", ErrKeyType, "rsa key of 1024 bits is too short"},
		{"p-224", newCSR(t, p224), id, "t", ErrKeyType, "P-224"},
		{"ca true", newCSR(t, key, func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{{Id: oidBasicConstraints, Critical: true, Value: basicCA}}
		}), id, "t", ErrCARequest, "basicConstraints CA:true"},
		{"key cert sign", newCSR(t, key, func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{{Id: oidKeyUsage, Critical: true, Value: certSign}}
		}), id, "t", ErrCARequest, "keyCertSign"},
		{"other trust domain", good, mustID(t, "spiffe://evil.org/w"), "t", ErrTrustDomain, `spiffe id "spiffe://evil.org/w" is not in trust domain "example.org"`},
		{"trust domain id", good, mustID(t, "spiffe://example.org"), "t", ErrInvalidID, "names the trust domain"},
		{"csr names another id", newCSR(t, key, withURI("spiffe://example.org/admin")), id, "t", ErrRequest, "csr names uri"},
		{"no id", good, ID{}, "t", ErrRequest, "needs a spiffe id"},
		{"no requester", good, id, "", ErrRequest, "no requester"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := ca.IssueSVID(ctx, tc.csr, tc.id, 0, tc.requester)
			if err == nil {
				t.Fatalf("issued %v", chain[0].Subject)
			}
			checkErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want it to say %q", err, tc.why)
			}
		})
	}
	if n := len(records(t, e.st, KindCert)); n != 0 {
		t.Fatalf("%d certificates recorded after refusals", n)
	}
}

// TestSignPipeline: the caller's steps run in their stages, and cannot
// undo the CA's own limits.
func TestSignPipeline(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	key := newP256(t)
	var order []string
	dev := Request{CSR: newCSR(t, key), Subject: pkix.Name{CommonName: "sensor-17", Organization: []string{"acme"}}, TTL: 2 * time.Hour, Requester: "device-enrol"}
	chain, err := ca.Sign(ctx, dev,
		ValidateCertFunc(func(c *x509.Certificate) error { order = append(order, "validate"); return nil }),
		ModifyCertFunc(func(c *x509.Certificate) error {
			order = append(order, "modify")
			c.DNSNames = []string{"sensor-17.devices.example.org"}
			return nil
		}),
		ValidateRequestFunc(func(*x509.CertificateRequest) error { order = append(order, "request"); return nil }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "request,modify,validate" {
		t.Errorf("stages ran as %v", order)
	}
	leaf := chain[0]
	if leaf.Subject.CommonName != "sensor-17" || len(leaf.URIs) != 0 || leaf.DNSNames[0] != "sensor-17.devices.example.org" || !leaf.NotAfter.Equal(testNow.Add(2*time.Hour)) {
		t.Errorf("device certificate: %s %v %v %s", leaf.Subject, leaf.URIs, leaf.DNSNames, leaf.NotAfter)
	}
	if recs := certRecords(t, e.st); len(recs) != 1 || recs[0].SPIFFEID != "" || recs[0].Requester != "device-enrol" || recs[0].Subject != leaf.Subject.String() {
		t.Errorf("records: %+v", recs)
	}

	svid := Request{CSR: newCSR(t, key), ID: mustID(t, "spiffe://example.org/w"), Requester: "t"}
	otherKey := newP256(t)
	stop := errors.New("caller refuses")
	for _, tc := range []struct {
		name string
		req  Request
		opt  SignOption
		want error
	}{
		{"make it a ca", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.IsCA = true; return nil }), ErrCARequest},
		{"add cert sign", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.KeyUsage |= x509.KeyUsageCertSign; return nil }), ErrCARequest},
		{"drop digital signature", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.KeyUsage = x509.KeyUsageKeyAgreement; return nil }), ErrRequest},
		{"stretch lifetime", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.NotAfter = c.NotAfter.Add(48 * time.Hour); return nil }), ErrLifetime},
		{"backdate", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.NotBefore = c.NotBefore.Add(-time.Hour); return nil }), ErrLifetime},
		{"swap key", svid, ModifyCertFunc(func(c *x509.Certificate) error { c.PublicKey = otherKey.Public(); return nil }), ErrRequest},
		{"foreign uri", svid, ModifyCertFunc(func(c *x509.Certificate) error {
			c.URIs = []*url.URL{{Scheme: "spiffe", Host: "evil.org", Path: "/w"}}
			return nil
		}), ErrTrustDomain},
		{"second uri", svid, ModifyCertFunc(func(c *x509.Certificate) error {
			c.URIs = append(c.URIs, &url.URL{Scheme: "spiffe", Host: "example.org", Path: "/x"})
			return nil
		}), ErrRequest},
		{"https uri", svid, ModifyCertFunc(func(c *x509.Certificate) error {
			c.URIs = []*url.URL{{Scheme: "https", Host: "example.org"}}
			return nil
		}), ErrInvalidID},
		{"not a step", svid, 42, ErrConfig},
		{"no identity", Request{CSR: svid.CSR, Requester: "t"}, nil, ErrRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []SignOption
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			_, err := ca.Sign(ctx, tc.req, opts...)
			checkErr(t, err, tc.want)
		})
	}
	_, err = ca.Sign(ctx, svid, ValidateRequestFunc(func(*x509.CertificateRequest) error { return stop }))
	if !errors.Is(err, stop) {
		t.Errorf("a caller's refusal is lost: %v", err)
	}
	if n := len(records(t, e.st, KindCert)); n != 1 {
		t.Fatalf("%d certificates recorded, want only the device's", n)
	}
}

// failingStore fails every write.
type failingStore struct{ store.Store }

func (failingStore) Update(context.Context, func(store.Tx) error) (int64, error) {
	return 0, store.ErrUnavailable
}

// TestIssueRecordFails: a certificate that cannot be recorded is not
// returned.
func TestIssueRecordFails(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ca.st = failingStore{e.st}
	chain, err := ca.IssueSVID(context.Background(), newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/w"), 0, "t")
	if chain != nil || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("IssueSVID = %v, %v; want nothing and the store's error", chain, err)
	}
}

func TestIssueConcurrent(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	id := mustID(t, "spiffe://example.org/w")
	errs := make(chan error, 8)
	for range 8 {
		csr := newCSR(t, newP256(t))
		go func() {
			_, err := ca.IssueSVID(context.Background(), csr, id, 0, "t")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(records(t, e.st, KindCert)); n != 8 {
		t.Fatalf("%d records for 8 certificates", n)
	}
}
