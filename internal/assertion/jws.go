package assertion

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/jsonobj"
	"slices"
	"strings"
	"time"
)

const (
	// MaxTokenLength bounds the tokens Verify reads. An assertion with a
	// few hundred groups fits with room to spare.
	MaxTokenLength = 64 << 10

	// Leeway is how far Verify lets exp, nbf and iat miss the clock, for
	// skew between the gateway and the upstream.
	Leeway = 30 * time.Second

	sigSize = 64 // ES256: R and S, 32 bytes each (RFC 7518 §3.4)
)

// KeySet is a parsed JWKS: the ES256 keys it holds, by kid. It is
// immutable, so safe for concurrent use; an upstream that verifies many
// tokens parses the JWKS once with ParseJWKS and calls KeySet.Verify,
// rather than Verify, which parses it on every call.
type KeySet struct {
	keys map[string]*ecdsa.PublicKey
}

// ParseJWKS reads a JWKS such as Signer.JWKS returns. Keys that are not
// P-256 signature keys for ES256 with a kid are skipped, so that a set which
// gains keys of another kind stays usable; a private key, a duplicate kid or
// a broken P-256 key makes the whole set an error wrapping ErrKeySet.
func ParseJWKS(jwks []byte) (*KeySet, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("%w: not a json object with a keys array", ErrKeySet)
	}
	ks := &KeySet{keys: make(map[string]*ecdsa.PublicKey, len(set.Keys))}
	for i, raw := range set.Keys {
		var k struct {
			jwk
			D string `json:"d"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("%w: key %d: not a jwk", ErrKeySet, i)
		}
		if k.D != "" {
			return nil, fmt.Errorf("%w: key %d: a private key", ErrKeySet, i)
		}
		if k.Kty != "EC" || k.Crv != "P-256" || k.Kid == "" ||
			k.Alg != "" && k.Alg != "ES256" || k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := parsePublicJWK(k.jwk)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %v", ErrKeySet, quote(k.Kid), err)
		}
		if ks.keys[k.Kid] != nil {
			return nil, fmt.Errorf("%w: kid %s appears twice", ErrKeySet, quote(k.Kid))
		}
		ks.keys[k.Kid] = pub
	}
	return ks, nil
}

// Len returns how many keys the set holds.
func (ks *KeySet) Len() int { return len(ks.keys) }

// Verify checks token against the keys of jwks for audience at now and
// returns its claims. It parses jwks on every call: see KeySet. Errors match
// one of ErrMalformed, ErrSignature, ErrExpired, ErrAudience and ErrKeySet,
// and never contain the token.
func Verify(token string, jwks []byte, audience string, now time.Time) (*Claims, error) {
	ks, err := ParseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	return ks.Verify(token, audience, now)
}

// Verify checks token for audience at now and returns its claims. In order:
// the token's shape and header; alg, which must be ES256; kid, which must
// name a key of the set; the signature; only then the claims, their types
// and presence, exp, nbf and iat with Leeway; and last aud, which must be
// or contain audience. An empty audience matches nothing.
func (ks *KeySet) Verify(token, audience string, now time.Time) (*Claims, error) {
	h, p, sig, err := split(token)
	if err != nil {
		return nil, err
	}
	header, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	kid, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	pub := ks.keys[kid]
	if pub == nil {
		return nil, fmt.Errorf("%w: no key with kid %s", ErrSignature, quote(kid))
	}
	if len(sig) != b64.EncodedLen(sigSize) {
		return nil, fmt.Errorf("%w: signature is not %d bytes", ErrSignature, sigSize)
	}
	var raw [sigSize]byte
	if _, err := b64.Decode(raw[:], []byte(sig)); err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	digest := sha256.Sum256([]byte(token[:len(h)+1+len(p)]))
	if !verifyES256(pub, digest[:], raw[:]) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrSignature)
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	t, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	c := &t.Claims
	switch {
	case now.After(c.Expires.Add(Leeway)):
		return nil, fmt.Errorf("%w: expired at %s", ErrExpired, c.Expires.Format(time.RFC3339))
	case t.hasNbf && t.nbf.After(now.Add(Leeway)):
		return nil, fmt.Errorf("%w: not valid before %s", ErrExpired, t.nbf.Format(time.RFC3339))
	case c.IssuedAt.After(now.Add(Leeway)):
		return nil, fmt.Errorf("%w: issued in the future, at %s", ErrExpired, c.IssuedAt.Format(time.RFC3339))
	}
	if audience == "" || !slices.Contains(t.aud, audience) {
		return nil, fmt.Errorf("%w: not addressed to %s", ErrAudience, quote(audience))
	}
	c.Audience = audience
	return c, nil
}

// split checks that token is three base64url parts joined by dots and
// returns them, not decoded.
func split(token string) (header, payload, sig string, err error) {
	if len(token) > MaxTokenLength {
		return "", "", "", fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxTokenLength)
	}
	// Only the base64url alphabet and the two dots: the decoder would
	// otherwise skip newlines pasted in.
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", "", "", fmt.Errorf("%w: not a compact jws: character outside base64url at offset %d", ErrMalformed, i)
		}
	}
	if dots != 2 {
		return "", "", "", fmt.Errorf("%w: not a compact jws: %d parts", ErrMalformed, dots+1)
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, sig, _ = strings.Cut(rest, ".")
	if header == "" || payload == "" {
		return "", "", "", fmt.Errorf("%w: not a compact jws: empty part", ErrMalformed)
	}
	return header, payload, sig, nil
}

// parseHeader checks a JWS header and returns its kid. The key comes only
// from the key set: jwk, jku, x5u, x5c and the like are ignored.
func parseHeader(header []byte) (string, error) {
	var alg, kid string
	var hasAlg bool
	err := jsonobj.Object(header, func(name, raw []byte) error {
		ok := true
		switch string(name) {
		case "alg":
			alg, ok = jsonobj.String(raw)
			hasAlg = true
		case "kid":
			kid, ok = jsonobj.String(raw)
		case "typ":
			var typ string
			typ, ok = jsonobj.String(raw)
			if ok && !strings.EqualFold(typ, "JWT") {
				return fmt.Errorf("typ %s is not JWT", quote(typ))
			}
		case "crit":
			// No extension is understood, so RFC 7515 §4.1.11 requires
			// refusing a token that marks one critical.
			return errors.New("crit not supported")
		}
		if !ok {
			return fmt.Errorf("%s is not a string", name)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	switch {
	case !hasAlg:
		return "", fmt.Errorf("%w: header: no alg", ErrMalformed)
	case alg != "ES256":
		// "none", HS256 (which would make the public key a MAC secret)
		// and every other algorithm: ES256 is the only one ztgate signs
		// with, so the only one accepted.
		return "", fmt.Errorf("%w: alg %s refused", ErrSignature, quote(alg))
	case kid == "":
		return "", fmt.Errorf("%w: no kid", ErrSignature)
	}
	return kid, nil
}

// verifyES256 checks a JWS signature, R and S as 32-byte big-endian
// integers, over digest.
func verifyES256(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	var buf [2*(2+33) + 2]byte
	return len(sig) == sigSize && ecdsa.VerifyASN1(pub, digest, rawToDER(buf[:0], sig))
}

// rawToDER appends the ASN.1 SEQUENCE of two INTEGERs that
// ecdsa.VerifyASN1 reads, made from R || S.
func rawToDER(b, sig []byte) []byte {
	r, s := minimal(sig[:32]), minimal(sig[32:])
	b = append(b, 0x30, byte(intLen(r)+intLen(s)))
	b = appendInt(b, r)
	return appendInt(b, s)
}

// minimal strips leading zero bytes, keeping one.
func minimal(n []byte) []byte {
	for len(n) > 1 && n[0] == 0 {
		n = n[1:]
	}
	return n
}

// intLen is the length of the DER INTEGER holding the unsigned n.
func intLen(n []byte) int {
	if n[0]&0x80 != 0 {
		return 3 + len(n)
	}
	return 2 + len(n)
}

func appendInt(b, n []byte) []byte {
	if n[0]&0x80 != 0 {
		b = append(b, 0x02, byte(len(n)+1), 0)
	} else {
		b = append(b, 0x02, byte(len(n)))
	}
	return append(b, n...)
}

// derToRaw writes the signature ecdsa.SignASN1 made as R || S. It reads
// only the shape SignASN1 writes for P-256 (short-form lengths, positive
// minimal integers of at most 32 bytes) and reports anything else.
func derToRaw(der []byte, out *[sigSize]byte) bool {
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return false
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 || rest[1] == 0 {
			return false
		}
		n := rest[2 : 2+rest[1]]
		rest = rest[2+rest[1]:]
		if n[0]&0x80 != 0 {
			return false // negative
		}
		if len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > 32 {
			return false
		}
		copy(out[i*32+32-len(n):(i+1)*32], n)
	}
	return len(rest) == 0
}
