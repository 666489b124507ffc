// Package signin is how people sign in to ztgate's gateway, and their
// server-side sessions.
//
// # Sessions
//
// A session is a record in the store (kind "signin-session", keyed by a
// random id) holding who signed in (principal ARN, user id, name, email,
// groups), how (methods, MFA, IdP), when (auth time, created, last seen),
// until when (an idle and an absolute limit), the IdP's session id for
// back-channel logout, and whether it was revoked. The browser holds only
// the cookie "__Host-ztgate": the session id and the absolute expiry
// sealed under the key-encryption key ([secret.Seal], AES-GCM with the
// cookie's name as associated data), so a cookie cannot be forged or
// altered, and one sealed for another cookie name or purpose is refused.
// The id itself is not secret: it appears in audit records and is what an
// administrator revokes.
//
// [Service.Authenticate] reads sessions through an in-memory cache that
// [Service.Run] keeps valid by following the store's change feed: a
// session revoked on any node is refused on the next request on every node
// once the feed has delivered the change (milliseconds); a node that
// revokes waits for its own feed before answering. Without Run the cache
// is not used and every request reads the store.
//
// Index records (kind "signin-index") find a principal's sessions, an
// IdP's sessions by "sid" or "sub", and a passkey's user by its user
// handle; they are written and deleted in the same transactions as what
// they point to.
//
// # Local users
//
// A person signing in without an external IdP is an IAM user of package
// iam plus a record of kind "signin-credential" (keyed by the user name,
// bound to the IAM user's id so that credentials never pass to a new user
// of the same name): an argon2id password hash, an optional TOTP secret
// sealed under the KEK (RFC 6238: 30 s, six digits, one step either side,
// and no time step accepted twice), and passkeys (WebAuthn discoverable
// credentials; the RP ID is the host's registrable name).
//
// # OIDC
//
// Each configured [IdP] signs people in with the authorization code flow
// (PKCE S256, state, nonce); their sessions' principal is
// arn:zt:sts::ACCOUNT:assumed-role/ROLE/NAME, where NAME is the verified
// email or else the subject, reduced to [\w+=,.@-]{2,64}. Refresh tokens
// are kept sealed and used before the ID token expires; a refresh the IdP
// refuses ends the session. Logout redirects to the IdP's
// end_session_endpoint; the IdP's back-channel logout tokens revoke the
// sessions they name.
//
// # Pages
//
// [Service.Handler] serves everything under "/.ztgate/" on any host: the
// sign-in, TOTP, passkey, enrollment and logout pages and endpoints. Pages
// use no external assets and a strict Content-Security-Policy; every
// state-changing request is checked for its origin and carries a CSRF
// token; return URLs (?rd=) must stay on the request's host or on a
// configured host. Failed sign-ins are rate-limited per user and per
// client address, audited, and answered the same way whether or not the
// user exists.
package signin
