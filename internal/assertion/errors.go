package assertion

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error Verify returns matches exactly one of
// ErrMalformed, ErrSignature, ErrExpired, ErrAudience and ErrKeySet under
// errors.Is.
var (
	// ErrMalformed: not a compact JWS, bad base64 or JSON, a header
	// parameter or a required claim (iss, sub, aud, exp, iat) missing or
	// mistyped, or too long.
	ErrMalformed = errors.New("assertion: malformed token")
	// ErrSignature: the alg is not ES256, the kid names no key of the set,
	// or the signature does not verify.
	ErrSignature = errors.New("assertion: invalid signature")
	// ErrExpired: exp has passed, or nbf or iat lies in the future, beyond
	// the leeway.
	ErrExpired = errors.New("assertion: token expired or not yet valid")
	// ErrAudience: the token is not addressed to the audience asked for.
	ErrAudience = errors.New("assertion: wrong audience")
	// ErrKeySet: the JWKS given to Verify or ParseJWKS is not one.
	ErrKeySet = errors.New("assertion: invalid key set")

	// ErrConfig: New was given an invalid Config.
	ErrConfig = errors.New("assertion: invalid config")
	// ErrClaims: Sign was given claims it cannot sign (no subject or
	// audience, a device map that is not JSON, expiry before issue).
	ErrClaims = errors.New("assertion: invalid claims")
	// ErrKeyRecord: a key record in the store cannot be used (unreadable,
	// sealed under another KEK, its halves do not match).
	ErrKeyRecord = errors.New("assertion: unusable key record")
)

// quote renders an attacker-controlled value (a header parameter, a kid) for
// an error message: quoted, and cut short so an error stays small whatever
// the token holds. The token itself never goes into an error.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
