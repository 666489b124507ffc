package sigv4

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// p256NMinus2 is the order of P-256 minus two, big-endian: AWS's KDF
// accepts a candidate only when it is below this, so that candidate+1 is a
// valid private scalar in [1, n-1].
var p256NMinus2 = [32]byte{
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x4f,
}

var errNoKey = errors.New("sigv4: no SigV4a key candidate below n-2")

// DeriveECDSAKey derives the SigV4a P-256 private key from an access key
// pair as AWS signers do: NIST SP 800-108 HMAC-SHA256 counter-mode KDF keyed
// by "AWS4A"+secret, label "AWS4-ECDSA-P256-SHA256", context access key id
// followed by a one-byte counter; the first candidate below n-2, plus one,
// is the private scalar.
func DeriveECDSAKey(accessKeyID string, secret Secret) (*ecdsa.PrivateKey, error) {
	key := make([]byte, 0, 5+len(secret.v))
	key = append(key, "AWS4A"...)
	key = append(key, secret.v...)
	defer clear(key)
	mac := hmac.New(sha256.New, key)
	var cand [32]byte
	for counter := 1; counter <= 0xff; counter++ {
		mac.Reset()
		var i [4]byte
		binary.BigEndian.PutUint32(i[:], 1) // one 256-bit block suffices
		mac.Write(i[:])
		mac.Write([]byte(AlgorithmV4A))
		mac.Write([]byte{0})
		mac.Write([]byte(accessKeyID))
		mac.Write([]byte{byte(counter)})
		binary.BigEndian.PutUint32(i[:], 256) // output length in bits
		mac.Write(i[:])
		mac.Sum(cand[:0])
		if lessConstantTime(&cand, &p256NMinus2) {
			addOne(&cand)
			priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), cand[:])
			clear(cand[:])
			return priv, err
		}
	}
	return nil, errNoKey
}

// lessConstantTime reports a < b for big-endian numbers without branching
// on secret bytes.
func lessConstantTime(a, b *[32]byte) bool {
	lt, decided := 0, 0
	for i := range a {
		x, y := int(a[i]), int(b[i])
		l := subtle.ConstantTimeLessOrEq(x+1, y) // x < y
		g := subtle.ConstantTimeLessOrEq(y+1, x) // x > y
		lt |= l &^ decided
		decided |= l | g
	}
	return lt == 1
}

func addOne(b *[32]byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

type publicKeyID struct {
	accessKeyID string
	secret      fingerprint
}

// publicKey is the derived SigV4a public key; a nil one (derivation
// failed) verifies nothing.
type publicKey struct{ pub *ecdsa.PublicKey }

func (p *publicKey) verify(stringToSign []byte, sigHex string) bool {
	if p == nil || p.pub == nil || len(sigHex) > 2*80 {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	digest := sha256.Sum256(stringToSign)
	return ecdsa.VerifyASN1(p.pub, digest[:], sig)
}

// publicKey returns the cached SigV4a public key for the credentials.
// Derivation costs a scalar multiplication, so it is worth caching.
func (v *Verifier) publicKey(accessKeyID string, creds *Credentials) *publicKey {
	id := publicKeyID{accessKeyID: accessKeyID, secret: v.fingerprint(creds.Secret)}
	if p, ok := v.pubCache.get(id); ok {
		return p
	}
	p := &publicKey{}
	if priv, err := DeriveECDSAKey(accessKeyID, creds.Secret); err == nil {
		p.pub = &priv.PublicKey
	}
	id.accessKeyID = strings.Clone(accessKeyID)
	v.pubCache.put(id, p)
	return p
}
