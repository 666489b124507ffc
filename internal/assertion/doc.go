// Package assertion signs the identity assertions the gateway forwards with
// each allowed request, and publishes the keys that verify them, so that an
// upstream app can trust who is calling without trusting any header a client
// could set.
//
// # Assertions
//
// An assertion is a JWT: a compact JWS signed with ES256 (ECDSA P-256,
// SHA-256), its header {"alg":"ES256","kid":...,"typ":"JWT"}. Its claims are
// the registered iss, sub (the principal's ARN), aud (the route's ARN), exp,
// iat and jti; auth_time, sid, name, email and groups as OpenID Connect
// spells them; and principal_id, account, auth_method and device, which are
// ztgate's own. Times are whole seconds. An assertion lives for a short TTL
// (five minutes by default) and is addressed to one route, so one captured
// from an upstream is worth little elsewhere and soon worth nothing.
//
// [Verify] and [KeySet] check assertions for upstreams written in Go, and
// for the tests: alg must be ES256 exactly ("none", HS256 and the rest are
// refused before any key is looked at), the kid must name a key of the set,
// the signature is checked before the claims are read, then exp, nbf and iat
// with 30 seconds of leeway, then aud. Errors match one sentinel
// ([ErrMalformed], [ErrSignature], [ErrExpired], [ErrAudience], [ErrKeySet])
// and never contain the token.
//
// # Keys
//
// Signing keys live in the store as records of kind [KeyKind], one per key,
// keyed by a generation number: the first key is generation 1 and each
// rotation takes the next. Two nodes that start, or find a rotation due, at
// the same moment both try to create the same generation with [store.Tx]
// Create; one wins, the other gets [store.ErrExists], re-reads and uses the
// winner's key, so a cluster converges on one signing key without a lock.
// (An emergency [Signer.Rotate] that loses takes the next generation
// instead: it was asked for a key that signs now.) A record holds
// the public key in clear (a JWK) and the private scalar sealed under the
// KEK with [secret.Seal], the key id as associated data, so that a sealed key
// cannot be moved to another record. The key id is the key's RFC 7638 JWK
// thumbprint.
//
// Each key has a time from which it signs. Scheduled rotation
// ([Signer.Maintain], run by [Signer.Run]) creates the next key ten minutes
// before it starts signing: twice the JWKS's max-age, so that an upstream
// that cached the key set just before the new key appeared has refetched it
// before the first token signed with that key arrives. [Signer.Rotate] is for
// emergencies: its key signs at once, and an upstream with a cached key set
// may refuse new tokens until it refetches (at most five minutes, sooner if
// it refetches on an unknown kid). A key stops signing when a later key
// starts; it stays in the JWKS for twice the TTL after that (the tokens it
// signed last expire within one TTL; the other is margin for the time a
// node takes to see a newer key), then Maintain deletes its record. Run
// also follows the store's change feed and reloads the keys whenever any
// node writes one, so a node learns of another's rotation within the feed's
// latency.
//
// The private keys never appear in logs or errors: records hold them sealed,
// and the types that hold them in memory print as their key id.
//
// # Reuse
//
// An ECDSA signature costs tens of microseconds; a session's requests to one
// route share one assertion through [Signer.Cached] until half its lifetime
// has passed, so a busy session pays one signature every few minutes per
// route rather than one per request.
package assertion
