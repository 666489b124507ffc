package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestBundleFormat(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	var doc struct {
		Keys []map[string]any `json:"keys"`
		Seq  *float64         `json:"spiffe_sequence"`
		Hint *float64         `json:"spiffe_refresh_hint"`
	}
	if err := json.Unmarshal(ca.BundleJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Seq == nil || *doc.Seq < 1 || doc.Hint == nil || *doc.Hint != DefaultRefreshHint.Seconds() {
		t.Errorf("sequence %v, refresh hint %v", doc.Seq, doc.Hint)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("%d keys, want the root and one jwt key", len(doc.Keys))
	}
	x, j := doc.Keys[0], doc.Keys[1]
	x5c, _ := x["x5c"].([]any)
	if x["use"] != "x509-svid" || x["kty"] != "EC" || x["crv"] != "P-256" || len(x5c) != 1 || x["kid"] != nil {
		t.Errorf("x509-svid key: %v", x)
	}
	der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	if root, err := x509.ParseCertificate(der); err != nil || !root.Equal(ca.Chain()[1]) {
		t.Errorf("x5c is not the root: %v", err)
	}
	if j["use"] != "jwt-svid" || j["kty"] != "EC" || j["crv"] != "P-256" || j["kid"] != ca.mat.Load().jwt[0].kid || j["x5c"] != nil || j["x"] == nil || j["y"] == nil {
		t.Errorf("jwt-svid key: %v", j)
	}

	// go-spiffe reads it as we wrote it.
	ref, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(testTD), ca.BundleJSON())
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := ref.SequenceNumber(); !ok || seq != ca.Bundle().Sequence() {
		t.Errorf("go-spiffe sequence %d %v", seq, ok)
	}
	if hint, ok := ref.RefreshHint(); !ok || hint != DefaultRefreshHint {
		t.Errorf("go-spiffe refresh hint %s", hint)
	}
	if len(ref.X509Authorities()) != 1 || !ref.X509Authorities()[0].Equal(ca.Chain()[1]) || len(ref.JWTAuthorities()) != 1 {
		t.Error("go-spiffe reads other authorities")
	}

	// And so do we.
	b, err := ParseBundle(ca.TrustDomain(), ca.BundleJSON())
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Marshal()
	if err != nil || string(again) != string(ca.BundleJSON()) {
		t.Errorf("round trip:\n%s\n%s", again, ca.BundleJSON())
	}
}

// TestBundleKeyTypes: roots of other key types (an imported CA's)
// marshal to JWKs that we and go-spiffe read back as the same key.
func TestBundleKeyTypes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	td := TrustDomain{name: testTD}
	for name, key := range map[string]crypto.Signer{"rsa": rsaKey, "ed25519": edKey, "p384": p384} {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			NotBefore: testNow, NotAfter: testNow.Add(time.Hour),
			BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := x509.ParseCertificate(der)
		data, err := newBundle(td, []*x509.Certificate{root}, nil, 7, time.Minute).Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := ParseBundle(td, data)
		if err != nil || len(b.X509Authorities()) != 1 || !b.X509Authorities()[0].Equal(root) || b.Sequence() != 7 || b.RefreshHint() != time.Minute {
			t.Errorf("%s: ParseBundle = %v, %v", name, b, err)
		}
		if _, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(testTD), data); err != nil {
			t.Errorf("%s: go-spiffe refuses: %v", name, err)
		}
	}
}

func TestParseBundleRefuses(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	good := ca.BundleJSON()
	edit := func(f func(x, j map[string]any) any) []byte {
		var d map[string]any
		json.Unmarshal(good, &d)
		ks := d["keys"].([]any)
		if out := f(ks[0].(map[string]any), ks[1].(map[string]any)); out != nil {
			d["keys"] = out
		}
		v, _ := json.Marshal(d)
		return v
	}
	other := newEnv(t).open(t)
	var otherDoc map[string]any
	json.Unmarshal(other.BundleJSON(), &otherDoc)
	otherRoot := otherDoc["keys"].([]any)[0].(map[string]any)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		why  string
	}{
		{"not json", []byte("{"), ErrMalformed, "not a json key set"},
		{"no keys", []byte(`{"spiffe_sequence":1}`), ErrMalformed, "no keys member"},
		{"keys null", []byte(`{"keys":null}`), ErrMalformed, "no keys member"},
		{"too large", make([]byte, MaxBundleSize+1), ErrTooLarge, "limit"},
		{"negative hint", []byte(`{"keys":[],"spiffe_refresh_hint":-1}`), ErrMalformed, "refresh hint"},
		{"x5c missing", edit(func(x, _ map[string]any) any { delete(x, "x5c"); return nil }), ErrMalformed, "exactly one certificate, holds 0"},
		{"x5c junk", edit(func(x, _ map[string]any) any { x["x5c"] = []string{"!!"}; return nil }), ErrMalformed, "not base64"},
		{"x5c not a cert", edit(func(x, _ map[string]any) any { x["x5c"] = []string{"AAAA"}; return nil }), ErrMalformed, "x5c"},
		{"key does not match x5c", edit(func(x, _ map[string]any) any { x["x5c"] = otherRoot["x5c"]; return nil }), ErrMalformed, "do not describe"},
		{"jwt without kid", edit(func(_, j map[string]any) any { delete(j, "kid"); return nil }), ErrMalformed, "no kid"},
		{"duplicate kid", edit(func(x, j map[string]any) any { return []any{x, j, j} }), ErrMalformed, "appears twice"},
		{"point off curve", edit(func(_, j map[string]any) any { j["y"] = j["x"]; return nil }), ErrMalformed, "not on the curve"},
		{"unknown curve", edit(func(_, j map[string]any) any { j["crv"] = "P-192"; return nil }), ErrMalformed, "not supported"},
		{"unknown kty", edit(func(_, j map[string]any) any { j["kty"] = "oct"; return nil }), ErrMalformed, "kty"},
	} {
		_, err := ParseBundle(ca.TrustDomain(), tc.data)
		if err == nil {
			t.Errorf("%s: parsed", tc.name)
			continue
		}
		checkErr(t, err, tc.want)
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.why)
		}
	}
	// Keys of other uses are ignored, as the format asks.
	b, err := ParseBundle(ca.TrustDomain(), edit(func(x, j map[string]any) any {
		return []any{x, j, map[string]any{"use": "wit-svid", "kty": "EC", "kid": "w"}, map[string]any{"kty": "EC"}}
	}))
	if err != nil || len(b.JWTKeyIDs()) != 1 {
		t.Errorf("unknown uses: %v, %v", b, err)
	}
}

func TestBundleHandler(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	srv := httptest.NewServer(ca.BundleHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(ca.BundleJSON()) {
		t.Fatalf("GET: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "max-age=150" {
		t.Errorf("headers: %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("If-None-Match", etag)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Post(srv.URL, "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp.StatusCode, err)
	}
}
