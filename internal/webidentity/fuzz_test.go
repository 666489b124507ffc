package webidentity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var update = flag.Bool("update", false, "regenerate testdata/jwks.json and the FuzzVerify seed corpus")

// The fuzz verifier's issuer. Its keys are the public half of the keys that
// signed the seed corpus, in testdata/jwks.json; the private half is thrown
// away when -update regenerates both.
const (
	fuzzIssuer = "https://token.fuzz.test"
	fuzzJWKS   = fuzzIssuer + "/jwks"
	corpusDir  = "testdata/fuzz/FuzzVerify"
)

// fileTransport answers every request with one file: the fuzz verifier
// fetches its keys without a socket.
type fileTransport struct{ body []byte }

var _ http.RoundTripper = fileTransport{}

func (f fileTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() != fuzzJWKS {
		return &http.Response{StatusCode: http.StatusNotFound, Body: http.NoBody, Request: r}, nil
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(f.body)), Request: r}, nil
}

func fuzzVerifier(tb testing.TB) *Verifier {
	tb.Helper()
	jwks, err := os.ReadFile("testdata/jwks.json")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := New(Config{
		Issuers:    []Issuer{{URL: fuzzIssuer, JWKSURL: fuzzJWKS, Audiences: []string{testAudience}}},
		HTTPClient: &http.Client{Transport: fileTransport{jwks}},
		Clock:      func() time.Time { return testNow },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// FuzzVerify feeds arbitrary tokens to Verify. It must not panic; an error
// must match exactly one sentinel and never contain the token; a success
// must be a token of the configured issuer and audience, valid now.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJFUzI1NiJ9.bnVsbA.AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := v.Verify(context.Background(), token)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error matches %d sentinels: %v", n, err)
			}
			if len(token) >= 8 && strings.Contains(err.Error(), token) {
				t.Fatalf("error contains the token: %v", err)
			}
			return
		}
		if tok.Issuer != fuzzIssuer || !slices.Contains(tok.Audience, testAudience) ||
			testNow.After(tok.Expires.Add(DefaultLeeway)) || tok.IssuedAt.After(testNow.Add(DefaultLeeway)) {
			t.Fatalf("accepted %+v", tok)
		}
	})
}

// corpusVerdicts maps a seed's name prefix to the verdict it must get.
var corpusVerdicts = map[string]error{
	"valid":     nil,
	"malformed": ErrMalformed,
	"signature": ErrSignature,
	"expired":   ErrExpired,
	"audience":  ErrAudience,
	"issuer":    ErrUntrustedIssuer,
}

// TestFuzzCorpus keeps the seed corpus meaningful: each seed gets the
// verdict its name announces, so the fuzzer starts from genuine tokens and
// from each way of failing. With -update it regenerates the keys and seeds.
func TestFuzzCorpus(t *testing.T) {
	if *update {
		writeCorpus(t)
	}
	v := fuzzVerifier(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "*"))
	if err != nil || len(files) < 10 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			want, ok := corpusVerdicts[strings.SplitN(name, "-", 2)[0]]
			if !ok {
				t.Fatalf("seed name %q has no known verdict prefix", name)
			}
			token := readSeed(t, file)
			_, err := v.Verify(context.Background(), token)
			checkErr(t, err, want, token)
		})
	}
}

func readSeed(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "string(") {
		t.Fatalf("%s: not a one-string corpus entry", file)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

// writeCorpus generates fresh keys, publishes their public half in
// testdata/jwks.json and writes the seeds, signed with them.
func writeCorpus(t *testing.T) {
	keys := []testKey{
		newKey(t, jose.ES256, "fuzz-es256"),
		newKey(t, jose.RS256, "fuzz-rs256"),
		newKey(t, jose.EdDSA, "fuzz-eddsa"),
	}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	jwks, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/jwks.json", append(jwks, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	claims := func(kv ...any) map[string]any {
		c := map[string]any{
			"iss": fuzzIssuer, "sub": "repo:ztgate/ztgate:ref:refs/heads/main", "aud": testAudience,
			"exp": testNow.Add(time.Hour).Unix(), "iat": testNow.Add(-time.Minute).Unix(),
			"nbf": testNow.Add(-time.Minute).Unix(), "jti": "fuzz", "amr": []string{"pwd"},
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	es, rs, ed := keys[0], keys[1], keys[2]
	valid := es.sign(t, claims())
	parts := strings.Split(valid, ".")
	seeds := map[string]string{
		"valid-es256":               valid,
		"valid-rs256":               rs.sign(t, claims()),
		"valid-eddsa":               ed.sign(t, claims()),
		"valid-no-kid":              rawES256(t, es, `{"alg":"ES256"}`, claims()),
		"valid-aud-array":           es.sign(t, claims("aud", []string{"x", testAudience})),
		"signature-alg-none":        rawToken(`{"alg":"none"}`, mustJSON(t, claims()), nil),
		"signature-hs256":           rawToken(`{"alg":"HS256","kid":"fuzz-rs256"}`, mustJSON(t, claims()), make([]byte, 32)),
		"signature-unknown-kid":     testKey{kid: "other", alg: jose.ES256, priv: es.priv}.sign(t, claims()),
		"signature-wrong-key-type":  testKey{kid: "fuzz-es256", alg: jose.RS256, priv: rs.priv}.sign(t, claims()),
		"signature-tampered":        parts[0] + "." + parts[1] + "." + flipLast(parts[2]),
		"expired-exp":               es.sign(t, claims("exp", testNow.Add(-time.Hour).Unix())),
		"expired-nbf":               es.sign(t, claims("nbf", testNow.Add(time.Hour).Unix())),
		"audience-other":            es.sign(t, claims("aud", "other")),
		"issuer-untrusted":          es.sign(t, claims("iss", "https://evil.test")),
		"malformed-missing-sub":     es.sign(t, claims("sub", nil)),
		"malformed-duplicate-iss":   rawES256(t, es, `{"alg":"ES256","kid":"fuzz-es256"}`, json.RawMessage(dupClaims(t, claims(), `"iss":"https://evil.test"`))),
		"malformed-crit":            rawES256(t, es, `{"alg":"ES256","kid":"fuzz-es256","crit":["b64"],"b64":false}`, claims()),
		"malformed-exp-string":      es.sign(t, claims("exp", "4102444800")),
		"malformed-two-parts":       parts[0] + "." + parts[1],
		"malformed-not-base64":      parts[0] + ".!" + parts[1] + "." + parts[2],
		"malformed-nested-payload":  rawES256(t, es, `{"alg":"ES256","kid":"fuzz-es256"}`, json.RawMessage(`{"a":[[[[{"b":null}]]]],"iss":1}`)),
		"malformed-header-trailing": rawES256(t, es, `{"alg":"ES256"} {}`, claims()),
	}
	if err := os.RemoveAll(corpusDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, tok := range seeds {
		body := "go test fuzz v1\nstring(" + strconv.Quote(tok) + ")\n"
		if err := os.WriteFile(filepath.Join(corpusDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
