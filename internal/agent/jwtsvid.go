package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/workload"
)

// The JWT-SVID profile of the agent's issuer. Tokens are minted by the
// server's CA, one call per request (the Workload API caches none), so
// that each is audited where it is minted; the JWT bundle and validation
// come from the trust bundle the agent holds, with no call, so that
// validating costs the server nothing and works while it is down.

var _ workload.JWTIssuer = issuer{}

// IssueJWTSVID asks the server for a JWT-SVID under an entry of the agent
// that names spiffeID; the Workload API asks only for the IDs its
// caller's entries grant. The token is verified against the bundle held
// before it is handed out, so that a workload never gets one its own JWT
// bundle cannot verify: one signed by a key the agent has not seen yet
// makes it read the bundle again.
func (i issuer) IssueJWTSVID(ctx context.Context, spiffeID string, audience []string, ttl time.Duration) (string, error) {
	if err := checkAudience(audience); err != nil {
		return "", err
	}
	// An entry's TTL is its X509-SVIDs': any entry naming the ID will do.
	entryID := i.a.entryFor(spiffeID, 0)
	if entryID == "" {
		return "", fmt.Errorf("no registration entry of this agent names %s", spiffeID)
	}
	token, err := i.a.c.jwtsvid(ctx, entryID, audience, ttl)
	i.a.observe("jwtsvid", err)
	if err != nil {
		return "", err
	}
	svid, err := i.a.verifyJWT(token, audience[0])
	if errors.Is(err, pki.ErrUntrusted) {
		i.Bundle(ctx) // it keeps what it reads; on failure, what it held
		svid, err = i.a.verifyJWT(token, audience[0])
	}
	if err != nil {
		return "", fmt.Errorf("the jwt-svid the server issued for entry %s does not verify: %w", entryID, err)
	}
	if svid.ID.String() != spiffeID {
		return "", fmt.Errorf("the server issued a jwt-svid for %s for entry %s, not %s", quote(svid.ID.String()), entryID, spiffeID)
	}
	return token, nil
}

// JWTBundles returns the trust domain's JWT-SVID keys from the bundle
// held, as a JWKS document keyed by the trust domain's name. The Workload
// API reads it after Bundle, which refreshes the bundle.
func (i issuer) JWTBundles(context.Context) (map[string][]byte, error) {
	held := i.a.bundle.Load()
	if held == nil {
		return nil, errors.New("no trust bundle yet")
	}
	doc, err := jwks(held.b)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{held.b.TrustDomain().String(): doc}, nil
}

// ValidateJWTSVID verifies token against the bundle held, for audience,
// and returns its subject and claims.
func (i issuer) ValidateJWTSVID(_ context.Context, token, audience string) (string, map[string]any, error) {
	svid, err := i.a.verifyJWT(token, audience)
	if err != nil {
		return "", nil, err
	}
	claims, err := jwtClaims(token)
	if err != nil {
		return "", nil, err
	}
	return svid.ID.String(), claims, nil
}

func (a *Agent) verifyJWT(token, audience string) (*pki.JWTSVID, error) {
	held := a.bundle.Load()
	if held == nil {
		return nil, errors.New("no trust bundle yet")
	}
	return pki.VerifyJWTSVID(token, held.b, audience, time.Now())
}

// jwks is the JWT-SVID keys of b as a JWKS document (RFC 7517), in the
// order of their key ids, so that an unchanged bundle gives the same
// bytes. Each key keeps the SPIFFE bundle's use, "jwt-svid"; the
// x509-svid keys, which have no kid, are left out, as JWKS parsers such
// as go-spiffe's refuse them.
func jwks(b *pki.Bundle) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, kid := range b.JWTKeyIDs() {
		pub, _ := b.JWTAuthority(kid)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "jwt-svid"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwt bundle of %s: %w", b.TrustDomain(), err)
	}
	return doc, nil
}

// jwtClaims decodes the claims of a JWS in compact serialisation without
// verifying it: for a token verified already, or minted by the CA.
func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("jwt-svid is not a compact jws")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("jwt-svid payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, errors.New("jwt-svid claims are not a json object")
	}
	return claims, nil
}

// jwtExpiry reads the exp claim of a token the CA minted.
func jwtExpiry(token string) (time.Time, bool) {
	claims, err := jwtClaims(token)
	if err != nil {
		return time.Time{}, false
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0), true
}

// jwtDigest names a token in audit records without revealing it: a
// prefix of its SHA-256, enough to trace a token found in use to its
// issuance.
func jwtDigest(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:8])
}
