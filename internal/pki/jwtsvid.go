package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/ztgate/ztgate/internal/store"
)

// Limits of JWT-SVIDs.
const (
	// MaxJWTSize bounds a token VerifyJWTSVID reads.
	MaxJWTSize = 16 << 10
	// JWTLeeway is how far past exp (or before nbf) a JWT-SVID is still
	// accepted, for clocks that disagree a little.
	JWTLeeway = 30 * time.Second

	maxAudiences  = 16
	maxAudienceSz = 1024
)

// jwtKey is a JWT-SVID signing key loaded from the store. It prints as its
// kid only.
type jwtKey struct {
	gen    int64
	kid    string
	priv   *PrivateKey // an ECDSA P-256 key
	header string      // the JWS header in base64url, and the dot after it
}

func (k *jwtKey) String() string { return "[jwt-svid key " + k.kid + "]" }

// newJWTKeyRecord makes a new ECDSA P-256 JWT-SVID key and its record.
// Its kid is its RFC 7638 thumbprint.
func (ca *CA) newJWTKeyRecord() ([]byte, error) {
	key, err := generateKey()
	if err != nil {
		return nil, err
	}
	j, err := publicJWK(key.Public())
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	r := jwtKeyRecord{Kid: thumbprint(j), Created: ca.clock().UTC(), Public: pub}
	if r.Private, err = sealKey(ca.kek, key, jwtKeyAAD(r.Kid)); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// openJWTKeys reads the stored JWT-SVID keys, in generation order.
func (ca *CA) openJWTKeys(recs []store.Record) ([]*jwtKey, error) {
	var keys []*jwtKey
	for _, rec := range recs {
		var gen int64
		if _, err := fmt.Sscanf(rec.Key, "%d", &gen); err != nil || genKey(gen) != rec.Key || gen < 1 {
			return nil, fmt.Errorf("%w: jwt-svid key record %s is not a generation", ErrCA, quote(rec.Key))
		}
		var r jwtKeyRecord
		if err := decodeRecord(rec, &r); err != nil {
			return nil, err
		}
		priv, err := openKey(ca.kek, r.Private, jwtKeyAAD(r.Kid))
		if err != nil {
			return nil, fmt.Errorf("%w: jwt-svid key %d (kid %s): %w", ErrCA, gen, r.Kid, err)
		}
		ec, ok := priv.s.(*ecdsa.PrivateKey)
		pub, perr := x509.ParsePKIXPublicKey(r.Public)
		if !ok || perr != nil || !sameKey(pub, priv.Public()) || checkPublicKey(pub) != nil || curveName(ec.Curve) != "P-256" {
			return nil, fmt.Errorf("%w: jwt-svid key %d (kid %s): not a p-256 key pair", ErrCA, gen, r.Kid)
		}
		j, _ := publicJWK(pub)
		if thumbprint(j) != r.Kid {
			return nil, fmt.Errorf("%w: jwt-svid key %d: kid %s is not the key's thumbprint", ErrCA, gen, quote(r.Kid))
		}
		header, _ := json.Marshal(struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			Typ string `json:"typ"`
		}{"ES256", r.Kid, "JWT"})
		keys = append(keys, &jwtKey{gen: gen, kid: r.Kid, priv: priv, header: b64.EncodeToString(header) + "."})
	}
	slices.SortFunc(keys, func(a, b *jwtKey) int { return int(a.gen - b.gen) })
	return keys, nil
}

// jwtClaims are a JWT-SVID's claims as minted.
type jwtClaims struct {
	Sub string   `json:"sub"`
	Aud []string `json:"aud"`
	Exp int64    `json:"exp"`
	Iat int64    `json:"iat"`
}

// MintJWTSVID returns a JWT-SVID for id, addressed to audience, valid for
// ttl (the configured JWT TTL when zero, at most MaxJWTTTL): a JWS
// signed with ES256 under the CA's newest JWT key, its header naming the
// key's kid, its claims sub, aud, exp and iat. Errors wrap ErrTrustDomain,
// ErrInvalidID, ErrRequest or ErrLifetime.
func (ca *CA) MintJWTSVID(id ID, audience []string, ttl time.Duration) (string, error) {
	switch {
	case id.IsZero():
		return "", fmt.Errorf("%w: no spiffe id", ErrRequest)
	case !id.MemberOf(ca.td):
		return "", fmt.Errorf("%w: spiffe id %s is not in trust domain %s", ErrTrustDomain, quote(id.String()), quote(ca.td.String()))
	case id.Path() == "":
		return "", fmt.Errorf("%w: spiffe id %s names the trust domain, not a workload", ErrInvalidID, quote(id.String()))
	case len(audience) == 0:
		return "", fmt.Errorf("%w: a jwt-svid needs an audience", ErrRequest)
	case len(audience) > maxAudiences:
		return "", fmt.Errorf("%w: %d audiences, at most %d", ErrRequest, len(audience), maxAudiences)
	case ttl < 0 || ttl > MaxJWTTTL:
		return "", fmt.Errorf("%w: jwt-svid ttl %s outside (0, %s]", ErrLifetime, ttl, MaxJWTTTL)
	}
	for _, a := range audience {
		if a == "" || len(a) > maxAudienceSz {
			return "", fmt.Errorf("%w: an audience is empty or longer than %d bytes", ErrRequest, maxAudienceSz)
		}
	}
	if ttl == 0 {
		ttl = ca.jwtTTL
	}
	m := ca.mat.Load()
	k := m.jwt[len(m.jwt)-1]
	now := ca.clock()
	payload, err := json.Marshal(jwtClaims{Sub: id.String(), Aud: audience, Exp: now.Add(ttl).Unix(), Iat: now.Unix()})
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(len(k.header) + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(64))
	sb.WriteString(k.header)
	sb.WriteString(b64.EncodeToString(payload))
	digest := sha256.Sum256([]byte(sb.String()))
	der, err := ecdsa.SignASN1(rand.Reader, k.priv.s.(*ecdsa.PrivateKey), digest[:])
	if err != nil {
		return "", fmt.Errorf("pki: sign jwt-svid with key %s: %w", k.kid, err)
	}
	sig, ok := derToRaw(der, 32)
	if !ok {
		return "", fmt.Errorf("pki: sign jwt-svid with key %s: unexpected signature encoding", k.kid)
	}
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(sig))
	return sb.String(), nil
}

// derToRaw converts an ASN.1 ECDSA signature to JWS's r || s, each padded
// to size bytes.
func derToRaw(der []byte, size int) ([]byte, bool) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, false
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, true
}

// JWTSVID is a verified JWT-SVID.
type JWTSVID struct {
	ID       ID
	Audience []string
	Expiry   time.Time
	IssuedAt time.Time // zero when the token has no iat
	KeyID    string
}

// jwtAlg is a JWS algorithm VerifyJWTSVID accepts: those the JWT-SVID
// specification allows.
type jwtAlg struct {
	hash crypto.Hash
	kind string // "EC", "RSA", "PSS"
	size int    // EC coordinate size in bytes
}

var jwtAlgs = map[string]jwtAlg{
	"ES256": {crypto.SHA256, "EC", 32},
	"ES384": {crypto.SHA384, "EC", 48},
	"ES512": {crypto.SHA512, "EC", 66},
	"RS256": {crypto.SHA256, "RSA", 0},
	"RS384": {crypto.SHA384, "RSA", 0},
	"RS512": {crypto.SHA512, "RSA", 0},
	"PS256": {crypto.SHA256, "PSS", 0},
	"PS384": {crypto.SHA384, "PSS", 0},
	"PS512": {crypto.SHA512, "PSS", 0},
}

// VerifyJWTSVID verifies a JWT-SVID against bundle b at now, for a
// verifier known as audience: a compact JWS of at most MaxJWTSize bytes;
// a header with an allowed alg (RS, PS or ES, 256 to 512: never "none" nor
// HMAC), a kid that names a JWT key of b, typ "JWT" or "JOSE" if any, and
// no crit; a valid signature, checked before any claim is read; sub a
// SPIFFE ID of b's trust domain; aud including audience; exp after now
// and nbf, if any, not after now, both with JWTLeeway. Every error
// matches one sentinel: ErrTooLarge, ErrMalformed, ErrSignature,
// ErrUntrusted, ErrInvalidID, ErrTrustDomain, ErrValidity or ErrAudience;
// none quotes the token.
func VerifyJWTSVID(token string, b *Bundle, audience string, now time.Time) (*JWTSVID, error) {
	switch {
	case b == nil || now.IsZero() || audience == "":
		return nil, fmt.Errorf("%w: VerifyJWTSVID needs a bundle, a time and an audience", ErrConfig)
	case len(token) > MaxJWTSize:
		return nil, fmt.Errorf("%w: jwt-svid of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(token), MaxJWTSize)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, fmt.Errorf("%w: jwt-svid is not a compact jws (three dot-separated parts)", ErrMalformed)
	}
	headerJSON, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: jwt-svid header is not base64url", ErrMalformed)
	}
	var header struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Typ  *string         `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil {
		return nil, fmt.Errorf("%w: jwt-svid header is not a json object of strings", ErrMalformed)
	}
	switch {
	case header.Crit != nil:
		return nil, fmt.Errorf("%w: jwt-svid header has crit, which is not supported", ErrMalformed)
	case header.Typ != nil && *header.Typ != "JWT" && *header.Typ != "JOSE":
		return nil, fmt.Errorf("%w: jwt-svid header typ %s is neither JWT nor JOSE", ErrMalformed, quote(*header.Typ))
	case header.Kid == "":
		return nil, fmt.Errorf("%w: jwt-svid header has no kid", ErrMalformed)
	}
	alg, ok := jwtAlgs[header.Alg]
	if !ok {
		return nil, fmt.Errorf("%w: jwt-svid alg %s is not allowed", ErrSignature, quote(header.Alg))
	}
	key, ok := b.jwt[header.Kid]
	if !ok {
		return nil, fmt.Errorf("%w: no jwt authority %s in trust domain %s", ErrUntrusted, quote(header.Kid), quote(b.td.String()))
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: jwt-svid signature is not base64url", ErrMalformed)
	}
	hh := alg.hash.New()
	hh.Write([]byte(token[:len(h)+1+len(p)]))
	if err := verifyJWS(alg, key, hh.Sum(nil), sig); err != nil {
		return nil, fmt.Errorf("%w: jwt-svid (alg %s, kid %s): %v", ErrSignature, header.Alg, quote(header.Kid), err)
	}

	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: jwt-svid payload is not base64url", ErrMalformed)
	}
	var claims struct {
		Sub *string         `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
		Nbf *float64        `json:"nbf"`
		Iat *float64        `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: jwt-svid claims are not a json object of the right types", ErrMalformed)
	}
	if claims.Sub == nil || claims.Exp == nil || len(claims.Aud) == 0 {
		return nil, fmt.Errorf("%w: jwt-svid lacks sub, aud or exp", ErrMalformed)
	}
	aud, err := parseAudience(claims.Aud)
	if err != nil {
		return nil, err
	}
	id, err := ParseID(*claims.Sub)
	if err != nil {
		return nil, fmt.Errorf("jwt-svid sub: %w", err)
	}
	if !id.MemberOf(b.td) {
		return nil, fmt.Errorf("%w: spiffe id %s is not in trust domain %s", ErrTrustDomain, quote(id.String()), quote(b.td.String()))
	}
	exp, err := numericDate("exp", *claims.Exp)
	if err != nil {
		return nil, err
	}
	if !now.Before(exp.Add(JWTLeeway)) {
		return nil, fmt.Errorf("%w: jwt-svid expired at %s", ErrValidity, exp.UTC().Format(time.RFC3339))
	}
	if claims.Nbf != nil {
		nbf, err := numericDate("nbf", *claims.Nbf)
		if err != nil {
			return nil, err
		}
		if now.Add(JWTLeeway).Before(nbf) {
			return nil, fmt.Errorf("%w: jwt-svid not valid before %s", ErrValidity, nbf.UTC().Format(time.RFC3339))
		}
	}
	out := &JWTSVID{ID: id, Audience: aud, Expiry: exp, KeyID: header.Kid}
	if claims.Iat != nil {
		if out.IssuedAt, err = numericDate("iat", *claims.Iat); err != nil {
			return nil, err
		}
	}
	if !slices.Contains(aud, audience) {
		return nil, fmt.Errorf("%w: jwt-svid is not addressed to %s", ErrAudience, quote(audience))
	}
	return out, nil
}

// parseAudience reads aud: a string or an array of strings, not empty.
func parseAudience(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, fmt.Errorf("%w: jwt-svid aud is empty", ErrMalformed)
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 || slices.Contains(many, "") {
		return nil, fmt.Errorf("%w: jwt-svid aud is not a string or a non-empty array of strings", ErrMalformed)
	}
	return many, nil
}

// numericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch,
// possibly fractional, within the range time.Time can hold.
func numericDate(name string, v float64) (time.Time, error) {
	if math.IsNaN(v) || v < 0 || v > 1<<53 {
		return time.Time{}, fmt.Errorf("%w: jwt-svid %s out of range", ErrMalformed, name)
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// verifyJWS checks a JWS signature of digest by key under alg.
func verifyJWS(alg jwtAlg, key crypto.PublicKey, digest, sig []byte) error {
	switch alg.kind {
	case "EC":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || (k.Curve.Params().BitSize+7)/8 != alg.size {
			return errors.New("the key does not fit the algorithm")
		}
		if len(sig) != 2*alg.size {
			return errors.New("wrong signature length")
		}
		r := new(big.Int).SetBytes(sig[:alg.size])
		s := new(big.Int).SetBytes(sig[alg.size:])
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(r)
			b.AddASN1BigInt(s)
		})
		der, err := b.Bytes()
		if err != nil || !ecdsa.VerifyASN1(k, digest, der) {
			return errors.New("signature does not verify")
		}
		return nil
	case "RSA", "PSS":
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return errors.New("the key does not fit the algorithm")
		}
		var err error
		if alg.kind == "RSA" {
			err = rsa.VerifyPKCS1v15(k, alg.hash, digest, sig)
		} else {
			err = rsa.VerifyPSS(k, alg.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if err != nil {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return errors.New("the key does not fit the algorithm")
}
