package webidentity

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestAlgorithms verifies a token signed with go-jose in each supported
// algorithm, with keys published through discovery and the JWKS.
func TestAlgorithms(t *testing.T) {
	algs := []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	}
	var keys []testKey
	for _, alg := range algs {
		keys = append(keys, newKey(t, alg, "kid-"+string(alg)))
	}
	idp := newIdP(t, keys...)
	v, _ := newVerifier(t, newFakeClock(), idp)
	for _, k := range keys {
		t.Run(string(k.alg), func(t *testing.T) {
			tok, err := v.Verify(context.Background(), k.sign(t, idp.claims()))
			if err != nil {
				t.Fatal(err)
			}
			want := &Token{
				Issuer:          idp.URL,
				Provider:        strings.TrimPrefix(idp.URL, "http://"),
				Subject:         "system:serviceaccount:ci:deployer",
				Audience:        []string{testAudience},
				AMR:             []string{"pwd", "mfa"},
				AuthorizedParty: "ci",
				ID:              "3f1c9a",
				IssuedAt:        testNow.Add(-time.Minute),
				Expires:         testNow.Add(10 * time.Minute),
				NotBefore:       testNow.Add(-time.Minute),
			}
			if !tokenEqual(tok, want) {
				t.Fatalf("got %+v\nwant %+v", tok, want)
			}
		})
	}
	if n := idp.discoveries.Load(); n != 1 {
		t.Errorf("%d discoveries, want 1", n)
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}

func tokenEqual(a, b *Token) bool {
	return a.Issuer == b.Issuer && a.Provider == b.Provider && a.Subject == b.Subject &&
		slices.Equal(a.Audience, b.Audience) && slices.Equal(a.AMR, b.AMR) &&
		a.AuthorizedParty == b.AuthorizedParty && a.ID == b.ID &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Expires.Equal(b.Expires) && a.NotBefore.Equal(b.NotBefore)
}

// TestVerify covers what a verifier must refuse, and the edges of what it
// must accept, with keys the test controls and a fake clock.
func TestVerify(t *testing.T) {
	es := newKey(t, jose.ES256, "es")
	rs := newKey(t, jose.RS256, "rs")
	ps := newKey(t, jose.PS256, "ps")
	anyRSA := newKey(t, jose.PS256, "rsa-any") // published without "alg"
	anyRSA.jwkAlg = "-"
	ed := newKey(t, jose.EdDSA, "ed")
	weak := testKey{kid: "weak", alg: jose.RS256, priv: rsaKey(t, 1024)}
	idp := newIdP(t, es, rs, ps, anyRSA, ed, weak)
	other := newIdP(t, es) // trusted, same key, different issuer
	attacker := newKey(t, jose.ES256, "es")

	// with returns the valid claims changed by kv pairs; a nil value
	// deletes the claim.
	with := func(kv ...any) map[string]any {
		c := idp.claims()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	enc := base64.RawURLEncoding
	header := func(h string) string { return enc.EncodeToString([]byte(h)) }
	payload := func(c any) string {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeToString(b)
	}
	// resign puts a header and payload under a valid signature by es.
	resign := func(h, p string) string {
		return h + "." + p + "." + enc.EncodeToString(signES256(t, es, h+"."+p))
	}
	valid := es.sign(t, idp.claims())
	parts := strings.Split(valid, ".")
	pubDER, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	rsJWK, err := json.Marshal(rs.jwk())
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(secret []byte, kid string) string {
		in := header(`{"alg":"HS256","typ":"JWT","kid":"`+kid+`"}`) + "." + payload(idp.claims())
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + enc.EncodeToString(m.Sum(nil))
	}

	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"es256", valid, nil},
		{"rs256", rs.sign(t, idp.claims()), nil},
		{"ps256", ps.sign(t, idp.claims()), nil},
		{"eddsa", ed.sign(t, idp.claims()), nil},
		{"jwk without alg, rs256", testKey{kid: "rsa-any", alg: jose.RS256, priv: anyRSA.priv}.sign(t, idp.claims()), nil},
		{"jwk without alg, ps256", anyRSA.sign(t, idp.claims()), nil},
		{"aud as a string", es.sign(t, with("aud", testAudience)), nil},
		{"second audience accepted", es.sign(t, with("aud", []string{"nope", "other"})), nil},
		{"no nbf", es.sign(t, with("nbf", nil)), nil},
		{"no kid", rawES256(t, es, `{"alg":"ES256"}`, idp.claims()), nil},
		{"fractional dates", es.sign(t, with("exp", float64(testNow.Unix())+600.5, "iat", 1.7e9)), nil},
		{"unknown claims and header members ignored", rawES256(t, es, `{"alg":"ES256","kid":"es","typ":"at+jwt","x":[1,{"y":null}]}`, with("groups", []string{"a"}, "nested", map[string]any{"iss": "x"})), nil},
		{"expired within leeway", es.sign(t, with("exp", testNow.Add(-59*time.Second).Unix())), nil},
		{"nbf within leeway", es.sign(t, with("nbf", testNow.Add(59*time.Second).Unix())), nil},
		{"iat within leeway", es.sign(t, with("iat", testNow.Add(59*time.Second).Unix())), nil},
		{"other trusted issuer", es.sign(t, with("iss", other.URL)), nil},

		{"expired", es.sign(t, with("exp", testNow.Add(-2*time.Minute).Unix())), ErrExpired},
		{"not yet valid", es.sign(t, with("nbf", testNow.Add(2*time.Minute).Unix())), ErrExpired},
		{"issued in the future", es.sign(t, with("iat", testNow.Add(2*time.Minute).Unix())), ErrExpired},
		{"wrong audience", es.sign(t, with("aud", []string{"sts.elsewhere"})), ErrAudience},
		{"audience differs in case", es.sign(t, with("aud", strings.ToUpper(testAudience))), ErrAudience},
		{"untrusted issuer", es.sign(t, with("iss", "https://evil.example.com")), ErrUntrustedIssuer},
		{"issuer with trailing slash", es.sign(t, with("iss", idp.URL+"/")), ErrUntrustedIssuer},

		{"alg none", rawToken(`{"alg":"none","typ":"JWT"}`, mustJSON(t, idp.claims()), nil), ErrSignature},
		{"alg None", rawToken(`{"alg":"None"}`, mustJSON(t, idp.claims()), nil), ErrSignature},
		{"alg none with a signature", rawToken(`{"alg":"none"}`, mustJSON(t, idp.claims()), []byte("x")), ErrSignature},
		{"hs256 keyed with the public key pem", hs256(pubPEM, "rs"), ErrSignature},
		{"hs256 keyed with the public jwk", hs256(rsJWK, "rs"), ErrSignature},
		{"unsupported alg", rawToken(`{"alg":"ES256K","kid":"es"}`, mustJSON(t, idp.claims()), make([]byte, 64)), ErrSignature},
		{"tampered payload", parts[0] + "." + payload(with("sub", "system:serviceaccount:kube-system:admin")) + "." + parts[2], ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flipLast(parts[2]), ErrSignature},
		{"tampered header", header(`{"alg":"ES256","kid":"es","typ":"JWT","x":1}`) + "." + parts[1] + "." + parts[2], ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40], ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"attacker key under a known kid", attacker.sign(t, idp.claims()), ErrSignature},
		{"attacker key embedded in header", rawES256(t, attacker, `{"alg":"ES256","kid":"es","jwk":`+string(mustMarshal(t, attacker.jwk()))+`}`, idp.claims()), ErrSignature},
		{"kid of an ec key, alg rs256", testKey{kid: "es", alg: jose.RS256, priv: rs.priv}.sign(t, idp.claims()), ErrSignature},
		{"ps256 under a jwk bound to rs256", testKey{kid: "rs", alg: jose.PS256, priv: rs.priv}.sign(t, idp.claims()), ErrSignature},
		{"es384 under a p-256 key", rawToken(`{"alg":"ES384","kid":"es"}`, mustJSON(t, idp.claims()), make([]byte, 96)), ErrSignature},
		{"weak rsa key not trusted", weak.sign(t, idp.claims()), ErrSignature},
		{"unknown kid", testKey{kid: "nope", alg: jose.ES256, priv: es.priv}.sign(t, idp.claims()), ErrSignature},

		{"oversized", es.sign(t, with("pad", strings.Repeat("x", MaxTokenLength))), ErrMalformed},
		{"empty", "", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", valid + ".x", ErrMalformed},
		{"jwe shape", parts[0] + "..x.y." + parts[2], ErrMalformed},
		{"newline inside", parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2], ErrMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"standard base64 alphabet", strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/") + "+/", ErrMalformed},
		{"header not json", header("alg") + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"header is an array", header(`["ES256"]`) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"header without alg", resign(header(`{"kid":"es"}`), parts[1]), ErrMalformed},
		{"alg not a string", resign(header(`{"alg":["ES256"],"kid":"es"}`), parts[1]), ErrMalformed},
		{"duplicate alg", resign(header(`{"alg":"none","alg":"ES256","kid":"es"}`), parts[1]), ErrMalformed},
		{"crit header", resign(header(`{"alg":"ES256","kid":"es","crit":["exp"],"exp":1}`), parts[1]), ErrMalformed},
		{"b64 false", resign(header(`{"alg":"ES256","kid":"es","b64":false,"crit":["b64"]}`), parts[1]), ErrMalformed},
		{"payload not json", resign(parts[0], enc.EncodeToString([]byte("iss=x"))), ErrMalformed},
		{"payload trailing data", resign(parts[0], enc.EncodeToString([]byte(mustJSON(t, idp.claims())+"{}"))), ErrMalformed},
		{"payload invalid utf-8", resign(parts[0], enc.EncodeToString([]byte(strings.Replace(mustJSON(t, idp.claims()), "deployer", "deployer\xff", 1)))), ErrMalformed},
		{"missing iss", es.sign(t, with("iss", nil)), ErrMalformed},
		{"missing sub", es.sign(t, with("sub", nil)), ErrMalformed},
		{"empty sub", es.sign(t, with("sub", "")), ErrMalformed},
		{"missing aud", es.sign(t, with("aud", nil)), ErrMalformed},
		{"empty aud array", es.sign(t, with("aud", []string{})), ErrMalformed},
		{"missing exp", es.sign(t, with("exp", nil)), ErrMalformed},
		{"missing iat", es.sign(t, with("iat", nil)), ErrMalformed},
		{"duplicate iss", resign(parts[0], enc.EncodeToString([]byte(dupClaims(t, idp.claims(), `"iss":"https://evil.example.com"`)))), ErrMalformed},
		{"case-folded ISS does not count", es.sign(t, with("iss", nil, "ISS", idp.URL)), ErrMalformed},
		{"null iss", es.sign(t, with("iss", json.RawMessage("null"))), ErrMalformed},
		{"exp as a string", es.sign(t, with("exp", "1772366400")), ErrMalformed},
		{"negative exp", es.sign(t, with("exp", -1)), ErrMalformed},
		{"exp beyond year 9999", es.sign(t, with("exp", 1e300)), ErrMalformed},
		{"aud array with a number", es.sign(t, with("aud", []any{testAudience, 1})), ErrMalformed},
		{"amr as a string", es.sign(t, with("amr", "pwd")), ErrMalformed},
		{"sub as a number", es.sign(t, with("sub", 42)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, logs := newVerifier(t, newFakeClock(), idp, other)
			tok, err := v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Log(err)
			}
			checkErr(t, err, tc.want, tc.token)
			checkNoToken(t, logs.String(), tc.token)
			if tc.want == nil && (tok.Subject == "" || tok.Issuer == "") {
				t.Fatalf("incomplete token %+v", tok)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, v any) string { return string(mustMarshal(t, v)) }

// dupClaims renders claims with extra members appended after them, so the
// JSON has a member twice.
func dupClaims(t *testing.T, c map[string]any, extra string) string {
	s := mustJSON(t, c)
	return s[:len(s)-1] + "," + extra + "}"
}

// flipLast changes the last full character of a base64url segment.
func flipLast(s string) string {
	b := []byte(s)
	i := len(b) - 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// signES256 signs input as JWS ES256 does: R || S, 32 bytes each. It
// lets tests sign headers go-jose would never write.
func signES256(t testing.TB, k testKey, input string) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// rawES256 signs claims under a header given verbatim.
func rawES256(t testing.TB, k testKey, header string, claims any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(b)
	return in + "." + enc.EncodeToString(signES256(t, k, in))
}
