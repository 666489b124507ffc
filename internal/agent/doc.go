// Package agent is ztgate's host agent and the server side of its
// protocol: `ztgate agent run` joins a node once with a one-time token,
// keeps and renews its own X509-SVID, follows the registration entries
// the node holds for it, and serves the SPIFFE Workload API (package
// workload) to the processes of its host with SVIDs the node's CA
// issues; the node serves the agent API, and the administration of
// agents and entries on its control socket.
//
// # Identities
//
// An agent is spiffe://TRUST_DOMAIN/ztgate/agent/NAME, NAME being 1 to
// 63 of [a-z0-9._-] ([CheckName]). A registration entry grants a SPIFFE
// ID of the trust domain, outside the reserved /ztgate/ and /device/
// paths, to the workloads of one agent (its parent) that have all of its
// selectors (unix:uid:1000, unix:path:/usr/bin/x; [workload.ParseSelector]).
//
// # Records
//
// [KindJoinToken]: one per outstanding join token, keyed by the token's
// SHA-256; the token itself (256 random bits, shown once) is stored
// nowhere. [KindAgent]: one [AgentRecord] per agent: its SPIFFE ID, when
// it joined, its current and previous certificate serials, whether it is
// revoked. [KindEntry]: one entry per record, keyed PARENT/ID so that an
// agent's entries are one prefix scan.
//
// # The agent API
//
// [Server.Handler] serves it under [PathPrefix] on the node's TLS
// listener; requests without TLS are refused. Bodies are strict JSON of
// at most [MaxRequestBody] bytes; refusals are JSON [APIError]s with a
// code and a message written for people, never internal text.
//
//	POST join     {token, csr_pem} → {spiffe_id, chain_pem, serial, not_after, bundle}
//	POST renew    {csr_pem}        → the same, for a new key
//	GET  entries                   → {entries: [{id, spiffe_id, parent, selectors, ttl}]}
//	POST svid     {entry_id, csr_pem} → {spiffe_id, chain_pem, serial, not_after}
//	POST jwtsvid  {entry_id, audience, ttl?} → {token}
//	GET  bundle                    → the trust bundle, SPIFFE format
//
// A join checks the token, issues the agent's SVID, and then consumes
// the token and registers the agent in one store transaction, so a token
// works once however many use it at once (the losers' certificates are
// revoked before anyone sees them); an unknown, expired or used token all
// get the same refusal. Every other call authenticates the agent by its
// client certificate: an X509-SVID the CA issued and has not revoked, of
// an agent's SPIFFE ID, of a registered agent that is not revoked, and
// one of the agent's two latest certificates (so an answer to a renewal
// lost in transit locks nobody out, and older ones are refused). An agent
// gets SVIDs only for its own entries: another agent's entry is as
// unknown as a missing one. Every issuance ([audit.IssuedEvent]) and
// every refusal ([audit.AuthFailureEvent]) is audited, source
// [audit.SourcePKI]; a certificate whose record cannot be written is
// revoked and not handed out.
//
// # JWT-SVIDs
//
// A JWT-SVID is issued under an entry as an X509-SVID is, by the CA
// ([pki.CA.MintJWTSVID]), for the entry's SPIFFE ID: to 1 to
// [MaxAudiences] audiences of 1 to [MaxAudienceLen] bytes (refused if,
// JSON-escaped, they would swell the token past [pki.MaxJWTSize]), for
// the TTL asked (a Go duration; the CA's default when absent, cut to
// [pki.MaxJWTTTL]), not the entry's, which is its X509-SVIDs'. Its
// record ("IssueJWTSVID") holds the audience, the expiry and a digest
// of the token (a prefix of its SHA-256), never the token; a token whose
// record cannot be written is not handed out, since it cannot be
// revoked.
//
// # Administration
//
// [Server.ControlHandler] serves, under [ControlPrefix] on the control
// socket, join tokens, the list of agents, revocation, and entries;
// [Command] has the commands that use it ("ztgate agent token create",
// "list", "revoke", "entry create|list|delete") and "ztgate agent run".
// Revoking an agent marks it revoked, so that every node refuses its
// calls at once, and revokes its certificates through the CA
// ([pki.CA.Revoke]), so that every node refuses them wherever they are
// presented once the change feed brings the revocation.
//
// # The agent
//
// [Agent.Run] joins if it has no identity (generating its P-256 key and
// verifying the server against Config.TrustBundle, or, unsafely, trusting
// it on first use), saves its SVID and key (svid.pem, 0600) and the
// bundle, renews at half-life over mTLS, reads its entries every few
// seconds into a [workload.EntrySet], and runs [workload.Server] with an
// Issuer that asks the server for each workload SVID. While the server is
// unreachable it keeps serving what it holds; a refusal of the agent
// itself (revoked, expired) is logged once, as an error.
//
// The Issuer is also a [workload.JWTIssuer]. Each FetchJWTSVID asks the
// server for a token (none is cached), which the agent verifies against
// the bundle it holds before handing it out, reading the bundle again if
// the token's key is new to it. FetchJWTBundles answers the jwt-svid keys
// of that bundle as a JWKS document, keyed by the trust domain's name,
// and ValidateJWTSVID verifies against it ([pki.VerifyJWTSVID]) without
// asking the server: a key the agent has not seen yet verifies once the
// bundle is read again (every thirty seconds, by the Workload API).
package agent
