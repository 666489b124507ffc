package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// forge signs any template with the CA's signing key, bypassing the
// pipeline: for certificates the CA would never issue.
func forge(t *testing.T, ca *CA, tmpl *x509.Certificate, key *ecdsa.PrivateKey) []*x509.Certificate {
	t.Helper()
	m := ca.mat.Load()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(12345)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.signer(), &key.PublicKey, m.key.s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return append([]*x509.Certificate{c}, m.issuers...)
}

func leafTemplate(uris ...string) *x509.Certificate {
	tmpl := &x509.Certificate{
		NotBefore: testNow.Add(-time.Minute), NotAfter: testNow.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil {
			panic(err)
		}
		tmpl.URIs = append(tmpl.URIs, p)
	}
	return tmpl
}

// sanWithURI is a SAN extension holding one URI exactly as given, for
// spellings url.URL would not produce.
func sanWithURI(t *testing.T, uri string) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidSAN, Value: v}
}

func TestParseSVIDRules(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	key := newP256(t)
	mod := func(f func(*x509.Certificate)) *x509.Certificate {
		tmpl := leafTemplate("spiffe://example.org/w")
		f(tmpl)
		return tmpl
	}
	for _, tc := range []struct {
		name string
		tmpl *x509.Certificate
		want error
		why  string
	}{
		{"no uri", leafTemplate(), ErrNotSVID, "no uri san"},
		{"two uris", leafTemplate("spiffe://example.org/a", "spiffe://example.org/b"), ErrNotSVID, "2 uri sans"},
		{"no path", leafTemplate("spiffe://example.org"), ErrNotSVID, "has no path"},
		{"bad id", leafTemplate("spiffe://example.org/a//b"), ErrInvalidID, "empty segments"},
		{"https", leafTemplate("https://example.org/a"), ErrInvalidID, "scheme"},
		{"ca leaf", mod(func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign }), ErrNotSVID, "ca flag"},
		{"no digital signature", mod(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), ErrNotSVID, "'digitalSignature'"},
		{"no key usage at all", mod(func(c *x509.Certificate) { c.KeyUsage = 0 }), ErrNotSVID, "'digitalSignature'"},
		{"cert sign", mod(func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign }), ErrNotSVID, "'keyCertSign'"},
		{"crl sign", mod(func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCRLSign }), ErrNotSVID, "'cRLSign'"},
		// url.URL would lowercase the scheme; the certificate's own bytes
		// are what ParseSVID reads, and go-spiffe's rule is lowercase.
		{"uppercase scheme", mod(func(c *x509.Certificate) {
			c.URIs = nil
			c.ExtraExtensions = []pkix.Extension{sanWithURI(t, "SPIFFE://example.org/w")}
		}), ErrInvalidID, "scheme"},
		{"percent-encoded", mod(func(c *x509.Certificate) {
			c.URIs = nil
			c.ExtraExtensions = []pkix.Extension{sanWithURI(t, "spiffe://example.org/a%2Fb")}
		}), ErrInvalidID, "percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain := forge(t, ca, tc.tmpl, key)
			_, err := ParseSVID(chain)
			if err == nil {
				t.Fatal("accepted")
			}
			checkErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want it to say %q", err, tc.why)
			}
		})
	}
	good := forge(t, ca, leafTemplate("spiffe://example.org/w"), key)
	svid, err := ParseSVID(good)
	if err != nil || svid.ID.String() != "spiffe://example.org/w" || len(svid.Certificates) != 2 {
		t.Fatalf("ParseSVID = %v, %v", svid, err)
	}
	// A leaf standing in for an intermediate.
	_, err = ParseSVID([]*x509.Certificate{good[0], good[0]})
	checkErr(t, err, ErrNotSVID)
	_, err = ParseSVID(nil)
	checkErr(t, err, ErrNotSVID)
}

func TestVerifySVID(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	key := newP256(t)
	id := mustID(t, "spiffe://example.org/w")
	chain, err := ca.IssueSVID(ctx, newCSR(t, key), id, time.Hour, "t")
	if err != nil {
		t.Fatal(err)
	}
	if svid, err := VerifySVID(chain, ca.Bundle(), testNow); err != nil || svid.ID != id {
		t.Fatalf("VerifySVID = %v, %v", svid, err)
	}
	// A peer may send the leaf alone when the verifier... cannot: the
	// bundle holds only the root, so the intermediate must be presented.
	_, err = VerifySVID(chain[:1], ca.Bundle(), testNow)
	checkErr(t, err, ErrUntrusted)

	other := newEnv(t)
	otherCA := other.open(t)
	foreign := newEnv(t)
	foreignCA := foreign.open(t, func(c *Config) { c.TrustDomain = "other.org" })
	for _, tc := range []struct {
		name string
		now  time.Time
		b    *Bundle
		want error
		why  string
	}{
		{"expired", testNow.Add(time.Hour + time.Second), ca.Bundle(), ErrValidity, "expired at 2026-03-01T13:00:00Z"},
		{"not yet valid", testNow.Add(-Backdate - time.Second), ca.Bundle(), ErrValidity, "not valid before 2026-03-01T11:59:00Z"},
		{"another ca of the same domain", testNow, otherCA.Bundle(), ErrUntrusted, "does not verify"},
		{"another trust domain's bundle", testNow, foreignCA.Bundle(), ErrTrustDomain, `is not in trust domain "other.org"`},
		{"empty bundle", testNow, &Bundle{td: ca.td, roots: x509.NewCertPool()}, ErrUntrusted, "no x509 authorities"},
		{"no time", time.Time{}, ca.Bundle(), ErrConfig, "time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifySVID(chain, tc.b, tc.now)
			if err == nil {
				t.Fatal("verified")
			}
			checkErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want it to say %q", err, tc.why)
			}
		})
	}

	// The intermediate's name constraint holds even when its key signs
	// an ID of another trust domain: verifiers refuse it.
	forged := forge(t, ca, leafTemplate("spiffe://evil.org/w"), key)
	evil, err := ParseTrustDomain("evil.org")
	if err != nil {
		t.Fatal(err)
	}
	evilBundle := newBundle(evil, ca.Bundle().X509Authorities(), nil, 1, 0)
	_, err = VerifySVID(forged, evilBundle, testNow)
	checkErr(t, err, ErrUntrusted)
	if !strings.Contains(err.Error(), "constraint") {
		t.Errorf("err = %v, want the name constraint named", err)
	}
	if _, _, err := x509svid.Verify(forged, spiffebundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString("evil.org"), ca.Bundle().X509Authorities()), x509svid.WithTime(testNow)); err == nil {
		t.Error("go-spiffe accepts a certificate outside the name constraint")
	}
}

func TestCAVerifySVIDRevoked(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	chain, err := ca.IssueSVID(ctx, newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/w"), 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.VerifySVID(chain); err != nil {
		t.Fatal(err)
	}
	// A peer that presents its leaf alone is verified with the CA's own
	// intermediate; the bundle alone (roots) does not reach the leaf.
	if _, err := ca.VerifySVID(chain[:1]); err != nil {
		t.Fatalf("leaf alone: %v", err)
	}
	if svid, err := ca.Recheck(chain); err != nil || svid.ID.String() != "spiffe://example.org/w" {
		t.Fatalf("recheck: %v", err)
	}
	_, err = VerifySVID(chain[:1], ca.Bundle(), e.clock.Now())
	checkErr(t, err, ErrUntrusted)
	if err := ca.Revoke(ctx, chain[0].SerialNumber, ReasonKeyCompromise, "admin"); err != nil {
		t.Fatal(err)
	}
	_, err = ca.VerifySVID(chain)
	checkErr(t, err, ErrRevoked)
	_, err = ca.VerifySVID(chain[:1])
	checkErr(t, err, ErrRevoked)
	_, err = ca.Recheck(chain)
	checkErr(t, err, ErrRevoked)
	e.clock.Advance(2 * time.Hour)
	_, err = ca.VerifySVID(chain)
	checkErr(t, err, ErrValidity)
	_, err = ca.Recheck(chain)
	checkErr(t, err, ErrValidity)
}

func TestParseSVIDPEM(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	key := newP256(t)
	chain, err := ca.IssueSVID(context.Background(), newCSR(t, key), mustID(t, "spiffe://example.org/w"), 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	var certPEM []byte
	for _, c := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	svid, k, err := ParseSVIDPEM(certPEM, keyPEM)
	if err != nil || svid.ID.String() != "spiffe://example.org/w" || !sameKey(k.Public(), key.Public()) {
		t.Fatalf("ParseSVIDPEM = %v, %v", svid, err)
	}
	both := append(append([]byte(nil), keyPEM...), certPEM...)
	if _, _, err := ParseSVIDPEM(both, both); err != nil {
		t.Errorf("key and certificates in one text: %v", err)
	}
	der2, _ := x509.MarshalPKCS8PrivateKey(newP256(t))
	_, _, err = ParseSVIDPEM(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der2}))
	checkErr(t, err, ErrKeyMismatch)
	_, _, err = ParseSVIDPEM(certPEM, certPEM)
	checkErr(t, err, ErrKeyMismatch)
	_, _, err = ParseSVIDPEM([]byte("junk"), keyPEM)
	checkErr(t, err, ErrMalformed)
	if strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("err quotes the key: %v", err)
	}
}
