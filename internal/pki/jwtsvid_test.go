package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
)

// signES256 signs any header and payload with key: for tokens MintJWTSVID
// would never make but that carry a valid signature.
func signES256(t testing.TB, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig, ok := derToRaw(der, 32)
	if !ok {
		t.Fatal("derToRaw refused a signature")
	}
	return input + "." + b64.EncodeToString(sig)
}

func TestMintJWTSVID(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	id := mustID(t, "spiffe://example.org/ns/prod/sa/api")
	tok, err := ca.MintJWTSVID(id, []string{"spiffe://example.org/db", "billing"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	h, _ := b64.DecodeString(parts[0])
	p, _ := b64.DecodeString(parts[1])
	kid := ca.Bundle().JWTKeyIDs()[0]
	if string(h) != `{"alg":"ES256","kid":"`+kid+`","typ":"JWT"}` {
		t.Errorf("header %s", h)
	}
	want := `{"sub":"spiffe://example.org/ns/prod/sa/api","aud":["spiffe://example.org/db","billing"],"exp":` +
		strconv.FormatInt(testNow.Add(DefaultJWTTTL).Unix(), 10) + `,"iat":` + strconv.FormatInt(testNow.Unix(), 10) + `}`
	if string(p) != want {
		t.Errorf("claims %s\nwant   %s", p, want)
	}
	// The JWT key is not the CA's.
	if sameKey(ca.mat.Load().jwt[0].priv.Public(), ca.Chain()[0].PublicKey) {
		t.Error("jwt-svids are signed with the ca key")
	}
	got, err := VerifyJWTSVID(tok, ca.Bundle(), "billing", testNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || len(got.Audience) != 2 || !got.Expiry.Equal(testNow.Add(DefaultJWTTTL)) || !got.IssuedAt.Equal(testNow) || got.KeyID != kid {
		t.Errorf("verified %+v", got)
	}
	if tok, err := ca.MintJWTSVID(id, []string{"a"}, MaxJWTTTL); err != nil {
		t.Error(err)
	} else if v, err := VerifyJWTSVID(tok, ca.Bundle(), "a", testNow); err != nil || !v.Expiry.Equal(testNow.Add(MaxJWTTTL)) {
		t.Errorf("max ttl: %v %v", v, err)
	}

	for _, tc := range []struct {
		name string
		id   ID
		aud  []string
		ttl  time.Duration
		want error
	}{
		{"other trust domain", mustID(t, "spiffe://other.org/w"), []string{"a"}, 0, ErrTrustDomain},
		{"trust domain id", mustID(t, "spiffe://example.org"), []string{"a"}, 0, ErrInvalidID},
		{"no id", ID{}, []string{"a"}, 0, ErrRequest},
		{"no audience", id, nil, 0, ErrRequest},
		{"empty audience", id, []string{""}, 0, ErrRequest},
		{"too long", id, []string{"a"}, MaxJWTTTL + time.Second, ErrLifetime},
		{"negative", id, []string{"a"}, -time.Second, ErrLifetime},
	} {
		_, err := ca.MintJWTSVID(tc.id, tc.aud, tc.ttl)
		if err == nil {
			t.Errorf("%s: minted", tc.name)
			continue
		}
		checkErr(t, err, tc.want)
	}
}

// TestGoSpiffeValidatesOurJWTSVID: go-spiffe, which reads the real clock,
// accepts our tokens against our bundle.
func TestGoSpiffeValidatesOurJWTSVID(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t, func(c *Config) { c.Clock = time.Now })
	id := mustID(t, "spiffe://example.org/w")
	tok, err := ca.MintJWTSVID(id, []string{"spiffe://example.org/db"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(testTD), ca.BundleJSON())
	if err != nil {
		t.Fatal(err)
	}
	svid, err := jwtsvid.ParseAndValidate(tok, bundle, []string{"spiffe://example.org/db"})
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != id.String() || len(svid.Audience) != 1 {
		t.Errorf("go-spiffe reads %v %v", svid.ID, svid.Audience)
	}
	if _, err := jwtsvid.ParseAndValidate(tok, bundle, []string{"other"}); err == nil {
		t.Error("go-spiffe accepts another audience: the test proves nothing")
	}
}

// TestWeVerifyGoJose: tokens signed by go-jose with RSA and ECDSA keys of
// a bundle verify, so VerifyJWTSVID serves federated trust domains too.
func TestWeVerifyGoJose(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey := newP256(t)
	td := TrustDomain{name: "partner.org"}
	b := &Bundle{td: td, jwt: map[string]crypto.PublicKey{"r": rsaKey.Public(), "e": ecKey.Public()}}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		kid string
		key any
	}{
		{jose.RS256, "r", rsaKey}, {jose.PS384, "r", rsaKey}, {jose.ES256, "e", ecKey},
	} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: tc.key}, (&jose.SignerOptions{}).WithHeader("kid", tc.kid).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{
			Subject: "spiffe://partner.org/svc", Audience: jwt.Audience{"me"},
			Expiry: jwt.NewNumericDate(testNow.Add(time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		v, err := VerifyJWTSVID(tok, b, "me", testNow)
		if err != nil || v.ID.String() != "spiffe://partner.org/svc" || !v.IssuedAt.IsZero() {
			t.Errorf("%s: %v %v", tc.alg, v, err)
		}
		// An RSA key under an EC algorithm, or the reverse, is refused.
		swapped := b.jwt["r"]
		b.jwt["r"], b.jwt["e"] = b.jwt["e"], swapped
		_, err = VerifyJWTSVID(tok, b, "me", testNow)
		checkErr(t, err, ErrSignature)
		b.jwt["e"], b.jwt["r"] = b.jwt["r"], swapped
	}
}

func TestVerifyJWTSVIDRefuses(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	key := ca.mat.Load().jwt[0].priv.s.(*ecdsa.PrivateKey)
	kid := ca.Bundle().JWTKeyIDs()[0]
	id := mustID(t, "spiffe://example.org/w")
	good, err := ca.MintJWTSVID(id, []string{"aud"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"alg":"ES256","kid":"` + kid + `","typ":"JWT"}`
	exp := strconv.FormatInt(testNow.Add(time.Minute).Unix(), 10)
	claims := func(extra string) string {
		return `{"sub":"spiffe://example.org/w","aud":"aud","exp":` + exp + extra + `}`
	}
	parts := strings.Split(good, ".")
	otherCA := newEnv(t).open(t)
	for _, tc := range []struct {
		name  string
		token string
		now   time.Time
		b     *Bundle
		want  error
		why   string
	}{
		{"expired", good, testNow.Add(time.Minute + JWTLeeway), nil, ErrValidity, "expired at 2026-03-01T12:01:00Z"},
		{"wrong audience", good, testNow, nil, ErrAudience, "not addressed to"},
		{"other ca's bundle", good, testNow, otherCA.Bundle(), ErrUntrusted, "no jwt authority"},
		{"not yet valid", signES256(t, key, header, claims(`,"nbf":`+strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10))), testNow, nil, ErrValidity, "not valid before"},
		{"other trust domain", signES256(t, key, header, `{"sub":"spiffe://evil.org/w","aud":"aud","exp":`+exp+`}`), testNow, nil, ErrTrustDomain, "not in trust domain"},
		{"bad sub", signES256(t, key, header, `{"sub":"alice","aud":"aud","exp":`+exp+`}`), testNow, nil, ErrInvalidID, "scheme"},
		{"no exp", signES256(t, key, header, `{"sub":"spiffe://example.org/w","aud":"aud"}`), testNow, nil, ErrMalformed, "lacks"},
		{"no aud", signES256(t, key, header, `{"sub":"spiffe://example.org/w","exp":`+exp+`}`), testNow, nil, ErrMalformed, "lacks"},
		{"empty aud array", signES256(t, key, header, `{"sub":"spiffe://example.org/w","aud":[],"exp":`+exp+`}`), testNow, nil, ErrMalformed, "aud"},
		{"exp a string", signES256(t, key, header, `{"sub":"spiffe://example.org/w","aud":"aud","exp":"soon"}`), testNow, nil, ErrMalformed, "claims"},
		{"exp negative", signES256(t, key, header, `{"sub":"spiffe://example.org/w","aud":"aud","exp":-5}`), testNow, nil, ErrMalformed, "out of range"},
		{"typ", signES256(t, key, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt"}`, claims("")), testNow, nil, ErrMalformed, "typ"},
		{"crit", signES256(t, key, `{"alg":"ES256","kid":"`+kid+`","crit":["exp"]}`, claims("")), testNow, nil, ErrMalformed, "crit"},
		{"no kid", signES256(t, key, `{"alg":"ES256"}`, claims("")), testNow, nil, ErrMalformed, "no kid"},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + ".", testNow, nil, ErrSignature, `alg "none"`},
		{"alg hs256", b64.EncodeToString([]byte(`{"alg":"HS256","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2], testNow, nil, ErrSignature, `alg "HS256"`},
		{"tampered claims", parts[0] + "." + b64.EncodeToString([]byte(claims(`,"x":1`))) + "." + parts[2], testNow, nil, ErrSignature, "does not verify"},
		{"short signature", parts[0] + "." + parts[1] + "." + parts[2][:40], testNow, nil, ErrSignature, "length"},
		{"two parts", parts[0] + "." + parts[1], testNow, nil, ErrMalformed, "three"},
		{"four parts", good + ".x", testNow, nil, ErrMalformed, "three"},
		{"bad base64", "!!." + parts[1] + "." + parts[2], testNow, nil, ErrMalformed, "base64url"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], testNow, nil, ErrMalformed, "base64url"},
		{"header not json", b64.EncodeToString([]byte("[1]")) + "." + parts[1] + "." + parts[2], testNow, nil, ErrMalformed, "header"},
		{"too large", strings.Repeat("a", MaxJWTSize+1), testNow, nil, ErrTooLarge, "limit"},
	} {
		b := tc.b
		if b == nil {
			b = ca.Bundle()
		}
		aud := "aud"
		if tc.name == "wrong audience" {
			aud = "someone-else"
		}
		_, err := VerifyJWTSVID(tc.token, b, aud, tc.now)
		if err == nil {
			t.Errorf("%s: verified", tc.name)
			continue
		}
		checkErr(t, err, tc.want)
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.why)
		}
		if len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: the error quotes the token", tc.name)
		}
	}
	// Within the leeway, an expired token still passes.
	if _, err := VerifyJWTSVID(good, ca.Bundle(), "aud", testNow.Add(time.Minute+JWTLeeway-time.Second)); err != nil {
		t.Errorf("within the leeway: %v", err)
	}
	_, err = VerifyJWTSVID(good, ca.Bundle(), "aud", time.Time{})
	checkErr(t, err, ErrConfig)
	var v map[string]any
	if json.Unmarshal([]byte(claims("")), &v) != nil {
		t.Fatal("test claims are not json")
	}
}
