package pki

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error the package returns for a refused input
// matches exactly one of them under errors.Is (store failures pass through
// wrapped, classified by the store's own sentinels).
var (
	// ErrConfig: Open was given an invalid Config or import, or a caller
	// broke an API contract (a sign option that is no step, a zero time).
	ErrConfig = errors.New("pki: invalid configuration")
	// ErrCA: the CA cannot be used: its records are unreadable, sealed
	// under another KEK or inconsistent, or its signing certificate has
	// expired.
	ErrCA = errors.New("pki: ca unusable")

	// ErrMalformed: bytes that do not parse: a CSR, PEM, a certificate's
	// SAN, a JWT, a bundle.
	ErrMalformed = errors.New("pki: malformed input")
	// ErrTooLarge: an input longer than its limit, refused before parsing.
	ErrTooLarge = errors.New("pki: input too large")
	// ErrCSRSignature: a CSR whose self-signature does not verify, so it
	// proves no possession of its key.
	ErrCSRSignature = errors.New("pki: csr signature invalid")
	// ErrKeyType: a public key of a type or size the CA does not certify.
	ErrKeyType = errors.New("pki: public key not accepted")
	// ErrCARequest: a request for a certificate that could sign others
	// (basicConstraints CA:true, keyCertSign or cRLSign).
	ErrCARequest = errors.New("pki: ca certificates are not issued")
	// ErrLifetime: a lifetime that is negative or above the maximum.
	ErrLifetime = errors.New("pki: lifetime refused")
	// ErrRequest: any other refused request: no requester, no identity, a
	// CSR naming another identity than the one granted, no audience.
	ErrRequest = errors.New("pki: request refused")

	// ErrInvalidID: a SPIFFE ID or trust domain that breaks the SPIFFE-ID
	// rules.
	ErrInvalidID = errors.New("pki: invalid spiffe id")
	// ErrTrustDomain: a SPIFFE ID of another trust domain.
	ErrTrustDomain = errors.New("pki: wrong trust domain")

	// ErrNotSVID: a certificate chain that breaks the X509-SVID rules.
	ErrNotSVID = errors.New("pki: not an x509-svid")
	// ErrKeyMismatch: a private key that is not the certificate's, or no
	// private key where one is needed.
	ErrKeyMismatch = errors.New("pki: private key does not match the certificate")
	// ErrUntrusted: a chain that does not lead to an authority of the
	// bundle, or a JWT whose key the bundle does not hold.
	ErrUntrusted = errors.New("pki: not trusted")
	// ErrValidity: a certificate or token used outside its validity
	// period: expired or not yet valid.
	ErrValidity = errors.New("pki: outside validity period")
	// ErrSignature: a JWT-SVID whose algorithm is not allowed or whose
	// signature does not verify.
	ErrSignature = errors.New("pki: signature invalid")
	// ErrAudience: a JWT-SVID not addressed to the audience asked for.
	ErrAudience = errors.New("pki: wrong audience")
	// ErrRevoked: a certificate this CA revoked.
	ErrRevoked = errors.New("pki: certificate revoked")
	// ErrUnknownCert: a serial number this CA never issued.
	ErrUnknownCert = errors.New("pki: no such certificate")
)

// quote renders an untrusted value for an error message: quoted, and cut
// short so that an error stays small whatever the input holds.
func quote(s string) string {
	const max = 128
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
