package webidentity

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error Verify returns matches exactly one of them
// under errors.Is, so that STS can choose the AWS code: ErrExpired is
// ExpiredTokenException, ErrProvider is IDPCommunicationError, the others are
// InvalidIdentityToken.
var (
	// ErrConfig: New was given an invalid Config.
	ErrConfig = errors.New("webidentity: invalid config")
	// ErrMalformed: not a compact JWS, bad base64 or JSON, a required claim
	// (iss, sub, aud, exp, iat) missing or mistyped, or too long.
	ErrMalformed = errors.New("webidentity: malformed token")
	// ErrUntrustedIssuer: the "iss" claim names no configured issuer.
	ErrUntrustedIssuer = errors.New("webidentity: untrusted issuer")
	// ErrSignature: the algorithm is refused, or no key of the issuer with
	// the token's kid and a matching algorithm verifies the signature.
	ErrSignature = errors.New("webidentity: invalid signature")
	// ErrExpired: exp has passed, or nbf or iat lies in the future, beyond
	// the leeway.
	ErrExpired = errors.New("webidentity: token expired or not yet valid")
	// ErrAudience: none of the token's audiences is accepted for its issuer.
	ErrAudience = errors.New("webidentity: audience not accepted")
	// ErrProvider: the issuer's discovery document or JWKS could not be
	// fetched or used, and no fresh cached keys could stand in.
	ErrProvider = errors.New("webidentity: identity provider unavailable")
)

// quote renders an attacker-controlled value (a claim, a header field) for an
// error message: quoted, and cut short so an error stays small whatever the
// token holds. The token itself never goes into an error.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
