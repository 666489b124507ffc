package webidentity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/ztgate/ztgate/internal/testkit"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testNow is the fake clock's start: tokens are issued relative to it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testAudience = "sts.ztgate.test"

// fakeClock is a clock tests move by hand.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock(testNow) }

// testKey is a signing key and how it is published.
type testKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	priv   crypto.Signer
	jwkAlg string // "alg" in the JWK; the signing alg when empty, none when "-"
}

// RSA key generation is slow (more so under -race): one key per size.
var rsaKeys sync.Map // bits → *rsa.PrivateKey

func rsaKey(tb testing.TB, bits int) *rsa.PrivateKey {
	if k, ok := rsaKeys.Load(bits); ok {
		return k.(*rsa.PrivateKey)
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	k2, _ := rsaKeys.LoadOrStore(bits, k)
	return k2.(*rsa.PrivateKey)
}

func newKey(tb testing.TB, alg jose.SignatureAlgorithm, kid string) testKey {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv = rsaKey(tb, 2048)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return testKey{kid: kid, alg: alg, priv: priv}
}

func (k testKey) jwk() jose.JSONWebKey {
	alg := k.jwkAlg
	switch alg {
	case "":
		alg = string(k.alg)
	case "-":
		alg = ""
	}
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: alg, Use: "sig"}
}

// sign signs claims with go-jose: an implementation independent of ours.
func (k testKey) sign(tb testing.TB, claims any) string {
	tb.Helper()
	key := jose.JSONWebKey{Key: k.priv, KeyID: k.kid}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// rawToken assembles a compact JWS from parts, for tokens no honest
// library would make.
func rawToken(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// fakeIdP serves a discovery document and a JWKS on loopback, counting
// requests; tests change its keys, break it, or hold its responses.
type fakeIdP struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	issuer   string // "issuer" in discovery; URL unless set
	down     bool
	jwksBody []byte        // served instead of keys when set
	gate     chan struct{} // when set, JWKS responses wait for it to close

	discoveries, fetches atomic.Int32
}

func newIdP(tb testing.TB, keys ...testKey) *fakeIdP {
	p := &fakeIdP{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveries.Add(1)
		p.mu.Lock()
		down, iss := p.down, p.issuer
		p.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if iss == "" {
			iss = p.URL
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss,
			"jwks_uri":                              p.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		down, gate, body := p.down, p.gate, p.jwksBody
		set := jose.JSONWebKeySet{Keys: p.keys}
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(set); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	})
	p.srv = httptest.NewServer(mux)
	tb.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.setKeys(keys...)
	return p
}

func (p *fakeIdP) setKeys(keys ...testKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range keys {
		p.keys = append(p.keys, k.jwk())
	}
}

func (p *fakeIdP) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// claims are a valid token's claims from this IdP.
func (p *fakeIdP) claims() map[string]any {
	return map[string]any{
		"iss": p.URL,
		"sub": "system:serviceaccount:ci:deployer",
		"aud": []string{testAudience},
		"exp": testNow.Add(10 * time.Minute).Unix(),
		"iat": testNow.Add(-time.Minute).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
		"jti": "3f1c9a",
		"azp": "ci",
		"amr": []string{"pwd", "mfa"},
	}
}

// syncBuffer is a log destination safe for concurrent fetches.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newVerifier returns a Verifier trusting idp for testAudience, on clock,
// and the buffer its log goes to.
func newVerifier(tb testing.TB, clock *fakeClock, idps ...*fakeIdP) (*Verifier, *syncBuffer) {
	tb.Helper()
	var issuers []Issuer
	for _, p := range idps {
		issuers = append(issuers, Issuer{URL: p.URL, Audiences: []string{testAudience, "other"}})
	}
	logs := &syncBuffer{}
	v, err := New(Config{
		Issuers: issuers,
		Clock:   clock.Now,
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v, logs
}

var sentinels = []error{ErrMalformed, ErrUntrustedIssuer, ErrSignature, ErrExpired, ErrAudience, ErrProvider}

// checkErr fails unless err matches want and no other sentinel, and does
// not contain the token (nor its signature or payload segment).
func checkErr(tb testing.TB, err, want error, token string) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("Verify: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		tb.Fatalf("Verify error %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			tb.Errorf("error %v also matches %v", err, s)
		}
	}
	checkNoToken(tb, err.Error(), token)
}

// checkNoToken fails if text contains the token or one of its segments.
func checkNoToken(tb testing.TB, text, token string) {
	tb.Helper()
	if token == "" {
		return
	}
	if strings.Contains(text, token) {
		tb.Fatalf("text contains the token: %s", text)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 16 && strings.Contains(text, seg) {
			tb.Fatalf("text contains a token segment: %s", text)
		}
	}
}
