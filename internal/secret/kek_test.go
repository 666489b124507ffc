package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

// testKEK returns a KEK that depends only on seed, with its raw bytes.
func testKEK(t testing.TB, seed byte) (*KEK, []byte) {
	t.Helper()
	var s [32]byte
	s[0] = seed
	k, err := GenerateKEK(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return k, bytes.Clone(k.s.key[:])
}

// leaks lists the ways the key could appear in text.
func leaks(key []byte) []string {
	return []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key[:12]),
		base64.URLEncoding.EncodeToString(key),
		hex.EncodeToString(key[:8]),
		strings.ToUpper(hex.EncodeToString(key[:8])),
		string(key),
		strings.Trim(fmt.Sprint(key[:8]), "[]"),
		strings.Trim(fmt.Sprintf("%#v", key[:8]), "[]byte{}"),
	}
}

func assertNoLeak(t *testing.T, what, out string, key []byte) {
	t.Helper()
	for _, l := range leaks(key) {
		if strings.Contains(out, l) {
			t.Errorf("%s reveals the key (%q) in %q", what, l, out)
		}
	}
}

func TestGenerateKEK(t *testing.T) {
	k1, err := GenerateKEK(strings.NewReader(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GenerateKEK(strings.NewReader(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) || k1.ID() != k2.ID() {
		t.Error("the same random bytes gave different keys")
	}
	k3, _ := testKEK(t, 1)
	if k1.Equal(k3) || k1.ID() == k3.ID() {
		t.Error("different random bytes gave equal keys or ids")
	}
	if got := k1.ID(); len(got) != 16 {
		t.Errorf("ID() = %q, want 16 hex digits", got)
	}

	for _, tt := range []struct {
		name string
		r    *strings.Reader
	}{
		{"short", strings.NewReader("abc")},
		{"zeros", strings.NewReader(strings.Repeat("\x00", 32))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := GenerateKEK(tt.r); err == nil {
				t.Errorf("GenerateKEK = %v, want error", k)
			}
		})
	}
	if _, err := GenerateKEK(nil); err == nil {
		t.Error("GenerateKEK(nil) succeeded")
	}
}

func TestKEKEqual(t *testing.T) {
	a, _ := testKEK(t, 1)
	a2, _ := testKEK(t, 1)
	b, _ := testKEK(t, 2)
	for _, tt := range []struct {
		name string
		x, y *KEK
		want bool
	}{
		{"same", a, a, true},
		{"equal", a, a2, true},
		{"different", a, b, false},
		{"nil", nil, nil, true},
		{"nil and key", nil, a, false},
		{"key and nil", a, nil, false},
		{"zero and nil", &KEK{}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Equal(tt.y); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseKEK(t *testing.T) {
	k, key := testKEK(t, 1)
	b64 := base64.StdEncoding.EncodeToString(key)
	enc, err := EncodeKEK(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ztgate-kek-v1:" + b64 + "\n"; string(enc) != want {
		t.Fatalf("EncodeKEK = %q, want %q", enc, want)
	}

	for _, tt := range []struct {
		name    string
		text    string
		bare    bool   // parse as ZTGATE_KEK does
		wantErr string // empty for success
	}{
		{name: "encoded", text: string(enc)},
		{name: "no newline", text: "ztgate-kek-v1:" + b64},
		{name: "crlf and spaces", text: "  ztgate-kek-v1:" + b64 + "\r\n"},
		{name: "bare allowed", text: b64 + "\n", bare: true},
		{name: "prefixed where bare allowed", text: string(enc), bare: true},
		{name: "empty", text: "", wantErr: "malformed key-encryption key: it is empty"},
		{name: "blank", text: " \n", bare: true, wantErr: "malformed key-encryption key: it is empty"},
		{name: "bare not allowed", text: b64, wantErr: `malformed key-encryption key: it does not start with "ztgate-kek-v1:"`},
		{name: "wrong prefix", text: "ztgate-key-v1:" + b64, wantErr: `malformed key-encryption key: it does not start with "ztgate-kek-v1:"`},
		{name: "wrong prefix bare allowed", text: "kek:" + b64, bare: true, wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "other version", text: "ztgate-kek-v2:" + b64, wantErr: `malformed key-encryption key: it is for another version of ztgate (want prefix "ztgate-kek-v1:")`},
		{name: "other version bare allowed", text: "ztgate-kek-v2:" + b64, bare: true, wantErr: `malformed key-encryption key: it is for another version of ztgate (want prefix "ztgate-kek-v1:")`},
		{name: "bad character", text: "ztgate-kek-v1:" + b64[:10] + "!" + b64[11:], wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "url alphabet", text: "ztgate-kek-v1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "unpadded", text: "ztgate-kek-v1:" + strings.TrimRight(b64, "="), wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "non-canonical padding bits", text: "ztgate-kek-v1:" + b64[:42] + flipLowBits(b64[42]) + "=", wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "space inside", text: "ztgate-kek-v1:" + b64[:20] + " " + b64[20:], wantErr: "malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "two lines", text: "ztgate-kek-v1:" + b64[:20] + "\n" + b64[20:], wantErr: "malformed key-encryption key: it spans more than one line"},
		{name: "short", text: "ztgate-kek-v1:" + base64.StdEncoding.EncodeToString(key[:16]), wantErr: "malformed key-encryption key: the key is 16 bytes, want 32"},
		{name: "long", text: "ztgate-kek-v1:" + base64.StdEncoding.EncodeToString(append(key, key[:16]...)), wantErr: "malformed key-encryption key: the key is 48 bytes, want 32"},
		{name: "empty key", text: "ztgate-kek-v1:", wantErr: "malformed key-encryption key: the key is 0 bytes, want 32"},
		{name: "short bare", text: base64.StdEncoding.EncodeToString(key[:31]), bare: true, wantErr: "malformed key-encryption key: the key is 31 bytes, want 32"},
		{name: "zero key", text: "ztgate-kek-v1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), wantErr: "malformed key-encryption key: the key is all zero bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKEK([]byte(tt.text), tt.bare)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(k) {
					t.Error("parsed key differs from the encoded one")
				}
				return
			}
			if err == nil {
				t.Fatalf("parse succeeded, want %q", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrMalformedKEK) {
				t.Errorf("error %q does not match ErrMalformedKEK", err)
			}
			assertNoLeak(t, "error", err.Error(), key)
		})
	}
}

// flipLowBits changes the two bits of a base64 digit that padding discards.
func flipLowBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestKEKRedacted(t *testing.T) {
	k, key := testKEK(t, 1)
	want := "[redacted kek " + k.ID() + "]"

	type holder struct {
		Exported   *KEK
		unexported *KEK
	}
	type valueHolder struct {
		Exported   KEK
		unexported KEK
	}
	values := map[string]any{
		"pointer":        k,
		"value":          *k,
		"struct":         holder{k, k},
		"struct pointer": &holder{k, k},
		"slice":          []*KEK{k},
		"map":            map[string]*KEK{"k": k},
		"interface":      []any{k},
		"value struct":   valueHolder{*k, *k},
		"value pointer":  &valueHolder{*k, *k},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3v", "% x"}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			assertNoLeak(t, name+" "+verb, out, key)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if got := fmt.Sprintf(verb, k); got != want {
			t.Errorf("Sprintf(%q, k) = %q, want %q", verb, got, want)
		}
	}
	if got := k.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := k.GoString(); got != want {
		t.Errorf("GoString() = %q, want %q", got, want)
	}
	if got := fmt.Sprint((*KEK)(nil)); got != "[no kek]" {
		t.Errorf("Sprint(nil KEK) = %q, want %q", got, "[no kek]")
	}

	j, err := json.Marshal(holder{Exported: k})
	if err != nil {
		t.Fatal(err)
	}
	assertNoLeak(t, "json", string(j), key)

	for _, tt := range []struct {
		name string
		h    func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		t.Run("slog "+tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(tt.h(&buf))
			log.Info("loaded", "kek", k)
			log.Info("loaded", slog.Any("kek", k))
			log.Info("loaded", slog.Group("keys", "kek", k))
			log.With("kek", k).Info("loaded", "holder", holder{k, k})
			log.Info("loaded", "nil", (*KEK)(nil))
			out := buf.String()
			assertNoLeak(t, "slog", out, key)
			if n := strings.Count(out, want); n < 4 {
				t.Errorf("log shows %q %d times, want at least 4:\n%s", want, n, out)
			}
			if !strings.Contains(out, "[no kek]") {
				t.Errorf("log does not show a nil KEK as [no kek]:\n%s", out)
			}
		})
	}
}
