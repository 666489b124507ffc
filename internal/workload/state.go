package workload

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"maps"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// state is what the Workload API serves at one moment. It is immutable once
// published; the rotator publishes a new one whenever entries, SVIDs or
// bundles change and closes the old one's changed channel, which wakes
// every open stream to re-evaluate its workload against the new state.
type state struct {
	entries    []*entry             // in the source's order
	svids      map[string]*x509SVID // by entry ID
	attempted  map[string]bool      // entries whose first issuance has been tried
	bundle     *x509Bundle          // nil until first read
	jwtBundles *jwtBundles          // nil until first read, or without a JWTIssuer
	changed    chan struct{}
}

// x509Bundle is the trust domain's X.509 authorities.
type x509Bundle struct {
	td          spiffeid.TrustDomain
	authorities []*x509.Certificate
	der         []byte // concatenated DER, as the Workload API sends it
}

func newX509Bundle(trustDomain string, authorities []*x509.Certificate) (*x509Bundle, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, fmt.Errorf("trust domain: %w", err)
	}
	if len(authorities) == 0 {
		return nil, fmt.Errorf("trust bundle of %s has no authorities", td)
	}
	b := &x509Bundle{td: td, authorities: authorities}
	for _, a := range authorities {
		if a == nil {
			return nil, fmt.Errorf("trust bundle of %s has a nil authority", td)
		}
		b.der = append(b.der, a.Raw...)
	}
	return b, nil
}

func (b *x509Bundle) equal(o *x509Bundle) bool {
	return b != nil && o != nil && b.td == o.td && bytes.Equal(b.der, o.der)
}

// jwtBundles are JWKS documents keyed by trust domain SPIFFE ID.
type jwtBundles struct {
	byTD map[string][]byte
}

func newJWTBundles(in map[string][]byte) (*jwtBundles, error) {
	out := &jwtBundles{byTD: make(map[string][]byte, len(in))}
	for k, v := range in {
		td, err := spiffeid.TrustDomainFromString(k)
		if err != nil {
			return nil, fmt.Errorf("jwt bundle trust domain: %w", err)
		}
		out.byTD[td.IDString()] = bytes.Clone(v)
	}
	return out, nil
}

func (b *jwtBundles) equal(o *jwtBundles) bool {
	return b != nil && o != nil && maps.EqualFunc(b.byTD, o.byTD, bytes.Equal)
}

// match returns the entries the workload matches, in order.
func (st *state) match(w selectorSet) []*entry {
	var out []*entry
	for _, e := range st.entries {
		if e.matches(w) {
			out = append(out, e)
		}
	}
	return out
}

// x509SVIDs returns the unexpired SVIDs for matched entries, in entry
// order, once they are ready to send: the bundle is known and every
// matched entry's first issuance has been tried (so that the default, the
// first entry's SVID, does not change merely because a later entry was
// signed sooner). ready is false before that; ready with no SVIDs means
// none could be issued, or the last ones expired unrenewed.
func (st *state) x509SVIDs(matched []*entry, now time.Time) (svids []*x509SVID, ready bool) {
	if st.bundle == nil {
		return nil, false
	}
	var out []*x509SVID
	for _, e := range matched {
		if !st.attempted[e.id] {
			return nil, false
		}
		if s := st.svids[e.id]; s != nil && now.Before(s.expires) {
			out = append(out, s)
		}
	}
	return out, true
}
