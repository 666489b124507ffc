package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// checkOneOf fails unless err matches exactly one of allowed and no other
// sentinel.
func checkOneOf(t *testing.T, err error, allowed ...error) {
	t.Helper()
	for _, want := range allowed {
		if errors.Is(err, want) {
			checkErr(t, err, want)
			return
		}
	}
	t.Fatalf("err %v matches none of %v", err, allowed)
}

// FuzzParseCSR feeds arbitrary bytes to ParseCSR: it must not panic, must
// refuse with one of its classes, and must accept only a CSR whose
// signature verifies and whose key the CA certifies.
func FuzzParseCSR(f *testing.F) {
	key := newP256(f)
	f.Add(newCSR(f, key))
	f.Add(newCSR(f, key, withURI("spiffe://example.org/w")))
	basicCA, _ := asn1.Marshal(struct{ IsCA bool }{true})
	f.Add(newCSR(f, key, func(r *x509.CertificateRequest) {
		r.ExtraExtensions = []pkix.Extension{{Id: oidBasicConstraints, Value: basicCA}}
	}))
	bad := newCSR(f, key)
	bad[len(bad)-3] ^= 0x40
	f.Add(bad)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := ParseCSR(der)
		if err != nil {
			checkOneOf(t, err, ErrMalformed, ErrTooLarge, ErrCSRSignature, ErrKeyType, ErrCARequest)
			return
		}
		if csr.CheckSignature() != nil || checkPublicKey(csr.PublicKey) != nil || checkNotCA(csr) != nil || len(der) > MaxCSRSize {
			t.Fatal("ParseCSR accepted a csr its checks refuse")
		}
	})
}

// FuzzParseID: ParseID must not panic; an ID it accepts prints back to
// its input, as a URL too, and go-spiffe accepts it; within the length
// limits, go-spiffe accepts nothing ParseID refuses.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"spiffe://example.org", "spiffe://example.org/ns/prod/sa/api", "spiffe://example.org/a//b",
		"spiffe://Example.org/x", "spiffe://example.org:80/x", "spiffe://u@example.org/x", "spiffe://example.org/x?y",
		"spiffe://example.org/./x", "spiffe://example.org/%41", "SPIFFE://example.org/x", "spiffe:///x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		_, theirs := spiffeid.FromString(s)
		if err != nil {
			checkErr(t, err, ErrInvalidID)
			if theirs == nil && len(s) <= MaxIDLen && len(id.TrustDomain().String()) <= MaxTrustDomainLen && !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("go-spiffe accepts %q, ParseID refuses: %v", s, err)
			}
			return
		}
		if id.String() != s || id.URL().String() != s || id.TrustDomain().IsZero() || !strings.HasPrefix(s, "spiffe://"+id.TrustDomain().String()+id.Path()) {
			t.Fatalf("%q parses to %q (td %q, path %q, url %q)", s, id, id.TrustDomain(), id.Path(), id.URL())
		}
		if again, err := ParseID(id.URL().String()); err != nil || again != id {
			t.Fatalf("%q does not survive its URL: %v", s, err)
		}
		if theirs != nil {
			t.Fatalf("ParseID accepts %q, go-spiffe refuses: %v", s, theirs)
		}
	})
}

// fuzzJWTKey is a fixed key, so that tokens found by the fuzzer stay
// signed by a key of the fuzz bundle across runs.
func fuzzJWTKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	scalar := make([]byte, 32)
	for i := range scalar {
		scalar[i] = byte(i + 1)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzVerifyJWTSVID feeds arbitrary tokens to VerifyJWTSVID. It must not
// panic; an error matches one sentinel and never quotes the token; a
// token it accepts is addressed to the audience, of the trust domain, and
// not expired.
func FuzzVerifyJWTSVID(f *testing.F) {
	key := fuzzJWTKey(f)
	const kid = "fuzz"
	b := &Bundle{td: TrustDomain{name: testTD}, jwt: map[string]crypto.PublicKey{kid: key.Public()}}
	now := testNow
	exp := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	header := `{"alg":"ES256","kid":"fuzz","typ":"JWT"}`
	for _, payload := range []string{
		`{"sub":"spiffe://example.org/w","aud":"aud","exp":` + exp + `}`,
		`{"sub":"spiffe://example.org/w","aud":["x","aud"],"exp":` + exp + `,"iat":1,"nbf":1.5}`,
		`{"sub":"spiffe://evil.org/w","aud":"aud","exp":` + exp + `}`,
		`{"sub":"spiffe://example.org/w","aud":"aud","exp":1}`,
		`{"sub":"spiffe://example.org/w","aud":"aud","exp":1e300}`,
	} {
		f.Add(signES256(f, key, header, payload))
	}
	f.Add(b64.EncodeToString([]byte(`{"alg":"none","kid":"fuzz"}`)) + ".e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		v, err := VerifyJWTSVID(token, b, "aud", now)
		if err != nil {
			checkOneOf(t, err, ErrTooLarge, ErrMalformed, ErrSignature, ErrUntrusted, ErrInvalidID, ErrTrustDomain, ErrValidity, ErrAudience)
			if len(token) > 16 && strings.Contains(err.Error(), token) {
				t.Fatal("the error quotes the token")
			}
			return
		}
		if !v.ID.MemberOf(b.td) || !slices.Contains(v.Audience, "aud") || !now.Before(v.Expiry.Add(JWTLeeway)) || v.KeyID != kid {
			t.Fatalf("accepted %+v", v)
		}
	})
}

// FuzzParseBundle: ParseBundle must not panic; a bundle it accepts
// marshals to one it reads back the same.
func FuzzParseBundle(f *testing.F) {
	e := newEnv(f)
	ca := e.open(f)
	f.Add(ca.BundleJSON())
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"use":"jwt-svid","kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"use":"x509-svid","x5c":["AAAA","BBBB"]}],"spiffe_refresh_hint":-1}`))
	td := ca.TrustDomain()
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(td, data)
		if err != nil {
			checkOneOf(t, err, ErrMalformed, ErrTooLarge)
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("an accepted bundle does not marshal: %v", err)
		}
		again, err := ParseBundle(td, out)
		if err != nil || len(again.X509Authorities()) != len(b.X509Authorities()) || strings.Join(again.JWTKeyIDs(), ",") != strings.Join(b.JWTKeyIDs(), ",") || again.Sequence() != b.Sequence() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseSVID feeds arbitrary certificates to ParseSVID, whose URI SAN
// reader is ours: it must not panic, and an ID it returns is the
// certificate's one URI.
func FuzzParseSVID(f *testing.F) {
	e := newEnv(f)
	ca := e.open(f)
	chain, err := ca.IssueSVID(context.Background(), newCSR(f, newP256(f)), mustID(f, "spiffe://example.org/w"), 0, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chain[0].Raw)
	f.Add(chain[1].Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		svid, err := ParseSVID([]*x509.Certificate{c})
		if err != nil {
			checkOneOf(t, err, ErrNotSVID, ErrInvalidID, ErrMalformed)
			return
		}
		if len(c.URIs) != 1 || c.URIs[0].String() != svid.ID.String() {
			t.Fatalf("id %q, certificate uris %v", svid.ID, c.URIs)
		}
	})
}
