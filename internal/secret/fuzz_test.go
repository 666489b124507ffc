package secret

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

// fuzzKEKText is the key FuzzOpen opens with; the corpus in
// testdata/fuzz/FuzzOpen holds values sealed under it and under
// otherFuzzKEKText.
const (
	fuzzKEKText      = "ztgate-kek-v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	otherFuzzKEKText = "ztgate-kek-v1:3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=\n"
)

type sealedCase struct{ plaintext, aad string }

// genuineCases are sealed with seal(k, chacha(i), ...) for their index i,
// which makes the values the same in every run, so the corpus can hold them
// and FuzzOpen can tell a genuine value from a forgery.
var genuineCases = []sealedCase{
	{"", ""},
	{"x", ""},
	{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "access_keys/AKIAEXAMPLE/secret"},
	{string(bytes.Repeat([]byte{0xa5}, 64)), "session"},
	{"ztgate kek check v1", "ztgate kek check"},
}

func mustParseKEK(t testing.TB, text string) *KEK {
	t.Helper()
	k, err := ParseKEK([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzOpen checks that Open never panics, classifies every failure, and
// succeeds only on a value that Seal made.
func FuzzOpen(f *testing.F) {
	k := mustParseKEK(f, fuzzKEKText)
	other := mustParseKEK(f, otherFuzzKEKText)

	type pair struct{ sealed, aad string }
	genuine := map[pair]string{}
	for i, c := range genuineCases {
		sealed, err := seal(k, chacha(byte(i)), []byte(c.plaintext), []byte(c.aad))
		if err != nil {
			f.Fatal(err)
		}
		genuine[pair{string(sealed), c.aad}] = c.plaintext
		f.Add(sealed, []byte(c.aad))
		f.Add(sealed[:len(sealed)-1], []byte(c.aad))
		f.Add(sealed, []byte(c.aad+"x"))
		wrong, err := seal(other, chacha(byte(i)), []byte(c.plaintext), []byte(c.aad))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wrong, []byte(c.aad))
	}

	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		got, err := Open(k, sealed, aad)
		if err != nil {
			if got != nil {
				t.Fatalf("Open returned %d bytes with error %v", len(got), err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		want, ok := genuine[pair{string(sealed), string(aad)}]
		if !ok {
			t.Fatalf("Open accepted a value that Seal did not make: %x (aad %q)", sealed, aad)
		}
		if string(got) != want {
			t.Fatalf("Open = %q, want %q", got, want)
		}
	})
}

// parseErr matches every error parseKEK may return; none has room for the
// text it was given.
var parseErr = regexp.MustCompile(`^malformed key-encryption key: (` +
	`it is empty|` +
	`it is for another version of ztgate \(want prefix "ztgate-kek-v1:"\)|` +
	`it does not start with "ztgate-kek-v1:"|` +
	`it spans more than one line|` +
	`the key is not valid base64 \(standard alphabet, padded\)|` +
	`the key is \d+ bytes, want 32|` +
	`the key is all zero bytes)$`)

// FuzzParseKEK checks that parsing never panics, that its errors never
// quote the input, and that whatever parses is the one key of its encoding.
func FuzzParseKEK(f *testing.F) {
	for _, s := range []string{
		fuzzKEKText,
		otherFuzzKEKText[len("ztgate-kek-v1:"):],
		"",
		"ztgate-kek-v1:",
		"ztgate-kek-v2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"ztgate-kek-v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"ztgate-kek-v1:AAECAwQFBgcICQoLDA0O\nDxAREhMUFRYXGBkaGxwdHh8=",
		"ztgate-kek-v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, bare := range []bool{false, true} {
			k, err := parseKEK([]byte(text), bare)
			if err != nil {
				if !errors.Is(err, ErrMalformedKEK) {
					t.Fatalf("error %q does not match ErrMalformedKEK", err)
				}
				if !parseErr.MatchString(err.Error()) {
					t.Fatalf("unexpected error text %q", err)
				}
				continue
			}
			enc, err := EncodeKEK(k)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseKEK(enc)
			if err != nil {
				t.Fatalf("parsing the encoding of a parsed key: %v", err)
			}
			if !again.Equal(k) || again.ID() != k.ID() {
				t.Fatal("the encoding of a parsed key parses to another key")
			}
			// Strict decoding: the input is this encoding, give or take
			// white space and, where allowed, the prefix.
			body := bytes.TrimSpace(enc)[len(kekPrefix):]
			trimmed := bytes.TrimSpace([]byte(text))
			if !bytes.Equal(trimmed, bytes.TrimSpace(enc)) && !(bare && bytes.Equal(trimmed, body)) {
				t.Fatalf("%q parsed, but the key's encoding is %q", text, enc)
			}
		}
	})
}
