package assertion

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "regenerate testdata/jwks.json and the FuzzVerify seed corpus")

// The fuzz target's key set is the public half of the key that signed the
// seed corpus, in testdata/jwks.json; the private half is thrown away when
// -update regenerates both. The seeds were signed at fuzzNow.
const (
	corpusDir = "testdata/fuzz/FuzzVerify"
	jwksFile  = "testdata/jwks.json"
)

var fuzzNow = testNow

// TestUpdateCorpus regenerates the seed corpus with -update.
func TestUpdateCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the seed corpus")
	}
	e := newEnv(t)
	e.clock.Set(fuzzNow)
	s := e.signer(t)
	priv, kid := currentKey(s).priv, s.KeyID()
	full := testClaims()
	minimal := Claims{Subject: "arn:zt:iam::000000000000:role/ci", Audience: testAudience}
	expired := minimal
	expired.IssuedAt, expired.Expires = fuzzNow.Add(-time.Hour), fuzzNow.Add(-56*time.Minute)
	other := minimal
	other.Audience = "arn:zt:gateway::000000000000:route/other"
	escaped := full
	escaped.Name = "Zoë \"Z\" \\ \u2028 \x01"
	header := `{"alg":"ES256","kid":"` + kid + `","typ":"JWT"}`
	payload := `{"iss":"ztgate","sub":"s","aud":["x","` + testAudience + `"],"exp":` +
		strconv.FormatInt(fuzzNow.Add(time.Minute).Unix(), 10) + `,"iat":` + strconv.FormatInt(fuzzNow.Unix(), 10) + `,"nbf":1.5}`
	seeds := map[string]string{
		"full":      mustSign(t, s, full),
		"minimal":   mustSign(t, s, minimal),
		"expired":   mustSign(t, s, expired),
		"other-aud": mustSign(t, s, other),
		"escaped":   mustSign(t, s, escaped),
		"aud-array": signRaw(t, priv, header, payload),
		"alg-none":  b64.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + b64.EncodeToString([]byte(payload)) + ".",
		"junk":      "a.b.c",
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
	if err := os.WriteFile(jwksFile, append(s.JWKS(), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify feeds arbitrary tokens to KeySet.Verify. It must not panic;
// an error must match exactly one sentinel and never contain the token; a
// success must be addressed to the audience and valid at fuzzNow.
func FuzzVerify(f *testing.F) {
	jwks, err := os.ReadFile(jwksFile)
	if err != nil {
		f.Fatal(err)
	}
	ks, err := ParseJWKS(bytes.TrimSpace(jwks))
	if err != nil || ks.Len() != 1 {
		f.Fatalf("testdata key set: %v, %d keys", err, ks.Len())
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJFUzI1NiJ9.bnVsbA.AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ks.Verify(token, testAudience, fuzzNow)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error matches %d sentinels: %v", n, err)
			}
			if len(token) > 16 && strings.Contains(err.Error(), token) {
				t.Fatalf("error quotes the token: %v", err)
			}
			return
		}
		if c.Audience != testAudience || c.Subject == "" || c.Issuer == "" {
			t.Fatalf("accepted %+v", c)
		}
		if fuzzNow.After(c.Expires.Add(Leeway)) || c.IssuedAt.After(fuzzNow.Add(Leeway)) {
			t.Fatalf("accepted outside its validity: %+v", c)
		}
	})
}

// FuzzClaims feeds arbitrary payloads to the claims parser, which Verify
// reaches only for validly signed tokens, so FuzzVerify rarely does.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"ztgate","sub":"s","aud":"a","exp":1,"iat":0}`))
	f.Add([]byte(`{"iss":"i","sub":"s","aud":["a","b"],"exp":1.5,"iat":0,"nbf":0,"groups":["g"],"device":{"x":[1,{"y":null}]}}`))
	f.Add([]byte(`{"sub":"\u00e9\ud800","sub":"x"}`))
	f.Add([]byte(` { } `))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			if c != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("c %v, err %v", c, err)
			}
			return
		}
		if c.Issuer == "" || c.Subject == "" || len(c.aud) == 0 {
			t.Fatalf("accepted without a required claim: %+v", c)
		}
		if !json.Valid(payload) {
			t.Fatal("accepted invalid json")
		}
	})
}

// FuzzAppendString checks the claims writer against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f\x7f", "\b\f\n\r\t", "é\u2028\u2029", "\xff\xfe", "<&>", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got, want.Bytes())
		}
	})
}

// FuzzRoundTrip signs arbitrary claim values and verifies them back.
func FuzzRoundTrip(f *testing.F) {
	e := newEnv(f)
	s := e.signer(f)
	ks, err := ParseJWKS(s.JWKS())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("arn:zt:iam::000000000000:user/alice", "Alice", "eng", "id")
	f.Add("\xff", "\u2028", "\"", "")
	f.Fuzz(func(t *testing.T, sub, name, group, device string) {
		in := Claims{Subject: sub, Audience: testAudience, Name: name, Groups: []string{group}}
		if device != "" {
			in.Device = map[string]any{device: name}
		}
		tok, err := s.Sign(in)
		if sub == "" {
			if !errors.Is(err, ErrClaims) {
				t.Fatalf("Sign without subject: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := ks.Verify(tok, testAudience, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// What arrives is what encoding/json makes of the values.
		var want struct {
			Sub, Name string
			Groups    []string
			Device    map[string]any
		}
		raw, _ := json.Marshal(map[string]any{"Sub": sub, "Name": name, "Groups": in.Groups, "Device": in.Device})
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if got.Subject != want.Sub || got.Name != want.Name || !reflect.DeepEqual(got.Groups, want.Groups) ||
			len(got.Device) != len(want.Device) || len(want.Device) > 0 && !reflect.DeepEqual(got.Device, want.Device) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}

// TestCorpusVerdicts pins what the seed corpus holds, so that -update
// keeps producing the cases FuzzVerify starts from.
func TestCorpusVerdicts(t *testing.T) {
	jwks, err := os.ReadFile(jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{
		"full": nil, "minimal": nil, "escaped": nil, "aud-array": nil,
		"expired": ErrExpired, "other-aud": ErrAudience, "alg-none": ErrSignature, "junk": ErrMalformed,
	}
	for name, verdict := range want {
		body, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSpace(strings.SplitN(string(body), "\n", 2)[1])
		tok, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = Verify(tok, jwks, testAudience, fuzzNow)
		if verdict == nil && err != nil || verdict != nil && !errors.Is(err, verdict) {
			t.Errorf("%s: err = %v, want %v", name, err, verdict)
		}
	}
}
