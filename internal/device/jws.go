package device

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// The typ headers of what devices sign: each keeps a device's signature
// over anything else from passing for it, so that a posture report is
// never taken for a renewal, nor the other way round.
const (
	ReportType  = "ztgate-posture+jwt"
	RenewalType = "ztgate-renew+jwt"
)

// jwsKind is what a compact JWS is for: its typ header, the word its
// errors name it by, and whether it must carry its chain.
type jwsKind struct {
	typ, noun string
	// needChain refuses a JWS without x5c: a renewal is signed by the
	// certificate it presents, never looked up by kid.
	needChain bool
}

var (
	reportJWS  = jwsKind{typ: ReportType, noun: "report"}
	renewalJWS = jwsKind{typ: RenewalType, noun: "renewal", needChain: true}
)

// maxChainLen bounds the certificates of an x5c header.
const maxChainLen = 4

var (
	b64url = base64.RawURLEncoding.Strict()
	b64std = base64.StdEncoding.Strict()
	// base64RawStd reads a CSR sent in base64 without its padding.
	base64RawStd = base64.RawStdEncoding.Strict()
)

// jwsHeader is a report's or renewal's protected header. Unknown members are refused:
// none that would matter (jwk, jku, x5u) is ever honoured, and saying so
// beats ignoring them.
type jwsHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	Kid string   `json:"kid,omitempty"`
	X5c []string `json:"x5c,omitempty"`
}

// compactJWS is a parsed, not yet verified, compact JWS.
type compactJWS struct {
	kind         jwsKind
	header       jwsHeader
	chain        []*x509.Certificate // from x5c; nil when the report names its device by kid
	signingInput []byte              // BASE64URL(header) "." BASE64URL(payload)
	payload      string              // base64url, decoded only once the signature verifies
	sig          []byte
}

// parseCompact splits and decodes a compact JWS of kind k and its header.
// It reads no claim: the payload is decoded only after the signature is
// checked. Errors wrap ErrMalformed.
func parseCompact(token []byte, k jwsKind) (*compactJWS, error) {
	h, rest, ok1 := bytes.Cut(token, []byte("."))
	p, s, ok2 := bytes.Cut(rest, []byte("."))
	if !ok1 || !ok2 || bytes.IndexByte(s, '.') >= 0 {
		return nil, fmt.Errorf("%w: %s is not a compact jws (three dot-separated parts)", ErrMalformed, k.noun)
	}
	headerJSON, err := b64url.DecodeString(string(h))
	if err != nil {
		return nil, fmt.Errorf("%w: %s header is not base64url", ErrMalformed, k.noun)
	}
	j := &compactJWS{kind: k, signingInput: token[:len(h)+1+len(p)], payload: string(p)}
	dec := json.NewDecoder(bytes.NewReader(headerJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j.header); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: %s header is not a json object of alg, typ, kid and x5c", ErrMalformed, k.noun)
	}
	switch {
	case j.header.Typ != k.typ:
		return nil, fmt.Errorf("%w: %s header typ is %s, not %s", ErrMalformed, k.noun, quote(j.header.Typ), k.typ)
	case j.header.Alg == "":
		return nil, fmt.Errorf("%w: %s header has no alg", ErrMalformed, k.noun)
	case k.needChain && len(j.header.X5c) == 0:
		return nil, fmt.Errorf("%w: %s header has no x5c", ErrMalformed, k.noun)
	case len(j.header.X5c) == 0 && j.header.Kid == "":
		return nil, fmt.Errorf("%w: %s header has neither x5c nor kid", ErrMalformed, k.noun)
	case len(j.header.X5c) > maxChainLen:
		return nil, fmt.Errorf("%w: %s x5c holds %d certificates, at most %d", ErrMalformed, k.noun, len(j.header.X5c), maxChainLen)
	case j.header.Kid != "" && !ValidID(j.header.Kid):
		return nil, fmt.Errorf("%w: %s kid %s is not a device id", ErrMalformed, k.noun, quote(j.header.Kid))
	}
	for i, c := range j.header.X5c {
		der, err := b64std.DecodeString(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %s x5c[%d] is not base64", ErrMalformed, k.noun, i)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s x5c[%d] is not a certificate", ErrMalformed, k.noun, i)
		}
		j.chain = append(j.chain, cert)
	}
	if j.sig, err = b64url.DecodeString(string(s)); err != nil {
		return nil, fmt.Errorf("%w: %s signature is not base64url", ErrMalformed, k.noun)
	}
	if _, err := b64url.DecodeString(j.payload); err != nil {
		return nil, fmt.Errorf("%w: %s payload is not base64url", ErrMalformed, k.noun)
	}
	return j, nil
}

// algFor names the one JWS algorithm a key signs reports with: the key's
// type decides, so that a verifier never lets the sender choose.
func algFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
		return "", errors.New("ecdsa keys on curves other than p-256 and p-384 are not accepted")
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *rsa.PublicKey:
		return "RS256", nil
	}
	return "", fmt.Errorf("%T keys are not accepted", pub)
}

// verify checks the signature with the key of the certificate that
// signed: the header's alg must be the one the key's type calls for.
// Errors wrap ErrSignature.
func (j *compactJWS) verify(pub crypto.PublicKey) error {
	want, err := algFor(pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if j.header.Alg != want {
		return fmt.Errorf("%w: alg %s does not fit the certificate's key (%s)", ErrSignature, quote(j.header.Alg), want)
	}
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(j.sig) == 2*size {
			var digest []byte
			if size == 32 {
				d := sha256.Sum256(j.signingInput)
				digest = d[:]
			} else {
				d := sha512.Sum384(j.signingInput)
				digest = d[:]
			}
			der, err := rawToDER(j.sig, size)
			ok = err == nil && ecdsa.VerifyASN1(k, digest, der)
		}
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, j.signingInput, j.sig)
	case *rsa.PublicKey:
		d := sha256.Sum256(j.signingInput)
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], j.sig) == nil
	}
	if !ok {
		return fmt.Errorf("%w: the %s's signature does not verify with the certificate's key", ErrSignature, j.kind.noun)
	}
	return nil
}

// rawToDER turns JWS's r || s into an ASN.1 ECDSA signature.
func rawToDER(sig []byte, size int) ([]byte, error) {
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}

// derToRaw turns an ASN.1 ECDSA signature into JWS's r || s, each padded
// to size bytes.
func derToRaw(der []byte, size int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, errors.New("unexpected ecdsa signature encoding")
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

// signCompact makes a compact JWS of payload with key, under the header
// h, whose alg it sets from the key's type.
func signCompact(h jwsHeader, payload []byte, key crypto.Signer) (string, error) {
	alg, err := algFor(key.Public())
	if err != nil {
		return "", err
	}
	h.Alg = alg
	hj, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	input := b64url.EncodeToString(hj) + "." + b64url.EncodeToString(payload)
	var sig []byte
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		var digest []byte
		var hash crypto.Hash
		if size == 32 {
			d := sha256.Sum256([]byte(input))
			digest, hash = d[:], crypto.SHA256
		} else {
			d := sha512.Sum384([]byte(input))
			digest, hash = d[:], crypto.SHA384
		}
		der, err := key.Sign(rand.Reader, digest, hash)
		if err != nil {
			return "", err
		}
		if sig, err = derToRaw(der, size); err != nil {
			return "", err
		}
	case ed25519.PublicKey:
		if sig, err = key.Sign(rand.Reader, []byte(input), crypto.Hash(0)); err != nil {
			return "", err
		}
	case *rsa.PublicKey:
		d := sha256.Sum256([]byte(input))
		if sig, err = key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			return "", err
		}
	}
	return input + "." + b64url.EncodeToString(sig), nil
}
