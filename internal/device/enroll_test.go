package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
)

func TestEnroll(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	tok, info := n.token(t)
	key := newP256(t)
	e, err := n.reg.Enroll(ctx, EnrollRequest{Token: tok, CSR: newCSR(t, key), From: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	d := e.Device
	if !ValidID(d.ID) || !strings.HasPrefix(d.ID, "dev-") {
		t.Fatalf("device id %q", d.ID)
	}
	if d.SPIFFEID != "spiffe://"+testTD+"/device/"+d.ID {
		t.Errorf("spiffe id %q", d.SPIFFEID)
	}

	// The gateway's check: the chain verifies as any X.509-SVID does, and
	// the /device/ path says it is a device.
	svid, err := n.ca.VerifySVID(e.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := IDOf(svid.ID); !ok || id != d.ID {
		t.Fatalf("IDOf(%s) = %q, %v", svid.ID, id, ok)
	}
	leaf := e.Chain[0]
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("the certificate is not for the csr's key")
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage %v, want client auth only", leaf.ExtKeyUsage)
	}
	if got := leaf.NotAfter.Sub(testNow); got != DefaultCertTTL {
		t.Errorf("lifetime %s, want %s", got, DefaultCertTTL)
	}
	if leaf.Subject.CommonName != d.ID {
		t.Errorf("subject %s", leaf.Subject)
	}

	// The registry's record says who and when.
	got, err := n.reg.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Device{
		ID: d.ID, Name: "alice's laptop", Owner: testOwner, Managed: true, Groups: []string{"eng", "laptops"},
		SPIFFEID: d.SPIFFEID, EnrolledAt: testNow, EnrolledBy: "arn:zt:iam::000000000000:user/admin",
		EnrolledFrom: "192.0.2.7", Enrollment: info.ID,
		Certificates: []Certificate{{Serial: serialHex(leaf), NotAfter: leaf.NotAfter.UTC()}},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("device\n got %s\nwant %s", g, w)
	}
	if mem, ok := n.reg.Lookup(d.ID); !ok || mustJSON(t, mem) != mustJSON(t, want) {
		t.Errorf("memory holds %+v, %v", mem, ok)
	}

	// The token is used, and kept only as its hash.
	h := sha256.Sum256([]byte(tok))
	recs := records(t, n.st, KindToken)
	if len(recs) != 1 || recs[0].Key != hex.EncodeToString(h[:]) {
		t.Fatalf("token records %v", recs)
	}
	var tr tokenRecord
	if err := json.Unmarshal(recs[0].Value, &tr); err != nil {
		t.Fatal(err)
	}
	if !tr.UsedAt.Equal(testNow) || tr.DeviceID != d.ID {
		t.Errorf("token record %+v", tr)
	}
	for _, kind := range []string{KindToken, KindDevice, pki.KindCert} {
		for _, rec := range records(t, n.st, kind) {
			if bytes.Contains(rec.Value, []byte(tok)) || strings.Contains(rec.Key, tok) {
				t.Errorf("the token is stored in %s/%s", kind, rec.Key)
			}
		}
	}
	ts, err := n.reg.Tokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].Status != "used" || ts[0].DeviceID != d.ID {
		t.Errorf("Tokens = %+v, %v", ts, err)
	}
}

// TestEnrollKeyTypes: every key the CA certifies enrolls, and signs
// reports with the algorithm its type calls for.
func TestEnrollKeyTypes(t *testing.T) {
	n := newEnv(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ES384": p384, "EdDSA": ed, "RS256": rsaKey} {
		t.Run(name, func(t *testing.T) {
			e := n.enrollKey(t, key)
			n.clock.Advance(time.Second)
			jws := n.signed(t, n.report(), key, e.Chain)
			j, err := parseCompact(jws, reportJWS)
			if err != nil || j.header.Alg != name {
				t.Fatalf("alg %q, %v", j.header.Alg, err)
			}
			if _, err := n.reg.AcceptReport(context.Background(), jws); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCertTTLCapped: the CA's maximum shortens a device certificate's
// lifetime rather than refuse it.
func TestCertTTLCapped(t *testing.T) {
	n := newEnv(t, func(c *Config) { c.MaxCertTTL = 0 }) // pki's default maximum, 24h
	e, _ := n.enroll(t)
	if got := e.Chain[0].NotAfter.Sub(testNow); got != pki.DefaultMaxTTL {
		t.Fatalf("lifetime %s, want the cap %s", got, pki.DefaultMaxTTL)
	}
}

func TestEnrollRefusals(t *testing.T) {
	key := newP256(t)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	basicCA, _ := asn1.Marshal(struct{ IsCA bool }{true})
	good := newCSR(t, key)
	badSig := bytes.Clone(good)
	badSig[len(badSig)-3] ^= 0x40
	withURI := newCSR(t, key, func(r *x509.CertificateRequest) {
		u, _ := url.Parse("spiffe://" + testTD + "/device/dev-aaaaaaaaaaaaaaaa")
		r.URIs = []*url.URL{u}
	})

	type tc struct {
		token  func(*node) string // the token to send
		csr    []byte
		want   error
		pkiErr error  // the pki class a CSR refusal wraps
		reason string // what the audit log would say of a token refusal
	}
	fresh := func(n *node) string { tok, _ := n.token(t); return tok }
	for name, c := range map[string]tc{
		"malformed token": {token: func(*node) string { return "hunter2" }, csr: good, want: ErrToken, reason: "malformed"},
		"unknown token": {token: func(*node) string {
			return tokenPrefix + strings.Repeat("A", tokenLen-len(tokenPrefix))
		}, csr: good, want: ErrToken, reason: "unknown"},
		"replayed token": {token: func(n *node) string {
			tok := fresh(n)
			if _, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: newCSR(t, newP256(t))}); err != nil {
				t.Fatal(err)
			}
			return tok
		}, csr: good, want: ErrToken, reason: "used"},
		"expired token": {token: func(n *node) string {
			tok := fresh(n)
			n.clock.Advance(DefaultTokenTTL)
			return tok
		}, csr: good, want: ErrToken, reason: "expired"},
		"revoked token": {token: func(n *node) string {
			tok, info := n.token(t)
			if _, err := n.reg.RevokeToken(context.Background(), info.ID); err != nil {
				t.Fatal(err)
			}
			return tok
		}, csr: good, want: ErrToken, reason: "unknown"},
		"garbage csr":      {token: fresh, csr: []byte("not a csr"), want: ErrCSR, pkiErr: pki.ErrMalformed},
		"empty csr":        {token: fresh, csr: nil, want: ErrCSR, pkiErr: pki.ErrMalformed},
		"csr signature":    {token: fresh, csr: badSig, want: ErrCSR, pkiErr: pki.ErrCSRSignature},
		"weak rsa key":     {token: fresh, csr: newCSR(t, weak), want: ErrCSR, pkiErr: pki.ErrKeyType},
		"p-224 key":        {token: fresh, csr: newCSR(t, p224), want: ErrCSR, pkiErr: pki.ErrKeyType},
		"csr with uri san": {token: fresh, csr: withURI, want: ErrCSR, pkiErr: pki.ErrRequest},
		"csr for a ca": {token: fresh, csr: newCSR(t, key, func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: basicCA}}
		}), want: ErrCSR, pkiErr: pki.ErrCARequest},
		"csr too large": {token: fresh, csr: make([]byte, pki.MaxCSRSize+1), want: ErrCSR, pkiErr: pki.ErrTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			n := newEnv(t)
			tok := c.token(n)
			certsBefore := len(records(t, n.st, pki.KindCert))
			devsBefore := len(records(t, n.st, KindDevice))
			_, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: c.csr})
			checkErr(t, err, c.want)
			if c.pkiErr != nil && !errors.Is(err, c.pkiErr) {
				t.Errorf("err %v does not say %v", err, c.pkiErr)
			}
			var tr *tokenRefusal
			if c.reason != "" && (!errors.As(err, &tr) || tr.reason != c.reason) {
				t.Errorf("refusal reason %+v, want %q", tr, c.reason)
			}
			if strings.Contains(err.Error(), tok) {
				t.Error("the error quotes the token")
			}
			// Nothing issued, nothing recorded.
			if n := len(records(t, n.st, pki.KindCert)); n != certsBefore {
				t.Errorf("%d certificates issued", n-certsBefore)
			}
			if n := len(records(t, n.st, KindDevice)); n != devsBefore {
				t.Errorf("%d devices recorded", n-devsBefore)
			}
			// A CSR refusal leaves the token usable.
			if c.want == ErrCSR {
				if _, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: good}); err != nil {
					t.Errorf("the token no longer enrolls after a refused csr: %v", err)
				}
			}
		})
	}
}

// TestEnrollRace: a token used twice at once enrolls one device; the
// loser's certificate, already signed, is revoked and not returned.
func TestEnrollRace(t *testing.T) {
	n := newEnv(t)
	tok, _ := n.token(t)
	const tries = 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   []*Enrollment
		errs []error
	)
	for range tries {
		wg.Go(func() {
			e, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: newCSR(t, newP256(t))})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				ok = append(ok, e)
			}
		})
	}
	wg.Wait()
	if len(ok) != 1 || len(errs) != tries-1 {
		t.Fatalf("%d enrollments, %d refusals", len(ok), len(errs))
	}
	for _, err := range errs {
		checkErr(t, err, ErrToken)
	}
	if n := len(records(t, n.st, KindDevice)); n != 1 {
		t.Fatalf("%d devices recorded", n)
	}
	certs := records(t, n.st, pki.KindCert)
	revoked := records(t, n.st, pki.KindRevoked)
	// Losers that got past the first check had a certificate signed: each
	// of those, and only those, is revoked.
	if len(certs)-1 != len(revoked) {
		t.Fatalf("%d certificates, %d revoked", len(certs), len(revoked))
	}
	if n.ca.Revoked(ok[0].Chain[0].SerialNumber) {
		t.Fatal("the winner's certificate is revoked")
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
