package webidentity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // registers SHA-384 and SHA-512
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
)

// algorithm is one JWS signature algorithm (RFC 7518, RFC 8037) and the
// kind of key it needs.
type algorithm struct {
	kty  string // JWK key type: RSA, EC or OKP
	crv  string // for EC and OKP
	hash crypto.Hash
	pss  bool
}

// algorithms are those accepted. Symmetric (HS*) and "none" are absent on
// purpose; so are ES256K and Ed448, which the standard library lacks.
var algorithms = map[string]*algorithm{
	"RS256": {kty: "RSA", hash: crypto.SHA256},
	"RS384": {kty: "RSA", hash: crypto.SHA384},
	"RS512": {kty: "RSA", hash: crypto.SHA512},
	"PS256": {kty: "RSA", hash: crypto.SHA256, pss: true},
	"PS384": {kty: "RSA", hash: crypto.SHA384, pss: true},
	"PS512": {kty: "RSA", hash: crypto.SHA512, pss: true},
	"ES256": {kty: "EC", crv: "P-256", hash: crypto.SHA256},
	"ES384": {kty: "EC", crv: "P-384", hash: crypto.SHA384},
	"ES512": {kty: "EC", crv: "P-521", hash: crypto.SHA512},
	"EdDSA": {kty: "OKP", crv: "Ed25519"},
}

// RSA modulus bounds: below 2048 bits is too weak to trust, and above 8192
// bits a verification gets slow enough to matter under a flood.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is one usable key from an issuer's JWKS.
type publicKey struct {
	kid string
	kty string
	crv string
	alg string // the JWK's "alg", if it names one: then only that one
	key crypto.PublicKey
}

// fits reports whether the key may verify a signature made with alg:
// the key type and curve must be the algorithm's, and a JWK that names its
// algorithm allows no other.
func (k *publicKey) fits(name string, a *algorithm) bool {
	return k.kty == a.kty && k.crv == a.crv && (k.alg == "" || k.alg == name)
}

// verify checks sig over input. The caller has checked fits.
func (k *publicKey) verify(a *algorithm, input string, sig []byte) bool {
	if pub, ok := k.key.(ed25519.PublicKey); ok {
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, []byte(input), sig)
	}
	h := a.hash.New()
	io.WriteString(h, input)
	digest := h.Sum(make([]byte, 0, 64))
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		if a.pss {
			// RFC 7518 §3.5: the salt is as long as the hash.
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
			return rsa.VerifyPSS(pub, a.hash, digest, sig, opts) == nil
		}
		return rsa.VerifyPKCS1v15(pub, a.hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		der, ok := ecdsaDER(sig, curveSize(k.crv))
		return ok && ecdsa.VerifyASN1(pub, digest, der)
	}
	return false
}

func curveSize(crv string) int {
	switch crv {
	case "P-256":
		return 32
	case "P-384":
		return 48
	case "P-521":
		return 66
	}
	return 0
}

func curve(crv string) elliptic.Curve {
	switch crv {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

// ecdsaDER turns a JWS ECDSA signature, R and S as fixed-size big-endian
// integers (RFC 7518 §3.4), into the ASN.1 SEQUENCE VerifyASN1 reads. A
// signature of any other length is refused rather than padded.
func ecdsaDER(sig []byte, size int) ([]byte, bool) {
	if size == 0 || len(sig) != 2*size {
		return nil, false
	}
	integer := func(b []byte, n []byte) []byte {
		for len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		pad := n[0]&0x80 != 0
		l := len(n)
		if pad {
			l++
		}
		b = append(b, 0x02, byte(l))
		if pad {
			b = append(b, 0)
		}
		return append(b, n...)
	}
	body := integer(make([]byte, 0, 2*size+8), sig[:size])
	body = integer(body, sig[size:])
	der := make([]byte, 0, len(body)+3)
	der = append(der, 0x30)
	if len(body) >= 0x80 { // P-521: long-form length
		der = append(der, 0x81)
	}
	der = append(der, byte(len(body)))
	return append(der, body...), true
}

// jwk is the JSON form of a key (RFC 7517, RFC 7518 §6, RFC 8037). It
// comes from the issuer, so unknown members and case are not policed.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
	K      string   `json:"k"`
}

// errSkip marks a key that is well formed but not for us (an encryption
// key, an unsupported type): skipped quietly, unlike a broken one.
var errSkip = errors.New("not a signature key")

// parseJWK turns one JWKS entry into a publicKey. Entries that are not
// asymmetric signature keys are refused with errSkip.
func parseJWK(raw json.RawMessage) (*publicKey, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, errors.New("not a json object")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: use %s", errSkip, quote(j.Use))
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, fmt.Errorf("%w: key_ops without verify", errSkip)
	}
	if j.D != "" {
		// A private key published by mistake: using it would be harmless
		// but the IdP is misconfigured, so say so.
		return nil, errors.New("private key in jwks")
	}
	k := &publicKey{kid: j.Kid, kty: j.Kty, crv: j.Crv, alg: j.Alg}
	if j.Alg != "" {
		a := algorithms[j.Alg]
		if a == nil {
			return nil, fmt.Errorf("%w: alg %s", errSkip, quote(j.Alg))
		}
		if a.kty != j.Kty {
			return nil, fmt.Errorf("alg %s does not fit kty %s", quote(j.Alg), quote(j.Kty))
		}
	}
	switch j.Kty {
	case "RSA":
		k.crv = ""
		n, err1 := keyBytes(j.N)
		e, err2 := keyBytes(j.E)
		if err1 != nil || err2 != nil {
			return nil, errors.New("rsa: n or e is not base64url")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("rsa: %d-bit modulus outside %d..%d", bits, minRSABits, maxRSABits)
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("rsa: bad exponent")
		}
		for _, b := range e {
			pub.E = pub.E<<8 | int(b)
		}
		if pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
			return nil, errors.New("rsa: bad exponent")
		}
		k.key = pub
	case "EC":
		c, size := curve(j.Crv), curveSize(j.Crv)
		if c == nil {
			return nil, fmt.Errorf("%w: curve %s", errSkip, quote(j.Crv))
		}
		x, err1 := keyBytes(j.X)
		y, err2 := keyBytes(j.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("ec: x or y malformed")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("ec: point not on curve")
		}
		k.key = pub
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: curve %s", errSkip, quote(j.Crv))
		}
		x, err := keyBytes(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("okp: x malformed")
		}
		k.key = ed25519.PublicKey(x)
	case "oct":
		// Never a verification key here: see the HS* refusal.
		return nil, fmt.Errorf("%w: symmetric key", errSkip)
	default:
		return nil, fmt.Errorf("%w: kty %s", errSkip, quote(j.Kty))
	}
	if j.Alg != "" && algorithms[j.Alg].crv != k.crv {
		return nil, fmt.Errorf("alg %s does not fit curve %s", quote(j.Alg), quote(j.Crv))
	}
	return k, nil
}

// keyBytes decodes a base64url key parameter. RFC 7518 forbids padding,
// but it comes from the issuer, which is trusted to publish its own keys:
// tolerate it rather than fail every token over it.
func keyBytes(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
