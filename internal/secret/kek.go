package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

const (
	// EnvKEK names the environment variable that, when set and not empty,
	// supplies the key-encryption key in place of the key file.
	EnvKEK = "ZTGATE_KEK"

	// KEKSize is the length of a key-encryption key in bytes.
	KEKSize = 32

	kekPrefix = "ztgate-kek-v1:"
	// kekFamily is what every version's prefix starts with, so that a key
	// written by a later ztgate is reported as such and not as garbage.
	kekFamily = "ztgate-kek-"

	idSize  = 8
	idLabel = "ztgate kek id"
)

// ErrMalformedKEK classifies a key-encryption key whose text encoding is
// wrong. Its messages say what is wrong and never quote the text.
var ErrMalformedKEK = errors.New("malformed key-encryption key")

var errNilKEK = errors.New("no key-encryption key (nil)")

// kekEncoding is strict so that each key has exactly one text encoding.
var kekEncoding = base64.StdEncoding.Strict()

// KEK is a key-encryption key. Its zero value holds no key and is rejected
// wherever a key is needed.
//
// The key bytes sit two pointers away from KEK, in unexported fields: fmt
// prints a pointer that it reaches through an unexported field as an
// address, or, for verbs invalid for pointers such as %s, dereferences it
// once; two pointers keep the bytes out of reach of both, and of
// encoding/json. The blank func field makes KEK values incomparable:
// compare keys with [KEK.Equal], which takes constant time.
type KEK struct {
	_ [0]func()
	s *kekState
}

type kekState struct {
	key   *[KEKSize]byte
	id    string // hex of rawID
	rawID [idSize]byte
	aead  cipher.AEAD // AES-256-GCM under key, for wrapping data keys
}

var (
	_ fmt.Stringer   = (*KEK)(nil)
	_ fmt.GoStringer = (*KEK)(nil)
	_ fmt.Formatter  = (*KEK)(nil)
	_ slog.LogValuer = (*KEK)(nil)
)

// GenerateKEK draws a new key-encryption key from rand, which is normally
// crypto/rand.Reader.
func GenerateKEK(rand io.Reader) (*KEK, error) {
	if rand == nil {
		return nil, errors.New("generate key-encryption key: nil random source")
	}
	var key [KEKSize]byte
	defer clear(key[:])
	if _, err := io.ReadFull(rand, key[:]); err != nil {
		return nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	if isZero(key[:]) {
		return nil, errors.New("generate key-encryption key: random source returned only zero bytes")
	}
	return newKEK(&key)
}

// newKEK copies key into a new KEK and derives its id and cipher.
func newKEK(key *[KEKSize]byte) (*KEK, error) {
	s := &kekState{key: new([KEKSize]byte)}
	*s.key = *key
	mac := hmac.New(sha256.New, s.key[:])
	mac.Write([]byte(idLabel))
	copy(s.rawID[:], mac.Sum(nil))
	s.id = hex.EncodeToString(s.rawID[:])
	block, err := aes.NewCipher(s.key[:])
	if err != nil {
		return nil, err
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return &KEK{s: s}, nil
}

func (k *KEK) valid() bool { return k != nil && k.s != nil }

// ID returns the key's public identifier: 16 hex digits derived from the key
// by HMAC, safe to log and to show in errors. It is empty for a KEK that
// holds no key.
func (k *KEK) ID() string {
	if !k.valid() {
		return ""
	}
	return k.s.id
}

// Equal reports whether k and other hold the same key, in constant time.
// Two KEKs that hold no key are equal.
func (k *KEK) Equal(other *KEK) bool {
	if !k.valid() || !other.valid() {
		return k.valid() == other.valid()
	}
	return subtle.ConstantTimeCompare(k.s.key[:], other.s.key[:]) == 1
}

// String returns "[redacted kek <id>]".
func (k *KEK) String() string {
	if !k.valid() {
		return "[no kek]"
	}
	return "[redacted kek " + k.s.id + "]"
}

// GoString returns the same as String, so %#v cannot reveal the key.
func (k *KEK) GoString() string { return k.String() }

// Format writes the same as String whatever the verb and flags, so that no
// verb (%x included) can reveal the key.
func (k *KEK) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue makes log/slog print the same as String.
func (k *KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// EncodeKEK returns k's text encoding: "ztgate-kek-v1:", the base64 of the
// key and a newline. The result reveals the key; write it only where the
// key belongs, and clear it after use.
func EncodeKEK(k *KEK) ([]byte, error) {
	if !k.valid() {
		return nil, errNilKEK
	}
	b := make([]byte, 0, len(kekPrefix)+kekEncoding.EncodedLen(KEKSize)+1)
	b = append(b, kekPrefix...)
	b = kekEncoding.AppendEncode(b, k.s.key[:])
	return append(b, '\n'), nil
}

// ParseKEK decodes the text encoding written by [EncodeKEK]. Surrounding
// white space is ignored. Errors wrap [ErrMalformedKEK] and never contain
// the text.
func ParseKEK(text []byte) (*KEK, error) {
	return parseKEK(text, false)
}

// parseKEK decodes a KEK from text; with bare set it also accepts the base64
// of the key without the prefix, as ZTGATE_KEK does.
func parseKEK(text []byte, bare bool) (*KEK, error) {
	text = bytes.TrimSpace(text)
	var body []byte
	switch {
	case len(text) == 0:
		return nil, malformed("it is empty")
	case bytes.HasPrefix(text, []byte(kekPrefix)):
		body = text[len(kekPrefix):]
	case bytes.HasPrefix(text, []byte(kekFamily)):
		return nil, malformed("it is for another version of ztgate (want prefix %q)", kekPrefix)
	case bare:
		body = text
	default:
		return nil, malformed("it does not start with %q", kekPrefix)
	}
	// The decoder skips line breaks; a key that spans lines is not one that
	// ztgate wrote, so refuse it rather than guess.
	if bytes.ContainsAny(body, "\r\n") {
		return nil, malformed("it spans more than one line")
	}
	buf := make([]byte, kekEncoding.DecodedLen(len(body)))
	defer clear(buf)
	n, err := kekEncoding.Decode(buf, body)
	if err != nil {
		// The decoder's error gives an offset only, but an offset points
		// into the key; leave it out.
		return nil, malformed("the key is not valid base64 (standard alphabet, padded)")
	}
	if n != KEKSize {
		return nil, malformed("the key is %d bytes, want %d", n, KEKSize)
	}
	if isZero(buf[:n]) {
		return nil, malformed("the key is all zero bytes")
	}
	var key [KEKSize]byte
	defer clear(key[:])
	copy(key[:], buf)
	return newKEK(&key)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedKEK}, args...)...)
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
