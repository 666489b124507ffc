package workload

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// testBundle reads ca's bundle as the rotator would.
func testBundle(t *testing.T, ca *testCA) *x509Bundle {
	t.Helper()
	td, auths, err := ca.Bundle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := newX509Bundle(td, auths)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testEntry(t *testing.T, id string) *entry {
	t.Helper()
	e, err := compileEntry(Entry{ID: "e", SPIFFEID: id, Selectors: []string{"unix:uid:0"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestIssueX509SVID(t *testing.T) {
	clock := newFakeClock()
	ca := newTestCA(t, clock)
	s, err := issueX509SVID(context.Background(), ca, testEntry(t, "spiffe://example.org/a"), testBundle(t, ca), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.spiffeID != "spiffe://example.org/a" || !s.expires.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("svid %v expires %s", s, s.expires)
	}
	if want := clock.Now().Add(30 * time.Minute); !s.renewAt.Equal(want) {
		t.Errorf("renew at %s, want half-life %s", s.renewAt, want)
	}
}

// TestIssueX509SVIDRefusesFaultyIssuers plays an issuer that signs the
// wrong thing: the server must not hand any of it to a workload.
func TestIssueX509SVIDRefusesFaultyIssuers(t *testing.T) {
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := newFakeClock()
	strangerCA := newTestCA(t, clock)
	for name, tc := range map[string]struct {
		id       string
		misissue func(*x509.Certificate, *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey)
	}{
		"other spiffe id": {misissue: func(c *x509.Certificate, p *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			c.URIs = []*url.URL{{Scheme: "spiffe", Host: "example.org", Path: "/admin"}}
			return p, nil, nil
		}},
		"other key": {misissue: func(c *x509.Certificate, _ *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			return &otherKey.PublicKey, nil, nil
		}},
		"ca leaf": {misissue: func(c *x509.Certificate, p *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			c.IsCA, c.KeyUsage = true, c.KeyUsage|x509.KeyUsageCertSign
			return p, nil, nil
		}},
		"no digital signature": {misissue: func(c *x509.Certificate, p *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			c.KeyUsage = x509.KeyUsageKeyAgreement
			return p, nil, nil
		}},
		"expired": {misissue: func(c *x509.Certificate, p *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			c.NotBefore, c.NotAfter = c.NotBefore.Add(-2*time.Hour), c.NotBefore.Add(-time.Hour)
			return p, nil, nil
		}},
		"signed outside the bundle": {misissue: func(c *x509.Certificate, p *ecdsa.PublicKey) (*ecdsa.PublicKey, *x509.Certificate, *ecdsa.PrivateKey) {
			return p, strangerCA.signer, strangerCA.key
		}},
		"other trust domain": {id: "spiffe://other.org/a"},
	} {
		t.Run(name, func(t *testing.T) {
			ca := newTestCA(t, clock)
			ca.misissue = tc.misissue
			id := tc.id
			if id == "" {
				id = "spiffe://example.org/a"
			}
			s, err := issueX509SVID(context.Background(), ca, testEntry(t, id), testBundle(t, ca), clock.Now())
			if !errors.Is(err, errIssuer) {
				t.Fatalf("got %v, %v; want errIssuer", s, err)
			}
		})
	}

	t.Run("issuer error", func(t *testing.T) {
		ca := newTestCA(t, clock)
		b := testBundle(t, ca)
		ca.setDown(true)
		if _, err := issueX509SVID(context.Background(), ca, testEntry(t, "spiffe://example.org/a"), b, clock.Now()); !errors.Is(err, errIssuer) {
			t.Fatalf("%v, want errIssuer", err)
		}
	})
}

// TestPrivateKeysStayOutOfLogs formats an SVID every way a careless log
// line could, and runs a server at debug level through issuance, renewal
// failures and fetches, looking for the keys it handed out.
func TestPrivateKeysStayOutOfLogs(t *testing.T) {
	clock := newFakeClock()
	ca := newTestCA(t, clock)
	s, err := issueX509SVID(context.Background(), ca, testEntry(t, "spiffe://example.org/a"), testBundle(t, ca), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "svid", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "svid", s)
	fmt.Fprintf(&buf, "%v %+v %#v %s", s, s, s, s)
	assertNoKey(t, buf.Bytes(), s.keyDER)

	h := startServer(t, ca, clock, []Entry{{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}}})
	svid, err := workloadapi.FetchX509SVID(testCtx(t), h.addr())
	if err != nil {
		t.Fatal(err)
	}
	ca.setDown(true)
	clock.Advance(31 * time.Minute)
	waitFor(t, "a failed renewal", func() bool { return logged(h, "x509-svid issuance failed") })
	ca.setDown(false)
	clock.Advance(maxRetry)
	waitFor(t, "renewal", func() bool { issued, _ := ca.counts(); return issued >= 3 })
	h.stop()
	keyDER, err := x509.MarshalPKCS8PrivateKey(svid.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if !logged(h, "x509-svid issued") {
		t.Fatal("nothing logged: the check below would prove nothing")
	}
	assertNoKey(t, h.logs.Bytes(), keyDER)
}

func assertNoKey(t *testing.T, out, keyDER []byte) {
	t.Helper()
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	d, err := key.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for name, needle := range map[string]string{
		"der":           string(keyDER),
		"base64":        base64.StdEncoding.EncodeToString(keyDER),
		"base64url":     base64.RawURLEncoding.EncodeToString(keyDER),
		"hex":           hex.EncodeToString(keyDER),
		"scalar hex":    hex.EncodeToString(d),
		"scalar base64": base64.StdEncoding.EncodeToString(d),
		"scalar bytes":  strings.Trim(fmt.Sprint(d[:16]), "[]"),
		"der fragment":  fmt.Sprint(keyDER[:16]),
		"byte slice %v": strings.Trim(fmt.Sprint(keyDER[40:56]), "[]"),
	} {
		if bytes.Contains(out, []byte(needle)) {
			t.Errorf("private key (%s) in output", name)
		}
	}
}
