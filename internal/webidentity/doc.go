// Package webidentity verifies OpenID Connect ID tokens from trusted issuers,
// for STS AssumeRoleWithWebIdentity: a CI job or a Kubernetes service account
// presents a token its identity provider signed, and ztgate exchanges it for
// temporary credentials without any stored secret.
//
// A Verifier accepts only compact JWS tokens whose "iss" is a configured
// issuer, signed with an asymmetric algorithm by a key that issuer publishes
// in its JWKS, currently valid (exp, nbf, iat within a leeway) and addressed
// to one of the issuer's audiences. Keys are discovered through
// /.well-known/openid-configuration unless a JWKS URL is configured, cached
// for a TTL, and refetched on an unknown key id at most once per 30 seconds
// per issuer, so a flood of forged tokens cannot make ztgate hammer an
// identity provider.
//
// Failures are classified by sentinel errors (ErrMalformed, ErrSignature,
// ErrExpired, ...) that STS maps to AWS error codes; no error text ever
// contains the token.
//
// JWS and JWK handling uses the standard library rather than go-jose: the
// profile accepted here is narrow (compact serialization, signatures only,
// keys only from the issuer's JWKS), and writing it out keeps every
// acceptance rule in view: the key decides which algorithm may be used, no
// header can point at its own key (jwk, jku, x5u, x5c are ignored), "crit" is
// refused, base64 is strict, JSON member names match exactly and duplicates
// are refused (encoding/json matches struct fields case-insensitively, so
// {"ISS": ...} would otherwise alias "iss"), and the hot path allocates
// little. go-jose is used by the tests to sign tokens and publish keys, as an
// independent implementation.
package webidentity
