package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// sentinels are the errors Verify classifies by.
var sentinels = []error{ErrMalformed, ErrSignature, ErrExpired, ErrAudience, ErrKeySet}

// checkVerifyError fails unless err matches want and no other sentinel,
// and does not quote the token.
func checkVerifyError(t *testing.T, err, want error, token string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("err %v also matches %v", err, s)
		}
	}
	if len(token) > 8 && strings.Contains(err.Error(), token) {
		t.Errorf("error quotes the token: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t, func(c *Config) { c.Issuer = "https://ztgate.example.com" })
	in := testClaims()
	in.Name = "Zoë \"Z\" <O'Brien>\n\u2028\x01"
	in.Groups = append(in.Groups, "grüße", `back\slash`)
	in.Device["score"] = 7
	tok := mustSign(t, s, in)

	got, err := Verify(tok, s.JWKS(), testAudience, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Issuer = "https://ztgate.example.com"
	want.IssuedAt = testNow
	want.Expires = testNow.Add(DefaultTTL)
	want.AuthTime = in.AuthTime.UTC()
	want.Device = map[string]any{"id": "dev-1", "managed": true, "compliant": true, "score": float64(7)}
	want.ID = got.ID
	if len(got.ID) != 22 {
		t.Errorf("jti %q: want 22 characters of base64url", got.ID)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("claims differ:\n got %+v\nwant %+v", *got, want)
	}

	// Two signatures of the same claims have different ids.
	tok2 := mustSign(t, s, in)
	got2, err := Verify(tok2, s.JWKS(), testAudience, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got2.ID == got.ID {
		t.Error("two assertions share a jti")
	}

	// The header is what the package documents.
	h, _, _ := strings.Cut(tok, ".")
	header, _ := b64.DecodeString(h)
	if want := `{"alg":"ES256","kid":"` + s.KeyID() + `","typ":"JWT"}`; string(header) != want {
		t.Errorf("header %s, want %s", header, want)
	}
}

// TestSignFillsOnlyZero: claims given are kept.
func TestSignFillsOnlyZero(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	in := testClaims()
	in.Issuer = "node-1"
	in.IssuedAt = testNow.Add(-time.Minute)
	in.Expires = testNow.Add(time.Minute)
	in.ID = "fixed-id"
	got, err := Verify(mustSign(t, s, in), s.JWKS(), testAudience, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != "node-1" || !got.IssuedAt.Equal(in.IssuedAt) || !got.Expires.Equal(in.Expires) || got.ID != "fixed-id" {
		t.Errorf("got %+v", got)
	}
}

func TestSignRefuses(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	for name, mod := range map[string]func(*Claims){
		"no subject":        func(c *Claims) { c.Subject = "" },
		"no audience":       func(c *Claims) { c.Audience = "" },
		"expires before":    func(c *Claims) { c.Expires = testNow.Add(-time.Second) },
		"lives too long":    func(c *Claims) { c.Expires = testNow.Add(DefaultTTL + time.Second) },
		"device not json":   func(c *Claims) { c.Device = map[string]any{"ch": make(chan int)} },
		"auth time too old": func(c *Claims) { c.AuthTime = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		t.Run(name, func(t *testing.T) {
			c := testClaims()
			mod(&c)
			if _, err := s.Sign(c); !errors.Is(err, ErrClaims) {
				t.Errorf("err = %v, want ErrClaims", err)
			}
		})
	}
}

// TestGoJoseVerifiesOurs checks our tokens and JWKS with go-jose, an
// independent implementation.
func TestGoJoseVerifiesOurs(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	tok := mustSign(t, s, testClaims())

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	kid := parsed.Headers[0].KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("go-jose finds %d keys with kid %q", len(keys), kid)
	}
	k := keys[0]
	if k.Algorithm != "ES256" || k.Use != "sig" || !k.Valid() || !k.IsPublic() {
		t.Errorf("jwk %+v", k)
	}
	// The kid is the RFC 7638 thumbprint, as go-jose computes it.
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if b64.EncodeToString(tp) != kid {
		t.Errorf("kid %s is not the thumbprint %s", kid, b64.EncodeToString(tp))
	}

	var std jwt.Claims
	var own struct {
		PrincipalID string         `json:"principal_id"`
		Groups      []string       `json:"groups"`
		SessionID   string         `json:"sid"`
		Method      string         `json:"auth_method"`
		Device      map[string]any `json:"device"`
		AuthTime    int64          `json:"auth_time"`
	}
	if err := parsed.Claims(k.Key, &std, &own); err != nil {
		t.Fatal(err)
	}
	c := testClaims()
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      DefaultIssuer,
		Subject:     c.Subject,
		AnyAudience: jwt.Audience{testAudience},
		Time:        e.clock.Now(),
	}, 0)
	if err != nil {
		t.Error(err)
	}
	if own.PrincipalID != c.PrincipalID || own.SessionID != c.SessionID || own.Method != c.Method ||
		!reflect.DeepEqual(own.Groups, c.Groups) || !reflect.DeepEqual(own.Device, c.Device) ||
		own.AuthTime != c.AuthTime.Unix() {
		t.Errorf("claims %+v", own)
	}

	// And go-jose refuses our token once it is tampered with.
	bad := tamperPayload(t, tok, func(m map[string]any) { m["sub"] = "arn:zt:iam::000000000000:user/admin" })
	if p, err := jwt.ParseSigned(bad, []jose.SignatureAlgorithm{jose.ES256}); err == nil {
		if err := p.Claims(k.Key, &std); err == nil {
			t.Error("go-jose accepts a tampered token")
		}
	}
}

// TestWeVerifyGoJose checks our Verify on tokens and keys go-jose made.
func TestWeVerifyGoJose(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "jose-key", Algorithm: "ES256", Use: "sig"}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "jose-key"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   "ztgate",
		Subject:  "arn:zt:iam::000000000000:role/ci",
		Audience: jwt.Audience{"other", testAudience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, jwks, testAudience, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "arn:zt:iam::000000000000:role/ci" || got.Audience != testAudience {
		t.Errorf("got %+v", got)
	}
}

// tamperPayload decodes a token's payload, lets mod change it and puts it
// back without signing again.
func tamperPayload(t *testing.T, tok string, mod func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	mod(m)
	raw, _ = json.Marshal(m)
	parts[1] = b64.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func TestVerifyRefuses(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	jwks := s.JWKS()
	priv := currentKey(s).priv
	kid := s.KeyID()
	good := mustSign(t, s, testClaims())
	parts := strings.Split(good, ".")
	now := e.clock.Now()
	exp := now.Add(DefaultTTL)

	header := func(alg, kid string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"JWT"}`
	}
	claims := func(extra string) string {
		return `{"iss":"ztgate","sub":"arn:zt:iam::000000000000:user/alice","aud":"` + testAudience +
			`","exp":` + itoa(exp.Unix()) + `,"iat":` + itoa(now.Unix()) + extra + `}`
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func() string {
		// The classic confusion: the public key set used as an HMAC
		// secret by a verifier that lets the token choose the alg.
		input := b64.EncodeToString([]byte(header("HS256", kid))) + "." + b64.EncodeToString([]byte(claims("")))
		mac := hmac.New(sha256.New, jwks)
		mac.Write([]byte(input))
		return input + "." + b64.EncodeToString(mac.Sum(nil))
	}
	sigBytes, _ := b64.DecodeString(parts[2])
	flipped := append([]byte(nil), sigBytes...)
	flipped[10] ^= 1

	tests := []struct {
		name  string
		token string
		aud   string
		at    time.Time
		want  error // nil: accepted
	}{
		{"good", good, testAudience, now, nil},
		{"good at exp plus leeway", good, testAudience, exp.Add(Leeway), nil},
		{"raw signed good", signRaw(t, priv, header("ES256", kid), claims("")), testAudience, now, nil},
		{"aud array", signRaw(t, priv, header("ES256", kid), strings.Replace(claims(""), `"aud":"`+testAudience+`"`, `"aud":["x","`+testAudience+`"]`, 1)), testAudience, now, nil},
		{"typ absent", signRaw(t, priv, `{"alg":"ES256","kid":"`+kid+`"}`, claims("")), testAudience, now, nil},

		{"tampered header", b64.EncodeToString([]byte(`{"alg":"ES256","kid":"`+kid+`","typ":"jwt"}`)) + "." + parts[1] + "." + parts[2], testAudience, now, ErrSignature},
		{"tampered payload", tamperPayload(t, good, func(m map[string]any) { m["sub"] = "arn:zt:iam::000000000000:user/admin" }), testAudience, now, ErrSignature},
		{"tampered groups", tamperPayload(t, good, func(m map[string]any) { m["groups"] = []string{"admin"} }), testAudience, now, ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + b64.EncodeToString(flipped), testAudience, now, ErrSignature},
		{"signature swapped", parts[0] + "." + parts[1] + "." + strings.Split(mustSign(t, s, testClaims()), ".")[2], testAudience, now, ErrSignature},
		{"short signature", parts[0] + "." + parts[1] + "." + parts[2][:80], testAudience, now, ErrSignature},
		{"long signature", good + "AAAA", testAudience, now, ErrSignature},
		{"no signature", parts[0] + "." + parts[1] + ".", testAudience, now, ErrSignature},
		{"signature not base64url", parts[0] + "." + parts[1] + "." + parts[2][:85] + "B", testAudience, now, ErrMalformed},

		{"wrong audience", good, "arn:zt:gateway::000000000000:route/other", now, ErrAudience},
		{"empty audience", good, "", now, ErrAudience},
		{"audience prefix", good, testAudience[:len(testAudience)-1], now, ErrAudience},
		{"expired", good, testAudience, exp.Add(Leeway + time.Second), ErrExpired},
		{"issued in the future", good, testAudience, now.Add(-Leeway - time.Second), ErrExpired},
		{"nbf in the future", signRaw(t, priv, header("ES256", kid), claims(`,"nbf":`+itoa(now.Add(time.Minute).Unix()))), testAudience, now, ErrExpired},
		{"nbf within leeway", signRaw(t, priv, header("ES256", kid), claims(`,"nbf":`+itoa(now.Add(Leeway).Unix()))), testAudience, now, nil},

		{"alg none", b64.EncodeToString([]byte(header("none", kid))) + "." + b64.EncodeToString([]byte(claims(""))) + ".", testAudience, now, ErrSignature},
		{"alg None", b64.EncodeToString([]byte(header("None", kid))) + "." + b64.EncodeToString([]byte(claims(""))) + ".", testAudience, now, ErrSignature},
		{"alg HS256", hs256(), testAudience, now, ErrSignature},
		{"alg ES384", signRaw(t, priv, header("ES384", kid), claims("")), testAudience, now, ErrSignature},
		{"alg es256", signRaw(t, priv, header("es256", kid), claims("")), testAudience, now, ErrSignature},
		{"no alg", signRaw(t, priv, `{"kid":"`+kid+`"}`, claims("")), testAudience, now, ErrMalformed},
		{"alg not a string", signRaw(t, priv, `{"alg":["ES256"],"kid":"`+kid+`"}`, claims("")), testAudience, now, ErrMalformed},
		{"unknown kid", signRaw(t, other, header("ES256", "someone-else"), claims("")), testAudience, now, ErrSignature},
		{"our kid, other key", signRaw(t, other, header("ES256", kid), claims("")), testAudience, now, ErrSignature},
		{"no kid", signRaw(t, priv, `{"alg":"ES256","typ":"JWT"}`, claims("")), testAudience, now, ErrSignature},
		{"embedded jwk ignored", signRaw(t, other, `{"alg":"ES256","kid":"x","jwk":{"kty":"EC"}}`, claims("")), testAudience, now, ErrSignature},
		{"crit", signRaw(t, priv, `{"alg":"ES256","kid":"`+kid+`","crit":["b64"],"b64":false}`, claims("")), testAudience, now, ErrMalformed},
		{"typ other", signRaw(t, priv, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt"}`, claims("")), testAudience, now, ErrMalformed},
		{"duplicate alg", signRaw(t, priv, `{"alg":"ES256","alg":"none","kid":"`+kid+`"}`, claims("")), testAudience, now, ErrMalformed},

		{"duplicate sub", signRaw(t, priv, header("ES256", kid), claims(`,"sub":"arn:zt:iam::000000000000:user/admin"`)), testAudience, now, ErrMalformed},
		{"case alias", signRaw(t, priv, header("ES256", kid), `{"iss":"ztgate","SUB":"x","aud":"`+testAudience+`","exp":`+itoa(exp.Unix())+`,"iat":`+itoa(now.Unix())+`}`), testAudience, now, ErrMalformed},
		{"exp a string", signRaw(t, priv, header("ES256", kid), strings.Replace(claims(""), `"exp":`+itoa(exp.Unix()), `"exp":"`+itoa(exp.Unix())+`"`, 1)), testAudience, now, ErrMalformed},
		{"exp negative", signRaw(t, priv, header("ES256", kid), strings.Replace(claims(""), `"exp":`+itoa(exp.Unix()), `"exp":-1`, 1)), testAudience, now, ErrMalformed},
		{"sub null", signRaw(t, priv, header("ES256", kid), strings.Replace(claims(""), `"sub":"arn:zt:iam::000000000000:user/alice"`, `"sub":null`, 1)), testAudience, now, ErrMalformed},
		{"groups not strings", signRaw(t, priv, header("ES256", kid), claims(`,"groups":[1]`)), testAudience, now, ErrMalformed},
		{"device not an object", signRaw(t, priv, header("ES256", kid), claims(`,"device":[]`)), testAudience, now, ErrMalformed},
		{"payload an array", signRaw(t, priv, header("ES256", kid), `[]`), testAudience, now, ErrMalformed},
		{"payload trailing data", signRaw(t, priv, header("ES256", kid), claims("")+`{}`), testAudience, now, ErrMalformed},
		{"payload invalid utf-8", signRaw(t, priv, header("ES256", kid), claims(`,"name":"`+"\xff"+`"`)), testAudience, now, ErrMalformed},

		{"empty", "", testAudience, now, ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], testAudience, now, ErrMalformed},
		{"four parts", good + ".x", testAudience, now, ErrMalformed},
		{"newline", parts[0] + ".\n" + parts[1] + "." + parts[2], testAudience, now, ErrMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], testAudience, now, ErrMalformed},
		{"too long", parts[0] + "." + strings.Repeat("A", MaxTokenLength) + "." + parts[2], testAudience, now, ErrMalformed},
		{"header not json", b64.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], testAudience, now, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(tt.token, jwks, tt.aud, tt.at)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Audience != tt.aud {
					t.Errorf("audience %q", got.Audience)
				}
				return
			}
			if got != nil {
				t.Errorf("claims returned with an error")
			}
			checkVerifyError(t, err, tt.want, tt.token)
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestParseJWKS(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	var set map[string][]map[string]any
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	ours := set["keys"][0]
	key := func(mod func(map[string]any)) map[string]any {
		k := maps.Clone(ours)
		mod(k)
		return k
	}
	with := func(mod func(map[string]any)) []byte {
		b, _ := json.Marshal(map[string]any{"keys": []any{key(mod)}})
		return b
	}
	same := func(map[string]any) {}
	twice, _ := json.Marshal(map[string]any{"keys": []any{key(same), key(same)}})
	tests := []struct {
		name string
		jwks string
		n    int   // keys usable
		want error // nil: parsed
	}{
		{"ours", string(s.JWKS()), 1, nil},
		{"empty set", `{"keys":[]}`, 0, nil},
		{"rsa key skipped", `{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`, 0, nil},
		{"encryption key skipped", string(with(func(k map[string]any) { k["use"] = "enc" })), 0, nil},
		{"other alg skipped", string(with(func(k map[string]any) { k["alg"] = "ES384" })), 0, nil},
		{"no kid skipped", string(with(func(k map[string]any) { delete(k, "kid") })), 0, nil},
		{"not json", `{`, 0, ErrKeySet},
		{"no keys", `{}`, 0, ErrKeySet},
		{"keys not an array", `{"keys":{}}`, 0, ErrKeySet},
		{"private key", string(with(func(k map[string]any) { k["d"] = "AAAA" })), 0, ErrKeySet},
		{"point off the curve", string(with(func(k map[string]any) { k["y"] = k["x"] })), 0, ErrKeySet},
		{"short x", string(with(func(k map[string]any) { k["x"] = "AAAA" })), 0, ErrKeySet},
		{"duplicate kid", string(twice), 0, ErrKeySet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := ParseJWKS([]byte(tt.jwks))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ks.Len() != tt.n {
				t.Errorf("%d keys, want %d", ks.Len(), tt.n)
			}
		})
	}
	// A token is refused when the JWKS is.
	if _, err := Verify(mustSign(t, s, testClaims()), []byte("{"), testAudience, testNow); !errors.Is(err, ErrKeySet) {
		t.Errorf("err = %v, want ErrKeySet", err)
	}
}

func TestDERConversion(t *testing.T) {
	// Round trips through both directions for integers of every length,
	// including those with the high bit set and leading zeros.
	for _, sig := range [][sigSize]byte{
		{},
		func() (s [sigSize]byte) { s[31], s[63] = 1, 1; return }(),
		func() (s [sigSize]byte) {
			for i := range s {
				s[i] = 0xff
			}
			return
		}(),
		func() (s [sigSize]byte) { s[0], s[32] = 0x80, 0x7f; return }(),
		func() (s [sigSize]byte) { s[1], s[33] = 0x80, 0x01; return }(),
	} {
		der := rawToDER(nil, sig[:])
		var back [sigSize]byte
		if !derToRaw(der, &back) || back != sig {
			t.Errorf("%x: round trip gave %x", sig, back)
		}
	}
	for _, bad := range []string{"", "\x30", "\x30\x00", "\x31\x06\x02\x01\x01\x02\x01\x01", "\x30\x06\x02\x01\x81\x02\x01\x01", "\x30\x07\x02\x01\x01\x02\x01\x01\x00", "\x30\x06\x02\x00\x02\x02\x01\x01"} {
		var out [sigSize]byte
		if derToRaw([]byte(bad), &out) {
			t.Errorf("derToRaw accepts %x", bad)
		}
	}
}
