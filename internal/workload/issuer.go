package workload

import (
	"context"
	"crypto/x509"
	"time"
)

// Issuer signs SVIDs and knows the trust bundle. The agent implements it
// by asking the server; the Workload API owns no CA.
type Issuer interface {
	// IssueX509SVID signs csrDER for spiffeID with ttl; chain[0] is the
	// leaf, any intermediates follow.
	IssueX509SVID(ctx context.Context, csrDER []byte, spiffeID string, ttl time.Duration) (chain []*x509.Certificate, err error)
	// Bundle is the trust domain's current X.509 authorities. trustDomain
	// may be a name ("example.org") or its SPIFFE ID form.
	Bundle(ctx context.Context) (trustDomain string, authorities []*x509.Certificate, err error)
}

// JWTIssuer is implemented by an Issuer that also serves the JWT-SVID
// profile. Without it, the JWT methods of the Workload API answer
// Unimplemented. It is found by a type assertion on Config.Issuer, so that
// one agent-side client of the server provides both profiles.
type JWTIssuer interface {
	// IssueJWTSVID signs a JWT-SVID for spiffeID with the audience and
	// lifetime given, in JWS compact serialisation.
	IssueJWTSVID(ctx context.Context, spiffeID string, audience []string, ttl time.Duration) (token string, err error)
	// JWTBundles returns the JWT authorities as JWKS documents, keyed by
	// trust domain (name or SPIFFE ID form).
	JWTBundles(ctx context.Context) (map[string][]byte, error)
	// ValidateJWTSVID checks token's signature, expiry and that audience
	// is one of its audiences, and returns its subject and claims. An
	// invalid token is an error.
	ValidateJWTSVID(ctx context.Context, token, audience string) (spiffeID string, claims map[string]any, err error)
}
