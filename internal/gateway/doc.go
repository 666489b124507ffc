// Package gateway is ztgate's identity-aware reverse proxy: the HTTP
// policy enforcement point. Every request is decided before it reaches an
// upstream:
//
//  1. its path is checked and made canonical ([CanonicalPath]) and its
//     host normalised ([CanonicalHost]); anything ambiguous is refused,
//     never silently rewritten;
//  2. it is matched to a [Route] by host and path prefix;
//  3. it is authenticated by the route's methods ([Authenticator]), or
//     treated as anonymous on a public route;
//  4. its condition context is completed (source address, transport,
//     time, route, host, path) and the action "http:METHOD" on
//     [ResourceARN] is decided ([Decider]);
//  5. the decision is audited — a record that cannot be written refuses
//     the request;
//  6. it is refused in the client's format (HTML, JSON or AWS XML), or
//     forwarded with the client's identity headers removed and a signed
//     identity assertion ([Asserter]) added.
//
// The one rule behind the path checks: the path the policy decides on is
// exactly the path the upstream receives. The upstream gets the decided
// path re-encoded in one canonical way, so that it decodes to the same
// bytes the policy saw.
//
// Authentication, decisions and assertions are implemented elsewhere and
// plugged in through the small interfaces defined here.
package gateway
