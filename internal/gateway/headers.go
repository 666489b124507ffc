package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// AssertionHeader carries the signed identity assertion to the upstream.
const AssertionHeader = "X-Ztgate-Assertion"

// SessionCookie is ztgate's browser session cookie; it never reaches an
// upstream.
const SessionCookie = "__Host-ztgate"

// Identity headers that upstreams (or the proxies they were written for)
// believe: the gateway removes every one a client sends, before anything
// reads the request. Names compare case-insensitively with "_" as "-",
// since CGI-style servers read X_Forwarded_User as X-Forwarded-User.
var (
	identityExact = []string{
		"x-forwarded-user", "x-forwarded-email", "x-forwarded-groups",
		"x-forwarded-preferred-username", "x-forwarded-access-token",
		"x-remote-user", "remote-user", "x-remote-group", "x-remote-groups", "x-remote-email",
	}
	identityPrefixes = []string{
		"x-ztgate-", "x-auth-request-", "x-amzn-oidc-", "x-goog-authenticated-", "x-webauth-",
		// client certificates, as TLS-terminating proxies pass them on
		"x-client-cert", "x-ssl-client-", "ssl-client-", "x-arr-clientcert", "x-amzn-mtls-",
	}
)

// Headers that tell an upstream where a request came from or how it
// reached the proxy, or that make frameworks act on another method or
// path than the request's own. The gateway sets X-Forwarded-For, -Proto
// and -Host itself; it removes every other one a client sends from the
// upstream's request, so that no upstream acts on a client address, a
// scheme, a method or a path the policy did not decide on.
var (
	forwardingExact = []string{
		"forwarded", "x-real-ip", "true-client-ip", "x-client-ip", "x-cluster-client-ip", "client-ip",
		"cf-connecting-ip", "fastly-client-ip", "x-originating-ip", "x-remote-ip", "x-remote-addr",
		"x-proxyuser-ip", "x-rewrite-url", "x-host", "x-scheme", "x-url-scheme", "front-end-https",
		"x-http-method-override", "x-http-method", "x-method-override",
	}
	forwardingPrefixes = []string{"x-forwarded-", "x-original-", "x-envoy-"}
)

// identityHeader reports whether a header name is one of the identity
// headers above.
func identityHeader(k string) bool { return headerIn(k, identityExact, identityPrefixes) }

// forwardingHeader reports whether a header name is one of the
// forwarding or override headers above.
func forwardingHeader(k string) bool { return headerIn(k, forwardingExact, forwardingPrefixes) }

// headerIn reports whether k is one of exact, or starts with one of
// prefixes, in any case and with "_" for "-".
func headerIn(k string, exact, prefixes []string) bool {
	if k == "" || !headerInitials[k[0]] {
		return false
	}
	for _, n := range exact {
		if len(k) == len(n) && foldDash(k, n) {
			return true
		}
	}
	for _, p := range prefixes {
		if len(k) >= len(p) && foldDash(k[:len(p)], p) {
			return true
		}
	}
	return false
}

// headerInitials are the first letters of the names above, in both cases.
var headerInitials = func() (t [256]bool) {
	for _, l := range [][]string{identityExact, identityPrefixes, forwardingExact, forwardingPrefixes} {
		for _, n := range l {
			t[n[0]], t[n[0]-'a'+'A'] = true, true
		}
	}
	return t
}()

// stripForwarding removes the forwarding and override headers from h.
func stripForwarding(h http.Header) {
	for k := range h {
		if forwardingHeader(k) {
			delete(h, k)
		}
	}
}

// foldDash compares s with want (lower case, dashes), ignoring case and
// reading "_" as "-".
func foldDash(s, want string) bool {
	for i := 0; i < len(want); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// withoutIdentityHeaders returns h without the identity headers: h itself
// when it has none, else a copy.
func withoutIdentityHeaders(h http.Header) http.Header {
	found := false
	for k := range h {
		if identityHeader(k) {
			found = true
			break
		}
	}
	if !found {
		return h
	}
	out := make(http.Header, len(h))
	for k, v := range h {
		if !identityHeader(k) {
			out[k] = v
		}
	}
	return out
}

// stripCookie removes the cookie named name from h's Cookie headers,
// keeping every other cookie as sent.
func stripCookie(h http.Header, name string) {
	vs := h["Cookie"]
	changed := false
	for _, v := range vs {
		if strings.Contains(v, name) {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if !strings.Contains(v, name) {
			out = append(out, v)
			continue
		}
		var kept []string
		for part := range strings.SplitSeq(v, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(n) == name {
				continue
			}
			kept = append(kept, part)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// stripSigningParams removes SigV4's query authentication parameters
// (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
// -Signature, -Security-Token) from a raw query, leaving every other
// parameter as sent, in order.
func stripSigningParams(q string) string {
	if !containsFold(q, "x-amz-") {
		return q
	}
	var b strings.Builder
	for part := range strings.SplitSeq(q, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && signingParam(uk) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}

func signingParam(k string) bool {
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"} {
		if strings.EqualFold(k, p) {
			return true
		}
	}
	return false
}
