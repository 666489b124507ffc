package webidentity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestParseJWK: which JWKS entries become verification keys.
func TestParseJWK(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	rs := newKey(t, jose.RS256, "rs")
	es := newKey(t, jose.ES256, "es")
	ed := newKey(t, jose.EdDSA, "ed")
	jwkJSON := func(k testKey, edit func(m map[string]any)) string {
		b, err := json.Marshal(k.jwk())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(m)
		}
		b, err = json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	set := func(kv ...any) func(m map[string]any) {
		return func(m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
				} else {
					m[kv[i].(string)] = kv[i+1]
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		jwk  string
		want string // "" for a key, "skip" for errSkip, else part of the error
	}{
		{"rsa", jwkJSON(rs, nil), ""},
		{"ec", jwkJSON(es, nil), ""},
		{"okp", jwkJSON(ed, nil), ""},
		{"no use, no alg", jwkJSON(es, set("use", nil, "alg", nil)), ""},
		{"key_ops verify", jwkJSON(es, set("key_ops", []string{"verify"}, "use", nil)), ""},
		{"padded base64 tolerated", jwkJSON(es, func(m map[string]any) { m["x"] = m["x"].(string) + "=" }), ""},
		{"encryption key", jwkJSON(rs, set("use", "enc")), "skip"},
		{"key_ops encrypt only", jwkJSON(rs, set("key_ops", []string{"encrypt"})), "skip"},
		{"symmetric", `{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}`, "skip"},
		{"symmetric without alg", `{"kty":"oct","k":"c2VjcmV0"}`, "skip"},
		{"unknown kty", `{"kty":"PQC","x":"AA"}`, "skip"},
		{"unsupported curve", jwkJSON(es, set("crv", "secp256k1", "alg", nil)), "skip"},
		{"ed448", `{"kty":"OKP","crv":"Ed448","x":"AA"}`, "skip"},
		{"alg of another kty", jwkJSON(es, set("alg", "RS256")), "does not fit kty"},
		{"alg of another curve", jwkJSON(es, set("alg", "ES384")), "does not fit curve"},
		{"private key", jwkJSON(es, set("d", "AAAA")), "private key"},
		{"rsa 1024", jwkJSON(rs, set("n", enc(new(big.Int).Lsh(big.NewInt(1), 1023).Bytes()))), "1024-bit"},
		{"rsa even exponent", jwkJSON(rs, set("e", enc([]byte{1, 0, 0}))), "bad exponent"},
		{"rsa exponent 1", jwkJSON(rs, set("e", "AQ")), "bad exponent"},
		{"rsa exponent too long", jwkJSON(rs, set("e", enc([]byte{1, 0, 0, 0, 1}))), "bad exponent"},
		{"rsa n not base64", jwkJSON(rs, set("n", "!!")), "not base64url"},
		{"ec point off the curve", jwkJSON(es, set("y", enc(make([]byte, 32)))), "not on curve"},
		{"ec short coordinate", jwkJSON(es, set("x", enc(make([]byte, 31)))), "malformed"},
		{"okp short", jwkJSON(ed, set("x", enc(make([]byte, 31)))), "malformed"},
		{"not an object", `"key"`, "not a json object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parseJWK(json.RawMessage(tc.jwk))
			switch {
			case tc.want == "":
				if err != nil || k == nil {
					t.Fatalf("parseJWK: %v", err)
				}
			case tc.want == "skip":
				if !errors.Is(err, errSkip) {
					t.Fatalf("parseJWK: %v, want errSkip", err)
				}
			case err == nil || errors.Is(err, errSkip) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("parseJWK: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
