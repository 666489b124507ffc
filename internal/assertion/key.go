package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// KeyKind is the store kind of assertion signing keys. A record's key is
// the key's generation in decimal, zero-padded to ten digits so that byte
// order is generation order; its value a key record in JSON: the key id,
// when it was created, from when it signs, the public key as a JWK and the
// private scalar sealed under the KEK.
const KeyKind = "assertion-key"

// b64 is the base64url of JWS (RFC 7515 §2): no padding, and strict, so
// that each value has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// jwk is an EC public key in JWK form (RFC 7517, RFC 7518 §6.2), its
// members in the order the JWKS lists them.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// keyRecord is the stored form of a signing key.
type keyRecord struct {
	Kid     string    `json:"kid"`
	Created time.Time `json:"created"`
	Active  time.Time `json:"active"` // when it starts signing
	Public  jwk       `json:"public"`
	Private []byte    `json:"private"` // the scalar, sealed with the kid as associated data
}

// signingKey is a key loaded from the store. It prints as its kid only:
// see Format.
type signingKey struct {
	gen    int64
	kid    string
	active time.Time // signs from this time
	// until is when a later key starts signing and this one stops; zero
	// while there is none.
	until  time.Time
	priv   *ecdsa.PrivateKey
	header string // the JWS header in base64url, and the dot after it
	jwk    []byte // the key's JWKS entry
}

var (
	_ fmt.Formatter  = (*signingKey)(nil)
	_ slog.LogValuer = (*signingKey)(nil)
)

// Format prints the key id only, whatever the verb, so that no verb can
// reach the private key.
func (k *signingKey) Format(f fmt.State, _ rune) {
	io.WriteString(f, "[assertion key "+k.kid+"]")
}

// LogValue makes log/slog print the key id only.
func (k *signingKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.Int64("generation", k.gen))
}

// retires returns when the key leaves the JWKS: twice the TTL after it
// stopped signing, or never (zero) while it is the newest.
func (k *signingKey) retires(ttl time.Duration) time.Time {
	if k.until.IsZero() {
		return time.Time{}
	}
	return k.until.Add(2 * ttl)
}

func recordKey(gen int64) string { return fmt.Sprintf("%010d", gen) }

// parseRecordKey reads a generation, refusing any spelling recordKey
// would not have written.
func parseRecordKey(s string) (int64, bool) {
	gen, err := strconv.ParseInt(s, 10, 64)
	return gen, err == nil && gen > 0 && recordKey(gen) == s
}

// thumbprint returns the RFC 7638 thumbprint of a P-256 key: the base64url
// SHA-256 of its required members in lexical order.
func thumbprint(x, y string) string {
	h := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return b64.EncodeToString(h[:])
}

// publicJWK returns the JWK of pub, without kid.
func publicJWK(pub *ecdsa.PublicKey) (jwk, error) {
	pt, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(pt) != 65 {
		return jwk{}, fmt.Errorf("encode public key: %v", err)
	}
	return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:])}, nil
}

// parsePublicJWK returns the key a P-256 JWK describes.
func parsePublicJWK(j jwk) (*ecdsa.PublicKey, error) {
	if j.Kty != "EC" || j.Crv != "P-256" {
		return nil, fmt.Errorf("not a P-256 key (kty %s, crv %s)", quote(j.Kty), quote(j.Crv))
	}
	x, err1 := b64.DecodeString(j.X)
	y, err2 := b64.DecodeString(j.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("x or y is not 32 bytes of base64url")
	}
	pt := make([]byte, 0, 65)
	pt = append(append(append(pt, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
	if err != nil {
		return nil, fmt.Errorf("point not on the curve")
	}
	return pub, nil
}

// newKeyRecord makes a key and its record. The key comes from the system's
// secure source: since Go 1.26 ecdsa.GenerateKey uses no other.
func newKeyRecord(kek *secret.KEK, created, active time.Time) (*keyRecord, []byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	pub, err := publicJWK(&priv.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	r := &keyRecord{
		Kid:     thumbprint(pub.X, pub.Y),
		Created: created.UTC(),
		Active:  active.UTC(),
		Public:  pub,
	}
	scalar, err := priv.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	defer clear(scalar)
	if r.Private, err = secret.Seal(kek, scalar, []byte(r.Kid)); err != nil {
		return nil, nil, fmt.Errorf("seal private key: %w", err)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	return r, v, nil
}

// parseRecord reads a stored key without opening its private half.
func parseRecord(rec store.Record) (*keyRecord, int64, error) {
	gen, ok := parseRecordKey(rec.Key)
	if !ok {
		return nil, 0, fmt.Errorf("%w: record key %s is not a generation", ErrKeyRecord, quote(rec.Key))
	}
	var r keyRecord
	if err := json.Unmarshal(rec.Value, &r); err != nil {
		return nil, 0, fmt.Errorf("%w: generation %d: not a key record", ErrKeyRecord, gen)
	}
	if r.Active.IsZero() || len(r.Private) == 0 {
		return nil, 0, fmt.Errorf("%w: generation %d: incomplete key record", ErrKeyRecord, gen)
	}
	if _, err := parsePublicJWK(r.Public); err != nil {
		return nil, 0, fmt.Errorf("%w: generation %d: public key: %v", ErrKeyRecord, gen, err)
	}
	if r.Kid != thumbprint(r.Public.X, r.Public.Y) {
		return nil, 0, fmt.Errorf("%w: generation %d: kid is not the public key's thumbprint", ErrKeyRecord, gen)
	}
	return &r, gen, nil
}

// open unseals the private key and checks that it is the public key's
// other half. Errors name the key by generation and kid, never by content.
func (r *keyRecord) open(kek *secret.KEK, gen int64) (*ecdsa.PrivateKey, error) {
	scalar, err := secret.Open(kek, r.Private, []byte(r.Kid))
	if err != nil {
		return nil, fmt.Errorf("%w: generation %d (kid %s): %w", ErrKeyRecord, gen, r.Kid, err)
	}
	defer clear(scalar)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		return nil, fmt.Errorf("%w: generation %d (kid %s): private key is not a P-256 scalar", ErrKeyRecord, gen, r.Kid)
	}
	pub, _ := parsePublicJWK(r.Public) // parseRecord checked it
	if !priv.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("%w: generation %d (kid %s): private key does not match the public key", ErrKeyRecord, gen, r.Kid)
	}
	return priv, nil
}

// signingKey builds the in-memory key from a record and its opened private
// half; until is filled in by the caller, which sees the other keys.
func (r *keyRecord) signingKey(gen int64, priv *ecdsa.PrivateKey) *signingKey {
	header := `{"alg":"ES256","kid":` + string(appendString(nil, r.Kid)) + `,"typ":"JWT"}`
	pub := r.Public
	pub.Kid, pub.Alg, pub.Use = r.Kid, "ES256", "sig"
	entry, _ := json.Marshal(pub) // strings only: cannot fail
	return &signingKey{
		gen:    gen,
		kid:    r.Kid,
		active: r.Active,
		priv:   priv,
		header: b64.EncodeToString([]byte(header)) + ".",
		jwk:    entry,
	}
}
