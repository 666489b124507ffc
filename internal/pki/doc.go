// Package pki is ztgate's certificate authority: it issues SPIFFE
// X.509-SVIDs and other certificates from a two-tier CA, mints and
// verifies JWT-SVIDs, publishes the trust bundle in the SPIFFE bundle
// format, and revokes certificates on every node through the store's
// change feed.
//
// # Opening the CA
//
// [Open] takes a [Config] (Store, KEK, TrustDomain, Clock, Log, and
// optional lifetimes) and returns the [CA] kept in the store, creating it
// on first use: an ECDSA P-256 root and intermediate, or the CA given in
// Config.Import (a root and its key, under which ztgate makes the
// intermediate, or an intermediate with its key and its chain up to a
// root). The intermediate ztgate makes carries the URI name constraint
// spiffe://TRUST_DOMAIN. Every node may open the CA at once: each creates
// its candidate inside a transaction with [store.Tx] Create, one wins, the
// others load the winner's. Private keys are sealed under the KEK
// ([secret.Seal]), bound to their certificate by the associated data; in
// memory they are [PrivateKey] values, which print as "[REDACTED]".
//
// Records, all of kinds prefixed "pki-": [KindCA] (the CA), [KindJWTKey]
// (JWT-SVID signing keys), [KindCert] (one [CertRecord] per issued
// certificate: serial, subject, SPIFFE ID, validity, requester) and
// [KindRevoked] (one [Revocation] per revoked certificate).
//
// Call [CA.Run] in the background: it follows the change feed, so that a
// revocation or a CA change written by any node reaches this one.
//
// # Issuing
//
// [CA.IssueSVID] turns a CSR (DER) and a granted SPIFFE ID into an
// X.509-SVID; [CA.Sign] is the general path, for devices and anything
// else, taking a [Request] and extra pipeline steps. Issuance is a chain
// of small steps in the way of smallstep's sign options: request
// validators ([RequestValidator]), template modifiers ([CertModifier]) and
// certificate validators ([CertValidator]); callers add their own, and the
// CA's own limits always run last: the lifetime cap, every URI a SPIFFE
// ID of the trust domain, no CA powers, the CSR's key. Certificates get a
// random 128-bit serial, a notBefore [Backdate] in the past, key usage
// digitalSignature (plus keyEncipherment for RSA), extended key usage
// serverAuth and clientAuth. Every certificate is recorded before it is
// returned.
//
// Refusals wrap one sentinel each ([ErrMalformed], [ErrTooLarge],
// [ErrCSRSignature], [ErrKeyType], [ErrCARequest], [ErrLifetime],
// [ErrRequest], [ErrInvalidID], [ErrTrustDomain], …) with a lowercase
// message that says what was wrong; none contains a private key.
//
// # SPIFFE
//
// [ParseID] and [ParseTrustDomain] apply the SPIFFE-ID rules. [ParseSVID]
// applies the X509-SVID rules to a chain, [ParseSVIDPEM] to PEM files with
// their key, and [VerifySVID] verifies a presented chain against a
// [Bundle] at a time the caller gives; [CA.VerifySVID] does so with the
// CA's own bundle and clock and also refuses revoked certificates.
// [CA.MintJWTSVID] makes ES256 JWT-SVIDs with a key separate from the
// CA's; [VerifyJWTSVID] verifies them, or any JWT-SVID, against a bundle.
// [CA.Bundle], [CA.BundleJSON] and [CA.BundleHandler] publish the trust
// bundle (root certificates as "x509-svid" keys with x5c, JWT keys as
// "jwt-svid" keys with kid, spiffe_sequence and spiffe_refresh_hint);
// [ParseBundle] reads one.
//
// # Revocation
//
// [CA.Revoke] records a revocation by serial number; [CA.Revoked] answers
// from memory without allocating. [CA.CRL] and [CA.CRLHandler] serve a
// CRL signed by the intermediate, made anew when the revocations change.
// [CA.Prune] deletes the records of expired certificates and revocations;
// the caller schedules it.
package pki
