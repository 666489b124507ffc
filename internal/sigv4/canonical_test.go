package sigv4

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// refAppendTrimmed is appendTrimmed as first written, a byte at a time:
// the reference the run-copying version is held to.
func refAppendTrimmed(dst []byte, v string) []byte {
	space := false
	wrote := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && wrote {
			dst = append(dst, ' ')
		}
		space = false
		wrote = true
		dst = append(dst, c)
	}
	return dst
}

var trimmedSeeds = []string{
	"", " ", "\t\r\n ", "a", " a ", "a  b", "a \t\r\n b", "  application/x-www-form-urlencoded; charset=utf-8  ",
	"a b c", "\na", "a\n", "a\x00b", "é  ü", "a\v\fb", "x-amz-date:20260101T000000Z",
}

func TestAppendTrimmed(t *testing.T) {
	for _, v := range trimmedSeeds {
		if got, want := appendTrimmed([]byte("p:"), v), refAppendTrimmed([]byte("p:"), v); !bytes.Equal(got, want) {
			t.Errorf("appendTrimmed(%q) = %q, want %q", v, got, want)
		}
	}
}

func FuzzAppendTrimmed(f *testing.F) {
	for _, v := range trimmedSeeds {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := appendTrimmed(nil, v), refAppendTrimmed(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("appendTrimmed(%q) = %q, want %q", v, got, want)
		}
	})
}

// TestKnownHeaderKey: the shortcut names the key headerValues would have
// built, which is also net/http's canonical form.
func TestKnownHeaderKey(t *testing.T) {
	for _, name := range []string{
		"content-type", "content-length", "content-md5", "content-encoding", "date", "x-amz-date",
		"x-amz-content-sha256", "x-amz-security-token", "x-amz-decoded-content-length", "x-amz-region-set",
		"x-amz-target", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request",
	} {
		k := knownHeaderKey(name)
		if k == "" || k != textproto.CanonicalMIMEHeaderKey(name) {
			t.Errorf("knownHeaderKey(%q) = %q, want %q", name, k, textproto.CanonicalMIMEHeaderKey(name))
		}
		// Found under its canonical key, under another spelling, and not at all.
		for _, key := range []string{k, strings.ToUpper(name), name} {
			if vs := headerValues(http.Header{key: {"v"}}, name); !slices.Equal(vs, []string{"v"}) {
				t.Errorf("headerValues(%q) under key %q = %q", name, key, vs)
			}
		}
		if vs := headerValues(http.Header{"Other": {"v"}}, name); vs != nil {
			t.Errorf("headerValues(%q) found %q", name, vs)
		}
	}
	for _, name := range []string{"Content-Type", "host", "x-amz-meta-a", ""} {
		if k := knownHeaderKey(name); k != "" {
			t.Errorf("knownHeaderKey(%q) = %q, want none", name, k)
		}
	}
}

// TestHeaderValuesAnySpelling: keys that only Unicode case folding ties to
// the name (here with KELVIN SIGN for k and LONG S for s, longer in bytes
// than what they fold to) are still found, as strings.EqualFold finds
// them; the length shortcut skips only keys too short to match.
func TestHeaderValuesAnySpelling(t *testing.T) {
	for _, key := range []string{
		"x-amz-security-to\u212aen", "x-amz-\u017fecurity-token", "X-AMZ-SECURITY-TOKEN", "x-Amz-Security-token",
	} {
		h := http.Header{"Content-Type": {"a"}, key: {"tok"}, "Z": {"z"}}
		if vs := headerValues(h, "x-amz-security-token"); !slices.Equal(vs, []string{"tok"}) {
			t.Errorf("key %q: got %q", key, vs)
		}
	}
	h := http.Header{"X-Amz-Security-Toke": {"short"}, "X-Amz-Security-Tokens": {"long"}}
	if vs := headerValues(h, "x-amz-security-token"); vs != nil {
		t.Errorf("matched a different name: %q", vs)
	}
	// A non-ASCII name takes no shortcut.
	h = http.Header{"\u212a": {"kelvin"}}
	if vs := headerValues(h, "k"); !slices.Equal(vs, []string{"kelvin"}) {
		t.Errorf("k: %q", vs)
	}
	if vs := headerValues(http.Header{"K": {"k"}}, "\u212a"); !slices.Equal(vs, []string{"k"}) {
		t.Errorf("kelvin: %q", vs)
	}
}

func checkDecodeHex32(t *testing.T, s string) {
	t.Helper()
	want, err := hex.DecodeString(s)
	var got [32]byte
	ok := decodeHex32(&got, s)
	if wantOK := err == nil && len(want) == 32; ok != wantOK || ok && !bytes.Equal(got[:], want) {
		t.Fatalf("decodeHex32(%q) = %x, %v; hex: %x, %v", s, got, ok, want, err)
	}
}

// TestDecodeHex32 tries every byte in every position of a signature.
func TestDecodeHex32(t *testing.T) {
	good := "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	for _, s := range []string{good, strings.ToUpper(good), "", good[:63], good + "0", strings.Repeat("0", 64),
		strings.Repeat("f", 64), strings.Repeat("F", 64), "0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdefABCD"} {
		checkDecodeHex32(t, s)
	}
	for i := range good {
		for c := 0; c < 256; c++ {
			b := []byte(good)
			b[i] = byte(c)
			checkDecodeHex32(t, string(b))
		}
	}
}

func FuzzDecodeHex32(f *testing.F) {
	f.Add("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	f.Add("5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF3G")
	f.Fuzz(checkDecodeHex32)
}

// TestAppendHex32 holds the table encoder to encoding/hex.
func TestAppendHex32(t *testing.T) {
	var b [32]byte
	for c := 0; c < 256; c += 32 {
		for i := range b {
			b[i] = byte(c + i)
		}
		if got, want := appendHex32([]byte("x"), &b), "x"+hex.EncodeToString(b[:]); string(got) != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

// TestSignedHeadersResult: Result.SignedHeaders is strings.Split's answer
// for any number of names, and appending to it never writes into storage
// it shares; the canonical request lists the names as a loop over
// strings.Cut does, which drops a trailing empty one.
func TestSignedHeadersResult(t *testing.T) {
	for _, s := range []string{"host", "a;b", "a;;b", ";", ";a", "a;", "a;;", "a;b;c;d", "a;b;c;d;e", "1;2;3;4;5;6;7;8", "1;2;3;4;5;6;7;8;", "1;2;3;4;5;6;7;8;9", strings.Repeat("h;", 30) + "h"} {
		var q request
		q.auth.signedHeaders = s
		q.splitSignedHeaders()
		want := strings.Split(s, ";")
		if got := newResult(&q).SignedHeaders; !slices.Equal(got, want) || cap(got) != len(got) {
			t.Errorf("%q: SignedHeaders %q (cap %d), want %q", s, got, cap(got), want)
		}
		var cut []string
		for rest := s; rest != ""; {
			var n string
			n, rest, _ = strings.Cut(rest, ";")
			cut = append(cut, n)
		}
		if got := q.canonicalNames(); !slices.Equal(got, cut) {
			t.Errorf("%q: canonical names %q, want %q", s, got, cut)
		}
	}
	// With more names than a Result carries room for.
	r, body := stsRequest()
	var signed []string
	for i := range 10 {
		k := "x-amz-meta-" + string(rune('a'+i))
		r.Header.Set(k, "v")
		signed = append(signed, k)
	}
	signed = append(signed, "content-type", "host", "x-amz-date")
	slices.Sort(signed)
	sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, strings.Join(signed, ";"))
	res, err := testVerifier(testTime).Verify(r, body)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.SignedHeaders, signed) {
		t.Errorf("SignedHeaders %q, want %q", res.SignedHeaders, signed)
	}
}

// TestHostFoldLengths backs appendCanonicalHeaders' shortcut: every
// spelling that strings.EqualFold ties to "host" is four or five bytes
// long, and each is still taken for the host header.
func TestHostFoldLengths(t *testing.T) {
	minLen, maxLen := 0, 0
	for _, c := range "host" {
		lo, hi := utf8.RuneLen(c), utf8.RuneLen(c)
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			lo, hi = min(lo, utf8.RuneLen(f)), max(hi, utf8.RuneLen(f))
		}
		minLen, maxLen = minLen+lo, maxLen+hi
	}
	if minLen != 4 || maxLen != 5 {
		t.Fatalf("spellings of host are %d to %d bytes long, want 4 to 5", minLen, maxLen)
	}
	for _, name := range []string{"host", "HOST", "Host", "ho\u017ft", "HO\u017fT"} {
		r := &http.Request{Host: "h.example", Header: http.Header{}}
		got, hostSigned := appendCanonicalHeaders(nil, r, []string{name}, &knownValues{})
		if !hostSigned || string(got) != name+":h.example\n" {
			t.Errorf("%q: %q, host signed %v", name, got, hostSigned)
		}
	}
}
