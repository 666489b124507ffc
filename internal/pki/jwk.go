package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// b64 is base64url without padding (RFC 7515 §2), strict so that each
// value has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// jwk is a public key in JWK form (RFC 7517), with the members the SPIFFE
// bundle format uses.
type jwk struct {
	Use string   `json:"use,omitempty"`
	Kty string   `json:"kty"`
	Kid string   `json:"kid,omitempty"`
	Crv string   `json:"crv,omitempty"`
	X   string   `json:"x,omitempty"`
	Y   string   `json:"y,omitempty"`
	N   string   `json:"n,omitempty"`
	E   string   `json:"e,omitempty"`
	X5c []string `json:"x5c,omitempty"`
}

// curves are the EC curves a JWK may name.
var curves = map[string]elliptic.Curve{
	"P-256": elliptic.P256(),
	"P-384": elliptic.P384(),
	"P-521": elliptic.P521(),
}

// publicJWK returns pub's JWK members.
func publicJWK(pub crypto.PublicKey) (jwk, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y, each padded to the curve's size
		if err != nil {
			return jwk{}, fmt.Errorf("encode ecdsa key: %v", err)
		}
		n := (len(pt) - 1) / 2
		return jwk{Kty: "EC", Crv: curveName(k.Curve), X: b64.EncodeToString(pt[1 : 1+n]), Y: b64.EncodeToString(pt[1+n:])}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	}
	return jwk{}, fmt.Errorf("%T keys have no jwk form here", pub)
}

// publicKey returns the key a JWK describes: EC on P-256, P-384 or P-521,
// RSA of 2048 bits or more, or Ed25519.
func (j *jwk) publicKey() (crypto.PublicKey, error) {
	switch j.Kty {
	case "EC":
		curve, ok := curves[j.Crv]
		if !ok {
			return nil, fmt.Errorf("ec curve %s not supported", quote(j.Crv))
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, fmt.Errorf("ec x or y is not %d bytes of base64url", size)
		}
		pt := make([]byte, 0, 1+2*size)
		pt = append(append(append(pt, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, fmt.Errorf("ec point is not on the curve")
		}
		return pub, nil
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 || n[0] == 0 || e[0] == 0 {
			return nil, fmt.Errorf("rsa n or e is not base64url of a minimal big-endian integer")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if bits := pub.N.BitLen(); bits < minRSABits || bits > 16384 {
			return nil, fmt.Errorf("rsa key of %d bits not supported", bits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, fmt.Errorf("rsa exponent %d not supported", pub.E)
		}
		return pub, nil
	case "OKP":
		x, err := b64.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("okp key is not an ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("kty %s not supported", quote(j.Kty))
}

// thumbprint returns the RFC 7638 thumbprint of a P-256 JWK: the
// base64url SHA-256 of its required members in lexical order. Coordinates
// are base64url, which needs no JSON escaping.
func thumbprint(j jwk) string {
	h := sha256.Sum256([]byte(`{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`))
	return b64.EncodeToString(h[:])
}
