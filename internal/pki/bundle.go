package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// MaxBundleSize bounds a bundle ParseBundle reads.
const MaxBundleSize = 1 << 20

// Key uses of the SPIFFE bundle format.
const (
	useX509 = "x509-svid"
	useJWT  = "jwt-svid"
)

// Bundle is a trust domain's trust bundle: the X.509 authorities that
// verify its X.509-SVIDs and the keys, by key id, that verify its
// JWT-SVIDs. It is immutable.
type Bundle struct {
	td       TrustDomain
	x509     []*x509.Certificate
	roots    *x509.CertPool
	jwt      map[string]crypto.PublicKey
	kids     []string // the keys of jwt, sorted
	sequence uint64
	refresh  time.Duration
}

func newBundle(td TrustDomain, x509Authorities []*x509.Certificate, jwtKeys []*jwtKey, seq uint64, refresh time.Duration) *Bundle {
	b := &Bundle{td: td, jwt: make(map[string]crypto.PublicKey, len(jwtKeys)), sequence: seq, refresh: refresh, roots: x509.NewCertPool()}
	b.x509 = append(b.x509, x509Authorities...)
	for _, c := range b.x509 {
		b.roots.AddCert(c)
	}
	for _, k := range jwtKeys {
		b.jwt[k.kid] = k.priv.Public()
		b.kids = append(b.kids, k.kid)
	}
	slices.Sort(b.kids)
	return b
}

// TrustDomain returns the bundle's trust domain.
func (b *Bundle) TrustDomain() TrustDomain { return b.td }

// X509Authorities returns the X.509 authorities (root certificates).
func (b *Bundle) X509Authorities() []*x509.Certificate { return slices.Clone(b.x509) }

// JWTAuthority returns the JWT-SVID key with id kid.
func (b *Bundle) JWTAuthority(kid string) (crypto.PublicKey, bool) {
	k, ok := b.jwt[kid]
	return k, ok
}

// JWTKeyIDs returns the ids of the JWT-SVID keys, sorted.
func (b *Bundle) JWTKeyIDs() []string { return slices.Clone(b.kids) }

// Sequence returns spiffe_sequence: it grows whenever the CA's keys change.
func (b *Bundle) Sequence() uint64 { return b.sequence }

// RefreshHint returns spiffe_refresh_hint: how often to fetch the bundle.
func (b *Bundle) RefreshHint() time.Duration { return b.refresh }

// bundleDoc is the SPIFFE bundle format: a JWK set with two members of
// its own (SPIFFE Trust Domain and Bundle, §4).
type bundleDoc struct {
	Keys        []jwk   `json:"keys"`
	Sequence    *uint64 `json:"spiffe_sequence,omitempty"`
	RefreshHint *int64  `json:"spiffe_refresh_hint,omitempty"`
}

// Marshal returns the bundle in the SPIFFE bundle format: one key of use
// "x509-svid" per X.509 authority, its certificate in x5c, and one key of
// use "jwt-svid" per JWT key, with its kid; then spiffe_sequence and
// spiffe_refresh_hint (in seconds).
func (b *Bundle) Marshal() ([]byte, error) {
	doc := bundleDoc{Keys: []jwk{}}
	for _, c := range b.x509 {
		j, err := publicJWK(c.PublicKey)
		if err != nil {
			return nil, err
		}
		j.Use, j.X5c = useX509, []string{base64.StdEncoding.EncodeToString(c.Raw)}
		doc.Keys = append(doc.Keys, j)
	}
	for _, kid := range b.kids {
		j, err := publicJWK(b.jwt[kid])
		if err != nil {
			return nil, err
		}
		j.Use, j.Kid = useJWT, kid
		doc.Keys = append(doc.Keys, j)
	}
	seq, hint := b.sequence, int64(b.refresh/time.Second)
	doc.Sequence = &seq
	if hint > 0 {
		doc.RefreshHint = &hint
	}
	return json.Marshal(doc)
}

// ParseBundle reads a bundle of trust domain td in the SPIFFE bundle
// format. The keys member is required. An x509-svid key holds exactly one
// certificate in x5c, whose public key its JWK members must describe; a
// jwt-svid key needs a kid, unique in the bundle. Keys of other uses are
// ignored, as the format asks. Errors wrap ErrMalformed or ErrTooLarge.
func ParseBundle(td TrustDomain, data []byte) (*Bundle, error) {
	if td.IsZero() {
		return nil, fmt.Errorf("%w: bundle: no trust domain", ErrConfig)
	}
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(data), MaxBundleSize)
	}
	var doc struct {
		Keys        *[]json.RawMessage `json:"keys"`
		Sequence    *uint64            `json:"spiffe_sequence"`
		RefreshHint *int64             `json:"spiffe_refresh_hint"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: bundle is not a json key set: %v", ErrMalformed, err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: bundle has no keys member", ErrMalformed)
	}
	b := &Bundle{td: td, jwt: map[string]crypto.PublicKey{}, roots: x509.NewCertPool()}
	if doc.Sequence != nil {
		b.sequence = *doc.Sequence
	}
	if doc.RefreshHint != nil {
		if *doc.RefreshHint < 0 || *doc.RefreshHint > math.MaxInt64/int64(time.Second) {
			return nil, fmt.Errorf("%w: bundle refresh hint %d out of range", ErrMalformed, *doc.RefreshHint)
		}
		b.refresh = time.Duration(*doc.RefreshHint) * time.Second
	}
	for i, raw := range *doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("%w: bundle key %d is not a jwk: %v", ErrMalformed, i, err)
		}
		switch j.Use {
		case useX509:
			c, err := j.x509Authority()
			if err != nil {
				return nil, fmt.Errorf("%w: bundle key %d (x509-svid): %v", ErrMalformed, i, err)
			}
			if !slices.ContainsFunc(b.x509, c.Equal) {
				b.x509 = append(b.x509, c)
				b.roots.AddCert(c)
			}
		case useJWT:
			if j.Kid == "" {
				return nil, fmt.Errorf("%w: bundle key %d (jwt-svid) has no kid", ErrMalformed, i)
			}
			if _, dup := b.jwt[j.Kid]; dup {
				return nil, fmt.Errorf("%w: bundle key %d (jwt-svid): kid %s appears twice", ErrMalformed, i, quote(j.Kid))
			}
			pub, err := j.publicKey()
			if err != nil {
				return nil, fmt.Errorf("%w: bundle key %d (jwt-svid): %v", ErrMalformed, i, err)
			}
			b.jwt[j.Kid] = pub
			b.kids = append(b.kids, j.Kid)
		}
	}
	slices.Sort(b.kids)
	return b, nil
}

// x509Authority reads an x509-svid key: one certificate, described by the
// key's own members.
func (j *jwk) x509Authority() (*x509.Certificate, error) {
	if len(j.X5c) != 1 {
		return nil, fmt.Errorf("x5c must hold exactly one certificate, holds %d", len(j.X5c))
	}
	der, err := base64.StdEncoding.DecodeString(j.X5c[0])
	if err != nil {
		return nil, fmt.Errorf("x5c is not base64")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("x5c: %v", err)
	}
	pub, err := j.publicKey()
	if err != nil {
		return nil, err
	}
	if !sameKey(pub, c.PublicKey) {
		return nil, fmt.Errorf("the key members do not describe the x5c certificate's key")
	}
	return c, nil
}

// BundleHandler serves the CA's trust bundle in the SPIFFE bundle format,
// for GET and HEAD; its ETag is the bundle's sequence number.
func (ca *CA) BundleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		m := ca.mat.Load()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("ETag", `"`+strconv.FormatUint(m.bundle.sequence, 10)+`"`)
		h.Set("Cache-Control", "max-age="+strconv.Itoa(int(m.bundle.refresh/2/time.Second)))
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(m.json))
	})
}

// Bundle returns the CA's trust bundle.
func (ca *CA) Bundle() *Bundle { return ca.mat.Load().bundle }

// BundleJSON returns the CA's trust bundle in the SPIFFE bundle format.
func (ca *CA) BundleJSON() []byte { return bytes.Clone(ca.mat.Load().json) }
