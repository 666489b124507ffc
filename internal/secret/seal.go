package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Layout of a sealed value; see the package documentation.
const (
	magic    = 'z'
	version1 = 1

	nonceSize   = 12
	tagSize     = 16
	dataKeySize = 32

	idOff        = 2
	wrapNonceOff = idOff + idSize                     // 10; also the header length
	wrappedOff   = wrapNonceOff + nonceSize           // 22
	payNonceOff  = wrappedOff + dataKeySize + tagSize // 70
	payloadOff   = payNonceOff + nonceSize            // 82

	headerSize = wrapNonceOff
)

// Overhead is how many bytes longer a sealed value is than its plaintext.
const Overhead = payloadOff + tagSize

var (
	// ErrWrongKey classifies an attempt to open a value sealed under
	// another key-encryption key.
	ErrWrongKey = errors.New("wrong key-encryption key")

	// ErrCorrupt classifies a sealed value that is truncated, of an
	// unknown format, or fails authentication.
	ErrCorrupt = errors.New("ciphertext is corrupt or was altered")
)

// Seal encrypts plaintext under a fresh data key wrapped by k, and
// authenticates aad with it: [Open] needs the same aad. aad is not stored in
// the result.
func Seal(k *KEK, plaintext, aad []byte) ([]byte, error) {
	return seal(k, rand.Reader, plaintext, aad)
}

// seal is Seal with the source of keys and nonces passed in, so tests can
// make sealed values that do not change between runs.
func seal(k *KEK, rnd io.Reader, plaintext, aad []byte) ([]byte, error) {
	if !k.valid() {
		return nil, errNilKEK
	}
	out := make([]byte, payloadOff, Overhead+len(plaintext))
	out[0] = magic
	out[1] = version1
	copy(out[idOff:], k.s.rawID[:])

	var dk [dataKeySize]byte
	defer clear(dk[:])
	if _, err := io.ReadFull(rnd, dk[:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := io.ReadFull(rnd, out[wrapNonceOff:wrappedOff]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := io.ReadFull(rnd, out[payNonceOff:payloadOff]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}

	// The GCM output is written at out[wrappedOff:payNonceOff], past the
	// header it authenticates, so output and additional data do not overlap.
	k.s.aead.Seal(out[:wrappedOff], out[wrapNonceOff:wrappedOff], dk[:], out[:headerSize])

	payload, err := newGCM(dk[:])
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return payload.Seal(out, out[payNonceOff:payloadOff], plaintext, aad), nil
}

// Open decrypts a value made by [Seal] with the same k and aad. A value
// sealed under another key yields an error wrapping [ErrWrongKey]; one
// that is damaged, truncated or was sealed with other aad yields an error
// wrapping [ErrCorrupt]. On error the plaintext is nil.
func Open(k *KEK, sealed, aad []byte) ([]byte, error) {
	if !k.valid() {
		return nil, errNilKEK
	}
	id, err := sealedID(sealed)
	if err != nil {
		return nil, err
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the smallest sealed value (%d)", ErrCorrupt, len(sealed), Overhead)
	}
	if id != k.s.rawID {
		return nil, &wrongKeyError{sealedWith: hex.EncodeToString(id[:]), have: k.s.id}
	}

	var dk [dataKeySize]byte
	defer clear(dk[:])
	if _, err := k.s.aead.Open(dk[:0], sealed[wrapNonceOff:wrappedOff], sealed[wrappedOff:payNonceOff], sealed[:headerSize]); err != nil {
		return nil, ErrCorrupt
	}
	payload, err := newGCM(dk[:])
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	plaintext, err := payload.Open(nil, sealed[payNonceOff:payloadOff], sealed[payloadOff:], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plaintext, nil
}

// sealedID checks the magic and version of a sealed value and returns the
// id of the KEK it names.
func sealedID(sealed []byte) ([idSize]byte, error) {
	var id [idSize]byte
	switch {
	case len(sealed) < 2:
		return id, fmt.Errorf("%w: %d bytes is shorter than the smallest sealed value (%d)", ErrCorrupt, len(sealed), Overhead)
	case sealed[0] != magic:
		return id, fmt.Errorf("%w: it is not a sealed value", ErrCorrupt)
	case sealed[1] != version1:
		return id, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, sealed[1])
	case len(sealed) < headerSize:
		return id, fmt.Errorf("%w: %d bytes is shorter than the smallest sealed value (%d)", ErrCorrupt, len(sealed), Overhead)
	}
	copy(id[:], sealed[idOff:])
	return id, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrongKeyError names both keys; it matches [ErrWrongKey].
type wrongKeyError struct {
	sealedWith, have string
}

func (e *wrongKeyError) Error() string {
	return "sealed with key-encryption key " + e.sealedWith + ", not " + e.have
}

func (e *wrongKeyError) Is(target error) bool { return target == ErrWrongKey }
