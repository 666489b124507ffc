package webidentity

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Verifier verifies tokens from the issuers it was configured with. It is
// safe for concurrent use.
type Verifier struct {
	issuers map[string]*issuer // by URL, read-only after New
	client  *http.Client
	clock   func() time.Time
	leeway  time.Duration
	ttl     time.Duration
	log     *slog.Logger
}

// issuer is one configured Issuer with its key cache.
type issuer struct {
	url          string
	provider     string
	jwksURL      string // configured; empty means discover
	discoveryURL string
	audiences    map[string]bool
	cache        keyCache
}

// Token is a verified token's identity.
type Token struct {
	Issuer string
	// Provider is AWS's provider id: Issuer without its scheme and
	// trailing slash, e.g. "token.example.com/path". Condition keys are
	// PROVIDER:aud, PROVIDER:sub, PROVIDER:amr.
	Provider        string
	Subject         string
	Audience        []string
	AMR             []string
	AuthorizedParty string // azp
	ID              string // jti
	IssuedAt        time.Time
	Expires         time.Time
	NotBefore       time.Time // zero when the token has no nbf
}

// Verify checks token (a compact JWS) and returns its identity. Errors
// match one of the package's sentinels and never contain the token.
//
// The order is: shape and required claims, issuer, signature, then times
// and audience, so that nothing about a token's validity window or audience
// is reported before its signature is known to be the issuer's.
func (v *Verifier) Verify(ctx context.Context, token string) (*Token, error) {
	t, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	c := &t.claims
	is := v.issuers[c.iss]
	if is == nil {
		return nil, fmt.Errorf("%w: %s", ErrUntrustedIssuer, quote(c.iss))
	}
	now := v.clock()
	if err := v.checkSignature(ctx, is, t, now); err != nil {
		return nil, err
	}
	switch {
	case now.After(c.exp.Add(v.leeway)):
		return nil, fmt.Errorf("%w: expired at %s", ErrExpired, c.exp.Format(time.RFC3339))
	case c.hasNbf && c.nbf.After(now.Add(v.leeway)):
		return nil, fmt.Errorf("%w: not valid before %s", ErrExpired, c.nbf.Format(time.RFC3339))
	case c.iat.After(now.Add(v.leeway)):
		return nil, fmt.Errorf("%w: issued in the future, at %s", ErrExpired, c.iat.Format(time.RFC3339))
	}
	if !slices.ContainsFunc(c.aud, func(a string) bool { return is.audiences[a] }) {
		return nil, fmt.Errorf("%w: none of %d accepted for %s", ErrAudience, len(c.aud), is.url)
	}
	out := &Token{
		Issuer:          is.url,
		Provider:        is.provider,
		Subject:         c.sub,
		Audience:        c.aud,
		AMR:             c.amr,
		AuthorizedParty: c.azp,
		ID:              c.jti,
		IssuedAt:        c.iat,
		Expires:         c.exp,
	}
	if c.hasNbf {
		out.NotBefore = c.nbf
	}
	return out, nil
}

// checkSignature finds the issuer's keys that may have signed t and checks
// the signature with each. An unknown kid (or, for a token without kid, no
// key that verifies) earns one refetch, rate limited per issuer.
func (v *Verifier) checkSignature(ctx context.Context, is *issuer, t *jws, now time.Time) error {
	a := algorithms[t.alg] // parseJWS refused any other
	set, err := v.keys(ctx, is, now, false)
	if set == nil {
		return err
	}
	var verdict error
	if t.kid == "" || set.kids[t.kid] {
		ok, err := verifyWith(set, t, a)
		if ok || t.kid != "" {
			// The named key is the issuer's; a new JWKS would not make
			// it verify differently.
			return err
		}
		verdict = err
	} else {
		verdict = fmt.Errorf("%w: no key with kid %s", ErrSignature, quote(t.kid))
	}
	newer, refreshErr := v.keys(ctx, is, now, true)
	switch {
	case newer == nil:
		return refreshErr
	case newer == set && refreshErr != nil:
		// The refetch failed: as far as anyone can tell the IdP, not
		// the token, is at fault.
		return refreshErr
	case newer == set:
		return verdict // the refetch was rate limited
	}
	_, err = verifyWith(newer, t, a)
	return err
}

// verifyWith reports whether one of the set's candidate keys verifies t;
// when none does, err says why.
func verifyWith(set *keySet, t *jws, a *algorithm) (bool, error) {
	cands := set.candidates(t.kid, t.alg, a)
	for _, k := range cands {
		if k.verify(a, t.signingInput, t.signature) {
			return true, nil
		}
	}
	switch {
	case t.kid != "" && !set.kids[t.kid]:
		return false, fmt.Errorf("%w: no key with kid %s", ErrSignature, quote(t.kid))
	case len(cands) == 0:
		return false, fmt.Errorf("%w: no key for alg %s", ErrSignature, t.alg)
	}
	return false, fmt.Errorf("%w: signature does not verify", ErrSignature)
}
