package gateway

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

func appARN(path string) string { return ResourceARN(testAccount, "app", path) }

// appHarness: route "app" on any host, prefix /app, one recording
// upstream; alice may do anything under /app/, /app/secret is explicitly
// denied to everyone.
func appHarness(t *testing.T, mod func(*Config, *Route)) (*harness, *recorder) {
	t.Helper()
	up := newRecorder(t, "app")
	rt := Route{Name: "app", PathPrefix: "/app", Upstreams: []*url.URL{up.URL()}}
	cfg := Config{
		Decider:  &prefixDecider{allow: []string{appARN("/app/")}, deny: []string{appARN("/app/secret")}},
		Asserter: &fakeAsserter{},
		LoginURL: func(*http.Request) string { return "https://login.example.com/signin?x=1" },
	}
	if mod != nil {
		mod(&cfg, &rt)
	}
	cfg.Routes = append([]Route{rt}, cfg.Routes...)
	return newHarness(t, cfg), up
}

func bearer(name string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + name}
}

func TestAllowed(t *testing.T) {
	h, up := appHarness(t, nil)
	resp, body := h.do("GET", "/app/x?q=1", map[string]string{"Authorization": "Bearer alice", "User-Agent": "test-agent/1"}, nil)
	if resp.StatusCode != 200 || body != "hello from app" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	rid := resp.Header.Get("X-Request-Id")
	if len(rid) != 36 {
		t.Fatalf("X-Request-Id %q", rid)
	}
	got, ok := up.byID(rid)
	if !ok {
		t.Fatal("the upstream did not get the request")
	}
	if got.RequestURI != "/app/x?q=1" {
		t.Errorf("upstream got %q", got.RequestURI)
	}
	if a := got.Header.Get(AssertionHeader); a != "assert:app:arn:zt:iam::111122223333:user/alice" {
		t.Errorf("assertion %q", a)
	}
	if got.Header.Get("Authorization") != "" {
		t.Error("the bearer token reached the upstream")
	}
	if got.Host != up.Listener.Addr().String() {
		t.Errorf("upstream Host %q", got.Host)
	}

	recs := h.audit.Records()
	if len(recs) != 1 {
		t.Fatalf("%d audit records", len(recs))
	}
	r := recs[0]
	want := audit.Record{
		EventSource: audit.SourceGateway, EventName: "GET", RequestID: rid, SourceIPAddress: "127.0.0.1",
		UserAgent: "test-agent/1", ReadOnly: true,
	}
	if r.EventSource != want.EventSource || r.EventName != want.EventName || r.RequestID != want.RequestID ||
		r.SourceIPAddress != want.SourceIPAddress || r.UserAgent != want.UserAgent || !r.ReadOnly || r.ErrorCode != "" {
		t.Errorf("record %+v", r)
	}
	if r.UserIdentity.Type != "IAMUser" || r.UserIdentity.ARN != "arn:zt:iam::111122223333:user/alice" || r.UserIdentity.UserName != "alice" {
		t.Errorf("identity %+v", r.UserIdentity)
	}
	if len(r.Resources) != 1 || r.Resources[0].ARN != "arn:zt:gateway::111122223333:route/app/app/x" {
		t.Errorf("resources %+v", r.Resources)
	}
	z := r.ZTGate
	if z.Category != audit.CategoryDecision || z.Decision != audit.Allowed || z.Action != "http:GET" || z.Route != "app" ||
		z.AuthMethod != "jwt" || z.ReportOnly {
		t.Errorf("ztgate block %+v", z)
	}
	if n := testutil.ToFloat64(h.metrics.decisions.WithLabelValues("app", "allowed")); n != 1 {
		t.Errorf("allowed decisions %v", n)
	}
	h.waitRequests("app", "GET", "200", 1)
}

func TestDenied(t *testing.T) {
	h, up := appHarness(t, nil)
	for _, tc := range []struct {
		name, path, decision, msg string
	}{
		{"implicit", "/app", audit.ImplicitDeny, "User: arn:zt:iam::111122223333:user/alice is not authorized to perform: http:GET on this resource."},
		{"explicit", "/app/secret/x", audit.ExplicitDeny, "User: arn:zt:iam::111122223333:user/alice is not authorized to perform: http:GET on this resource with an explicit deny."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do("GET", tc.path, bearer("alice"), nil)
			if resp.StatusCode != 403 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var e struct{ Code, Message, RequestID string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatal(err, body)
			}
			rid := resp.Header.Get("X-Request-Id")
			if e.Code != "AccessDenied" || e.Message != tc.msg || e.RequestID != rid {
				t.Errorf("refusal %+v", e)
			}
			if _, ok := up.byID(rid); ok {
				t.Error("a denied request reached the upstream")
			}
			r, ok := h.record(rid)
			if !ok || r.ZTGate.Decision != tc.decision || r.ErrorCode != "AccessDenied" || r.ZTGate.ReportOnly {
				t.Errorf("record %+v %+v", r, r.ZTGate)
			}
			if n := testutil.ToFloat64(h.metrics.decisions.WithLabelValues("app", tc.decision)); n != 1 {
				t.Errorf("%s decisions: %v", tc.decision, n)
			}
		})
	}
}

func TestReportOnly(t *testing.T) {
	h, up := appHarness(t, func(_ *Config, rt *Route) { rt.ReportOnly = true })
	resp, _ := h.do("GET", "/app/secret", bearer("alice"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rid := resp.Header.Get("X-Request-Id")
	if _, ok := up.byID(rid); !ok {
		t.Fatal("a report-only denial was not forwarded")
	}
	r, _ := h.record(rid)
	if r.ZTGate == nil || r.ZTGate.Decision != audit.ExplicitDeny || !r.ZTGate.ReportOnly || r.ErrorCode != "" {
		t.Errorf("record %+v", r)
	}
	if n := testutil.ToFloat64(h.metrics.decisions.WithLabelValues("app", "reportOnly")); n != 1 {
		t.Errorf("reportOnly decisions %v", n)
	}
	// An allowed request on a report-only route is simply allowed.
	resp, _ = h.do("GET", "/app/ok", bearer("alice"), nil)
	r, _ = h.record(resp.Header.Get("X-Request-Id"))
	if r.ZTGate.Decision != audit.Allowed || r.ZTGate.ReportOnly {
		t.Errorf("record %+v", r.ZTGate)
	}
}

func TestPublic(t *testing.T) {
	h, up := appHarness(t, func(c *Config, rt *Route) {
		rt.Public = true
		c.Decider = &prefixDecider{allow: []string{appARN("/app/open")}}
	})
	resp, _ := h.do("GET", "/app/open", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rid := resp.Header.Get("X-Request-Id")
	got, _ := up.byID(rid)
	if a := got.Header.Get(AssertionHeader); a != "assert:app:anonymous" {
		t.Errorf("assertion %q", a)
	}
	r, _ := h.record(rid)
	if r.UserIdentity.Type != "Anonymous" || r.ZTGate.AuthMethod != "" || r.ZTGate.Decision != audit.Allowed {
		t.Errorf("record %+v %+v", r.UserIdentity, r.ZTGate)
	}
	d := h.dec.decisions()
	if last := d[len(d)-1]; last.principal != "" || ctxValue(last, "aws:PrincipalArn") != "" {
		t.Errorf("anonymous decision %+v", last)
	}
	// Public is not open: the anonymous principal is decided too.
	resp, _ = h.do("GET", "/app/closed", nil, nil)
	if resp.StatusCode != 403 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// Credentials on a public route are still used.
	resp, _ = h.do("GET", "/app/closed", bearer("alice"), nil)
	r, _ = h.record(resp.Header.Get("X-Request-Id"))
	if r.UserIdentity.ARN != "arn:zt:iam::111122223333:user/alice" {
		t.Errorf("identity %+v", r.UserIdentity)
	}
	// Bad credentials on a public route are refused, not downgraded.
	resp, _ = h.do("GET", "/app/open", bearer("mallory"), nil)
	if resp.StatusCode != 401 {
		t.Errorf("bad credentials on a public route: status %d", resp.StatusCode)
	}
}

func TestUnauthenticated(t *testing.T) {
	h, up := appHarness(t, nil)
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}

	resp, _ := h.do("GET", "/app/x%41?q=1&r=%2F", html, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("browser: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	host := h.srv.Listener.Addr().String()
	if loc.Host != "login.example.com" || loc.Query().Get("x") != "1" ||
		loc.Query().Get(ReturnToParam) != "http://"+host+"/app/xA?q=1&r=%2F" {
		t.Errorf("Location %s", loc)
	}

	// Not a page load: no redirect.
	resp, body := h.do("POST", "/app/x", html, strings.NewReader("a=1"))
	if resp.StatusCode != 401 || !strings.Contains(body, "<!DOCTYPE html>") {
		t.Errorf("browser POST: %d %q", resp.StatusCode, body)
	}
	resp, body = h.do("GET", "/app/x", nil, nil)
	if resp.StatusCode != 401 || !strings.Contains(body, `"code":"Unauthenticated"`) {
		t.Errorf("API client: %d %q", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d requests reached the upstream", n)
	}
	if n := len(h.audit.Records()); n != 0 {
		t.Errorf("%d audit records for requests without credentials", n)
	}

	// Without a login URL browsers get the page.
	h2, _ := appHarness(t, func(c *Config, _ *Route) { c.LoginURL = nil })
	resp, body = h2.do("GET", "/app/x", html, nil)
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("no login URL: %d %q", resp.StatusCode, body)
	}
}

func TestBadCredentials(t *testing.T) {
	h, up := appHarness(t, nil)
	resp, body := h.do("GET", "/app/x", map[string]string{"Authorization": "Bearer mallory", "Accept": "text/html"}, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(body, "<b>") || !strings.Contains(body, "The credentials &lt;b&gt;&amp;&lt;/b&gt; are not valid.") {
		t.Errorf("the refusal was not escaped: %s", body)
	}
	if strings.Contains(body, "mallory") {
		t.Error("the refusal echoes the credential")
	}
	rid := resp.Header.Get("X-Request-Id")
	r, ok := h.record(rid)
	if !ok || r.ZTGate.Category != audit.CategoryAuthFail || r.ErrorCode != "InvalidCredentials" || r.ZTGate.AuthMethod != "jwt" {
		t.Errorf("record %+v", r)
	}
	if len(up.requests()) != 0 {
		t.Error("the upstream was reached")
	}
	// An authenticator's own failure is a 500 without its text.
	resp, body = h.do("GET", "/app/x", bearer("boom"), nil)
	if resp.StatusCode != 500 || strings.Contains(body, "key store") {
		t.Errorf("internal failure: %d %s", resp.StatusCode, body)
	}
}

func TestRefusalFormats(t *testing.T) {
	h, _ := appHarness(t, func(c *Config, _ *Route) { c.LoginURL = nil })
	for _, tc := range []struct {
		name   string
		target string
		header map[string]string
		ctype  string
		check  func(t *testing.T, body, rid string)
	}{
		{"json", "/app/x", nil, "application/json", func(t *testing.T, body, rid string) {
			var e map[string]string
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["code"] != "Unauthenticated" || e["requestId"] != rid {
				t.Errorf("%v %q", err, body)
			}
		}},
		{"html", "/app/x", map[string]string{"Accept": "text/html"}, "text/html; charset=utf-8", func(t *testing.T, body, rid string) {
			if !strings.Contains(body, "<h1>401 Unauthorized</h1>") || !strings.Contains(body, "<code>"+rid+"</code>") {
				t.Errorf("%q", body)
			}
		}},
		{"sigv4 authorization", "/app/x", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=mallory/20260301/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=00"},
			"text/xml", xmlCheck("InvalidCredentials")},
		{"x-amz header", "/app/x", map[string]string{"X-Amz-Date": "20260301T000000Z"}, "text/xml", xmlCheck("Unauthenticated")},
		{"presigned", "/app/x?X-Amz-Credential=a%2Fb&X-Amz-Signature=00", nil, "text/xml", xmlCheck("Unauthenticated")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do("GET", tc.target, tc.header, nil)
			if resp.StatusCode != 401 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", resp.Header)
			}
			tc.check(t, body, resp.Header.Get("X-Request-Id"))
		})
	}
}

func xmlCheck(code string) func(t *testing.T, body, rid string) {
	return func(t *testing.T, body, rid string) {
		var e struct {
			XMLName   xml.Name `xml:"ErrorResponse"`
			Error     struct{ Type, Code, Message string }
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != code || e.Error.Type != "Sender" || e.RequestID != rid {
			t.Errorf("%v %+v %q", err, e, body)
		}
	}
}

// TestNoEcho sends hostile input everywhere a refusal could echo it.
func TestNoEcho(t *testing.T) {
	h, _ := appHarness(t, nil)
	evil := "<script>alert(1)</script>"
	for _, target := range []string{
		"/app/secret/" + url.PathEscape(evil),         // denied
		"/nothing/" + url.PathEscape(evil),            // not found
		"/app/%2f" + url.PathEscape(evil),             // invalid path
		"/app/secret?" + url.QueryEscape(evil) + "=1", // denied, with a query
		"/app/x?" + url.QueryEscape(evil) + "=1",      // unauthenticated (POST: no redirect)
	} {
		for _, accept := range []string{"text/html", "application/json"} {
			hdr := map[string]string{"Accept": accept, "Authorization": "Bearer alice", "User-Agent": evil}
			if strings.HasPrefix(target, "/app/x") {
				delete(hdr, "Authorization")
			}
			resp, body := h.do("POST", target, hdr, nil)
			if resp.StatusCode < 400 {
				t.Fatalf("%s: status %d", target, resp.StatusCode)
			}
			if strings.Contains(body, "script") || strings.Contains(body, "alert") {
				t.Errorf("%s (%s): the refusal echoes client input: %s", target, accept, body)
			}
		}
	}
}

func TestIdentityHeadersStripped(t *testing.T) {
	// jwt only: the session cookie below is not a credential here, and
	// is removed all the same.
	h, up := appHarness(t, func(_ *Config, rt *Route) { rt.Auth = []string{"jwt"} })
	forged := map[string]string{
		"X-Ztgate-Assertion":              "forged",
		"X-Ztgate-User":                   "admin",
		"X-Forwarded-User":                "admin",
		"X_Forwarded_User":                "admin",
		"x-forwarded-email":               "admin@example.com",
		"X-Forwarded-Groups":              "admins",
		"X-Forwarded-Preferred-Username":  "admin",
		"X-Forwarded-Access-Token":        "t",
		"X-Auth-Request-User":             "admin",
		"X-Auth-Request-Email":            "admin@example.com",
		"X-Remote-User":                   "admin",
		"Remote-User":                     "admin",
		"X-Amzn-Oidc-Data":                "e30.e30.",
		"X-Amzn-Oidc-Identity":            "admin",
		"X-Goog-Authenticated-User-Email": "accounts.google.com:admin@example.com",
		"X-Webauth-User":                  "admin",
		"X-Amz-Security-Token":            "session-token",
		"Authorization":                   "Bearer alice",
		"Cookie":                          "a=1; __Host-ztgate=bob; __Host-ztgate-csrf=c; b=2; __Host-ztgate-flow=f",
		"X-Request-Id":                    "client-chosen",
		"Forwarded":                       "for=1.2.3.4;proto=https",
	}
	resp, _ := h.do("GET", "/app/x", forged, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got, ok := up.byID(resp.Header.Get("X-Request-Id"))
	if !ok {
		t.Fatal("not forwarded")
	}
	for k := range forged {
		switch http.CanonicalHeaderKey(k) {
		case "Cookie", "X-Request-Id", "X-Ztgate-Assertion":
			continue
		}
		if v, ok := got.Header[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
		if v, ok := got.Header[k]; ok {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	if v := got.Header.Values(AssertionHeader); len(v) != 1 || v[0] != "assert:app:arn:zt:iam::111122223333:user/alice" {
		t.Errorf("assertion %q", v)
	}
	if c := got.Header.Values("Cookie"); len(c) != 1 || c[0] != "a=1; b=2" {
		t.Errorf("cookies %q", c)
	}
	if id := got.Header.Get("X-Request-Id"); id == "client-chosen" {
		t.Error("the client chose the request id")
	}
	// The session cookie that authenticated is never forwarded either;
	// other credentials are, when the method was not theirs.
	h, up = appHarness(t, nil)
	resp, _ = h.do("GET", "/app/y", map[string]string{"Cookie": "__Host-ztgate=alice", "Authorization": "Basic dTpw"}, nil)
	got, _ = up.byID(resp.Header.Get("X-Request-Id"))
	if got.Header.Get("Cookie") != "" || got.Header.Get("Authorization") != "Basic dTpw" {
		t.Errorf("session method: cookie %q authorization %q", got.Header.Get("Cookie"), got.Header.Get("Authorization"))
	}
	// SigV4's credentials are removed too.
	resp, _ = h.do("GET", "/app/z", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=alice/x", "X-Amz-Security-Token": "t"}, nil)
	got, _ = up.byID(resp.Header.Get("X-Request-Id"))
	if got.Header.Get("Authorization") != "" || got.Header.Get("X-Amz-Security-Token") != "" {
		t.Errorf("sigv4 credentials forwarded: %v", got.Header)
	}

	// Without an asserter, a forged assertion still never arrives.
	h2, up2 := appHarness(t, func(c *Config, _ *Route) { c.Asserter = nil })
	resp, _ = h2.do("GET", "/app/x", forged, nil)
	got, _ = up2.byID(resp.Header.Get("X-Request-Id"))
	if v := got.Header.Values(AssertionHeader); len(v) != 0 {
		t.Errorf("forged assertion arrived: %q", v)
	}
}

func TestIdentityHeaderNames(t *testing.T) {
	for k, want := range map[string]bool{
		"X-Ztgate-Assertion": true, "x-ztgate-anything": true, "X_ZTGATE_ASSERTION": true,
		"X-Forwarded-User": true, "X-Forwarded-For": false, "X-Forwarded-Proto": false, "X-Forwarded-Host": false,
		"Remote-User": true, "Remote-Users": false, "X-Remote-User": true, "X-Auth-Request-Groups": true,
		"X-Amzn-Oidc-Accesstoken": true, "X-Amzn-Trace-Id": false, "X-Goog-Authenticated-User-Id": true,
		"Authorization": false, "Cookie": false, "X": false, "": false,
		"X-Client-Cert": true, "X-SSL-Client-Cert": true, "Ssl-Client-Cert": true, "X-ARR-ClientCert": true,
		"X_SSL_Client_S_DN": true, "X-Amzn-Mtls-Clientcert": true, "X-SSL-Protocol": false,
	} {
		if got := identityHeader(k); got != want {
			t.Errorf("identityHeader(%q) = %v", k, got)
		}
	}
}

func TestStripCookie(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"a=1"}, []string{"a=1"}},
		{[]string{"__Host-ztgate=x"}, nil},
		{[]string{"a=1; __Host-ztgate=x;b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1", " __Host-ztgate =x"}, []string{"a=1"}},
		{[]string{"__Host-ztgate-other=1; x__Host-ztgate=2"}, []string{"__Host-ztgate-other=1; x__Host-ztgate=2"}},
		{[]string{"__host-ztgate=1"}, []string{"__host-ztgate=1"}}, // names are case-sensitive: not ours
	} {
		h := http.Header{}
		if tc.in != nil {
			h["Cookie"] = slices.Clone(tc.in)
		}
		stripCookie(h, SessionCookie)
		if got := h["Cookie"]; !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Run("untrusted", func(t *testing.T) {
		h, up := appHarness(t, nil)
		resp, _ := h.do("GET", "/app/x", map[string]string{"Authorization": "Bearer alice",
			"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "Host": "App.Example.com.:8443"}, nil)
		got, _ := up.byID(resp.Header.Get("X-Request-Id"))
		if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Proto") != "http" ||
			got.Header.Get("X-Forwarded-Host") != "app.example.com:8443" {
			t.Errorf("forwarded headers %v", got.Header)
		}
		d := h.dec.decisions()[0]
		if ctxValue(d, "aws:SourceIp") != "127.0.0.1" || ctxValue(d, "aws:SecureTransport") != "false" || ctxValue(d, "zt:Host") != "app.example.com" {
			t.Errorf("context %v", d.ctx)
		}
	})
	t.Run("trusted", func(t *testing.T) {
		h, up := appHarness(t, func(c *Config, _ *Route) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
		})
		resp, _ := h.do("GET", "/app/x", map[string]string{"Authorization": "Bearer alice",
			"X-Forwarded-For": "9.9.9.9, 10.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com"}, nil)
		got, _ := up.byID(resp.Header.Get("X-Request-Id"))
		if got.Header.Get("X-Forwarded-For") != "9.9.9.9, 10.0.0.1, 127.0.0.1" || got.Header.Get("X-Forwarded-Proto") != "https" ||
			got.Header.Get("X-Forwarded-Host") != "app.example.com" {
			t.Errorf("forwarded headers %v", got.Header)
		}
		d := h.dec.decisions()[0]
		if ctxValue(d, "aws:SourceIp") != "9.9.9.9" || ctxValue(d, "aws:SecureTransport") != "true" {
			t.Errorf("context %v", d.ctx)
		}
		r, _ := h.record(resp.Header.Get("X-Request-Id"))
		if r.SourceIPAddress != "9.9.9.9" {
			t.Errorf("audited source %q", r.SourceIPAddress)
		}
	})
}

// TestForwardingHeadersStripped: no client address, scheme, method or
// path override a client sends reaches the upstream, however spelled; the
// upstream gets ztgate's X-Forwarded-For, -Proto and -Host only.
func TestForwardingHeadersStripped(t *testing.T) {
	h, up := appHarness(t, nil)
	sent := map[string]string{"Authorization": "Bearer alice",
		"X-Real-IP": "1.1.1.1", "True-Client-IP": "1.1.1.2", "X-Client-IP": "1.1.1.3", "CF-Connecting-IP": "1.1.1.4",
		"X-Original-Forwarded-For": "1.1.1.5", "X_Forwarded_For": "1.1.1.6", "x-forwarded-ssl": "on",
		"X-Forwarded-Scheme": "https", "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/admin", "Forwarded": "for=1.1.1.7",
		"X-Original-URL": "/admin/delete", "X-Rewrite-URL": "/admin", "X-HTTP-Method-Override": "DELETE",
		"X-Method-Override": "DELETE", "X_HTTP_Method": "PUT", "X-Host": "evil.example", "X-Forwarded-Server": "evil",
		"Client-IP": "1.1.1.8", "X-Originating-IP": "1.1.1.9", "X-Remote-IP": "1.1.2.1", "X-Remote-Addr": "1.1.2.2",
		"X-ProxyUser-Ip": "1.1.2.3", "X-Envoy-External-Address": "1.1.2.4", "X-Envoy-Original-Path": "/admin",
		"X-Original-Path": "/admin", "X-Original-Method": "DELETE", "X-Scheme": "https", "X-Url-Scheme": "https",
		"Front-End-Https": "on"}
	resp, _ := h.do("GET", "/app/x", sent, nil)
	got, ok := up.byID(resp.Header.Get("X-Request-Id"))
	if !ok {
		t.Fatalf("not forwarded: %d", resp.StatusCode)
	}
	for k := range got.Header {
		if forwardingHeader(k) && k != "X-Forwarded-For" && k != "X-Forwarded-Proto" && k != "X-Forwarded-Host" {
			t.Errorf("%s reached the upstream: %q", k, got.Header[k])
		}
	}
	for k := range sent {
		if k != "Authorization" && !forwardingHeader(k) {
			t.Errorf("%s is not recognised as a forwarding header", k)
		}
	}
	if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Method != "GET" || got.Path != "/app/x" {
		t.Errorf("upstream saw %s %s from %q", got.Method, got.Path, got.Header.Get("X-Forwarded-For"))
	}
}

func TestContextKeys(t *testing.T) {
	h, _ := appHarness(t, func(c *Config, _ *Route) {
		alice := user("alice")
		alice.Context = &authz.Context{}
		alice.Context.SetString(keys.MultiFactorAuthPresent, "true")
		alice.Context.SetString(keys.MultiFactorAuthAge, "60")
		alice.Context.SetString(keys.SourceIP, "6.6.6.6") // the gateway knows better
		alice.SessionID = "s-123"
		c.Authenticators = []Authenticator{&fakeAuth{method: "session", users: map[string]Identity{"alice": alice}}}
	})
	h.do("GET", "/app/caf%C3%A9", map[string]string{"Cookie": SessionCookie + "=alice", "User-Agent": "ua/1", "Referer": "https://ref.example/"}, nil)
	d := h.dec.decisions()
	if len(d) != 1 {
		t.Fatalf("%d decisions", len(d))
	}
	want := map[string]string{
		"aws:SourceIp": "127.0.0.1", "aws:SecureTransport": "false",
		"aws:CurrentTime": "2026-03-01T09:30:00Z", "aws:EpochTime": "1772357400",
		"aws:UserAgent": "ua/1", "aws:Referer": "https://ref.example/",
		"zt:Route": "app", "zt:Host": "127.0.0.1", "zt:HTTPPath": "/app/café", "zt:HTTPMethod": "GET",
		"aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "60",
		"zt:AuthMethod": "session", "zt:SessionId": "s-123",
		"aws:PrincipalArn": "arn:zt:iam::111122223333:user/alice", "aws:username": "alice",
	}
	for k, v := range want {
		if got := ctxValue(d[0], k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if d[0].action != "http:GET" || d[0].resource != "arn:zt:gateway::111122223333:route/app/app/café" {
		t.Errorf("decided %s on %s", d[0].action, d[0].resource)
	}
}

func TestMaxSessionAge(t *testing.T) {
	old := user("old")
	h, up := appHarness(t, func(c *Config, rt *Route) {
		rt.MaxSessionAge = time.Hour
		old.AuthTime = time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC) // 2h30 before the clock
		c.Authenticators = []Authenticator{&fakeAuth{method: "session", users: map[string]Identity{"alice": user("alice"), "old": old}}}
		c.Decider = &prefixDecider{allow: []string{appARN("/")}}
	})
	h.cfg.Authenticators[0].(*fakeAuth).clock = h.clock
	session := func(who string) map[string]string { return map[string]string{"Cookie": SessionCookie + "=" + who} }
	resp, _ := h.do("GET", "/app/x", map[string]string{"Cookie": SessionCookie + "=old", "Accept": "text/html"}, nil)
	if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://login.example.com/") {
		t.Errorf("browser: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := h.do("GET", "/app/x", session("old"), nil)
	if resp.StatusCode != 401 || !strings.Contains(body, "ReauthenticationRequired") {
		t.Errorf("API: %d %s", resp.StatusCode, body)
	}
	resp, _ = h.do("GET", "/app/x", session("alice"), nil)
	if resp.StatusCode != 200 {
		t.Errorf("recent sign-in: %d", resp.StatusCode)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("%d requests forwarded", n)
	}
}

// TestNoLoginLoop: a browser without credentials on a route that takes
// no sessions gets the refusal, not the sign-in page, which would send it
// back without a way in, for ever.
func TestNoLoginLoop(t *testing.T) {
	for _, method := range []string{"session", "jwt"} {
		h, _ := appHarness(t, func(c *Config, _ *Route) {
			c.Authenticators = []Authenticator{&fakeAuth{method: method, users: map[string]Identity{"alice": user("alice")}}}
		})
		resp, _ := h.do("GET", "/app/x", map[string]string{"Accept": "text/html"}, nil)
		if redirected := resp.StatusCode == 302; redirected != (method == "session") {
			t.Errorf("route taking %s: a browser without credentials got %d %q", method, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestChallenges: a 401 names the schemes the route takes (RFC 9110); a
// 405 says which methods are.
func TestChallenges(t *testing.T) {
	h, _ := appHarness(t, nil) // session, sigv4 and jwt
	resp, _ := h.do("GET", "/app/x", nil, nil)
	if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || !slices.Equal(got, []string{"AWS4-HMAC-SHA256", `Bearer realm="ztgate"`}) {
		t.Errorf("401: %d %q", resp.StatusCode, got)
	}
	h, _ = appHarness(t, func(c *Config, _ *Route) {
		c.Authenticators = []Authenticator{&fakeAuth{method: "session", users: map[string]Identity{}}}
	})
	resp, _ = h.do("GET", "/app/x", nil, nil)
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got == "" {
		t.Errorf("401 of a session route: %d %q", resp.StatusCode, got)
	}
	resp, _ = h.do("get", "/app/x", nil, nil)
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Errorf("405: %d %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestAuditFailure(t *testing.T) {
	mem := &audit.Memory{Err: errors.New("disk full")}
	h, up := appHarness(t, func(c *Config, _ *Route) { c.Audit = mem })
	for _, hdr := range []map[string]string{bearer("alice"), bearer("mallory")} {
		resp, body := h.do("GET", "/app/x", hdr, nil)
		if resp.StatusCode != 503 || !strings.Contains(body, "ServiceUnavailable") || strings.Contains(body, "disk") {
			t.Errorf("%v: %d %s", hdr, resp.StatusCode, body)
		}
	}
	if len(up.requests()) != 0 {
		t.Error("an unaudited request was forwarded")
	}
}

func TestAsserterFailure(t *testing.T) {
	h, up := appHarness(t, func(c *Config, _ *Route) { c.Asserter = &fakeAsserter{err: errors.New("no key")} })
	resp, _ := h.do("GET", "/app/x", bearer("alice"), nil)
	if resp.StatusCode != 500 || len(up.requests()) != 0 {
		t.Errorf("status %d, %d forwarded", resp.StatusCode, len(up.requests()))
	}
}

func TestAuthMethods(t *testing.T) {
	h, _ := appHarness(t, func(_ *Config, rt *Route) { rt.Auth = []string{"session"} })
	if resp, _ := h.do("GET", "/app/x", bearer("alice"), nil); resp.StatusCode != 401 {
		t.Errorf("a method the route does not accept: %d", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/app/x", map[string]string{"Cookie": SessionCookie + "=alice"}, nil); resp.StatusCode != 200 {
		t.Errorf("session: %d", resp.StatusCode)
	}
	// The first method with credentials decides: a bad session is not
	// rescued by a good token.
	h2, _ := appHarness(t, func(_ *Config, rt *Route) { rt.Auth = []string{"session", "jwt"} })
	if resp, _ := h2.do("GET", "/app/x", map[string]string{"Cookie": SessionCookie + "=mallory", "Authorization": "Bearer alice"}, nil); resp.StatusCode != 401 {
		t.Errorf("bad session, good token: %d", resp.StatusCode)
	}
}

func TestRealPolicy(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "ReadWiki", "Effect": "Allow", "Action": ["http:GET", "http:HEAD"],
	   "Resource": "arn:zt:gateway::111122223333:route/app/app/*",
	   "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}, "StringEquals": {"zt:Route": "app"}}},
	  {"Sid": "NoAdmin", "Effect": "Deny", "Action": "http:*",
	   "Resource": "arn:zt:gateway::111122223333:route/app/app/admin*"}]}`
	p, err := authz.CompileJSON("alice-wiki", []byte(doc), policy.Identity)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := appHarness(t, func(c *Config, _ *Route) { c.Decider = &policyDecider{set: authz.NewSet(p)} })
	for _, tc := range []struct {
		method, path string
		status       int
		stmt         string
	}{
		{"GET", "/app/page", 200, "ReadWiki"},
		{"POST", "/app/page", 403, ""},
		{"GET", "/app/admin/x", 403, "NoAdmin"},
		{"GET", "/app/Admin/x", 200, "ReadWiki"}, // ARNs are case-sensitive
	} {
		resp, _ := h.do(tc.method, tc.path, bearer("alice"), nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d", tc.method, tc.path, resp.StatusCode)
			continue
		}
		r, _ := h.record(resp.Header.Get("X-Request-Id"))
		var sids []string
		for _, s := range r.ZTGate.Matched {
			sids = append(sids, s.Sid)
			if s.Policy != "alice-wiki" {
				t.Errorf("policy %q", s.Policy)
			}
		}
		if strings.Join(sids, ",") != tc.stmt {
			t.Errorf("%s %s: matched %v", tc.method, tc.path, sids)
		}
	}
}

func TestMatch(t *testing.T) {
	u := mustURL("http://127.0.0.1:1")
	gw, err := New(Config{
		Decider: &prefixDecider{}, Audit: &audit.Memory{},
		Routes: []Route{
			{Name: "any-root", Upstreams: []*url.URL{u}, Public: true},
			{Name: "any-app", PathPrefix: "/app", Upstreams: []*url.URL{u}, Public: true},
			{Name: "any-app-admin", PathPrefix: "/app/admin", Upstreams: []*url.URL{u}, Public: true},
			{Name: "wiki", Host: "Wiki.Example.com", Upstreams: []*url.URL{u}, Public: true},
			{Name: "wiki-api", Host: "wiki.example.com", PathPrefix: "/api", Upstreams: []*url.URL{u}, Public: true},
			{Name: "star", Host: "*.example.com", PathPrefix: "/x", Upstreams: []*url.URL{u}, Public: true},
			{Name: "unicode", Host: "u.example.org", PathPrefix: "/café", Upstreams: []*url.URL{u}, Public: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, target, want string }{
		{"other.org", "/", "any-root"},
		{"other.org", "/app", "any-app"},
		{"other.org", "/app/", "any-app"},
		{"other.org", "/apple", "any-root"},
		{"other.org", "/app/admin", "any-app-admin"},
		{"other.org", "/app/administrator", "any-app"},
		{"other.org", "/App/admin", "any-root"},
		{"other.org", "/app/%61dmin/x", "any-app-admin"},
		{"wiki.example.com", "/app", "wiki"},
		{"WIKI.EXAMPLE.COM", "/api/v1", "wiki-api"},
		{"wiki.example.com.", "/api", "wiki-api"},
		{"wiki.example.com:8443", "/apix", "wiki"},
		{"a.example.com", "/x/1", "star"},
		{"a.example.com", "/y", ""}, // the wildcard level has routes: no fall-through
		{"a.b.example.com", "/x", "any-root"},
		{"example.com", "/x", "any-root"},
		{"u.example.org", "/caf%C3%A9/menu", "unicode"},
		{"u.example.org", "/cafe%CC%81/menu", ""}, // NFD is another path
		{"wiki.example.com..", "/", ""},
		{"wiki.example.com", "/app/../api", ""},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		r.Host = tc.host
		rt, ok := gw.Match(r)
		got := ""
		if ok {
			got = rt.Name
		}
		if got != tc.want {
			t.Errorf("%s%s: got %q, want %q", tc.host, tc.target, got, tc.want)
		}
		// The gateway answers what it routes, and the requests it refuses
		// whatever their route (an ambiguous path, a bad host).
		_, _, perr := CanonicalPath(r.URL.EscapedPath())
		_, _, herr := CanonicalHost(r.Host)
		if want := ok || perr != nil || herr != nil; gw.Owns(r) != want {
			t.Errorf("%s%s: Owns %v, want %v", tc.host, tc.target, !want, want)
		}
	}
}

// TestOwnedRefusals: a request the gateway owns because of its path or
// host gets the gateway's refusal in the client's format, with a request
// id, not a router's plain 404 or a redirect to a cleaned path.
func TestOwnedRefusals(t *testing.T) {
	h, up := appHarness(t, nil)
	for _, target := range []string{"/x/%2e%2e/admin", "//admin", "/./admin", "/admin;x=1", "/admin%c0%af", "/x/..%5cadmin"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Accept", "application/json")
		if !h.gw.Owns(r) {
			t.Errorf("%s: not owned", target)
			continue
		}
		w := httptest.NewRecorder()
		h.gw.ServeHTTP(w, r)
		if w.Code != 400 || w.Header().Get("X-Request-Id") == "" || !strings.Contains(w.Body.String(), `"requestId"`) {
			t.Errorf("%s: %d %q %s", target, w.Code, w.Header().Get("X-Request-Id"), w.Body)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d requests reached the upstream", n)
	}
}

func TestNewValidation(t *testing.T) {
	u := mustURL("http://127.0.0.1:1")
	ok := func() Route { return Route{Name: "a", Upstreams: []*url.URL{u}, Public: true} }
	with := func(f func(*Route)) []Route { r := ok(); f(&r); return []Route{r} }
	for _, tc := range []struct {
		name   string
		routes []Route
	}{
		{"empty name", with(func(r *Route) { r.Name = "" })},
		{"bad name", with(func(r *Route) { r.Name = "a/b" })},
		{"long name", with(func(r *Route) { r.Name = strings.Repeat("a", 65) })},
		{"duplicate name", append(with(func(*Route) {}), ok())},
		{"duplicate place", append(with(func(r *Route) { r.Host = "A.example.com" }), Route{Name: "b", Host: "a.example.com.", PathPrefix: "/", Upstreams: []*url.URL{u}, Public: true})},
		{"no upstream", with(func(r *Route) { r.Upstreams = nil })},
		{"relative upstream", with(func(r *Route) { r.Upstreams = []*url.URL{{Path: "/x"}} })},
		{"ftp upstream", with(func(r *Route) { r.Upstreams = []*url.URL{mustURL("ftp://h/")} })},
		{"userinfo upstream", with(func(r *Route) { r.Upstreams = []*url.URL{mustURL("http://u:p@h/")} })},
		{"query upstream", with(func(r *Route) { r.Upstreams = []*url.URL{mustURL("http://h/?a=1")} })},
		{"dot base path", with(func(r *Route) { r.Upstreams = []*url.URL{mustURL("http://h/a/../b")} })},
		{"prefix without slash", with(func(r *Route) { r.PathPrefix = "app" })},
		{"prefix with trailing slash", with(func(r *Route) { r.PathPrefix = "/app/" })},
		{"prefix with dots", with(func(r *Route) { r.PathPrefix = "/a/../b" })},
		{"host with port", with(func(r *Route) { r.Host = "a.example.com:80" })},
		{"bad host", with(func(r *Route) { r.Host = "a..example.com" })},
		{"unicode host", with(func(r *Route) { r.Host = "café.example.com" })},
		{"double wildcard", with(func(r *Route) { r.Host = "*.*.example.com" })},
		{"unknown method", with(func(r *Route) { r.Auth = []string{"kerberos"} })},
		{"not public, no authenticator", with(func(r *Route) { r.Public = false })},
		{"negative session age", with(func(r *Route) { r.MaxSessionAge = -1 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Decider: &prefixDecider{}, Audit: &audit.Memory{}, Routes: tc.routes})
			if !errors.Is(err, ErrConfig) {
				t.Errorf("got %v", err)
			}
		})
	}
	if _, err := New(Config{Audit: &audit.Memory{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no decider: %v", err)
	}
	if _, err := New(Config{Decider: &prefixDecider{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no audit: %v", err)
	}
	if _, err := New(Config{Decider: &prefixDecider{}, Audit: &audit.Memory{}, Routes: []Route{ok()}}); err != nil {
		t.Errorf("valid: %v", err)
	}
}

func TestStripPrefixAndBasePath(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		strip      bool
		target     string
		want       string
	}{
		{"plain", "", false, "/app/a%41", "/app/aA"},
		{"strip", "", true, "/app/x/y", "/x/y"},
		{"strip to root", "", true, "/app", "/"},
		{"base", "/base", false, "/app/x", "/base/app/x"},
		{"base and strip", "/base/", true, "/app/caf%c3%a9", "/base/caf%C3%A9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, up := appHarness(t, func(c *Config, rt *Route) {
				rt.StripPrefix = true
				rt.StripPrefix = tc.strip
				c.Decider = &prefixDecider{allow: []string{appARN("/")}}
				u := *rt.Upstreams[0]
				u.Path = tc.base
				rt.Upstreams = []*url.URL{&u}
			})
			resp, _ := h.do("GET", tc.target, bearer("alice"), nil)
			got, ok := up.byID(resp.Header.Get("X-Request-Id"))
			if !ok || got.RequestURI != tc.want {
				t.Errorf("upstream got %q, want %q", got.RequestURI, tc.want)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := newRecorder(t, "a"), newRecorder(t, "b")
	dead := deadURL(t)
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{ResourceARN(testAccount, "rr", "/")}},
		Routes:  []Route{{Name: "rr", Public: true, Upstreams: []*url.URL{a.URL(), dead, b.URL()}}},
	})
	seen := map[string]int{}
	for range 12 {
		resp, _ := h.do("GET", "/x", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		seen[resp.Header.Get("X-Upstream")]++
	}
	if seen["a"] < 4 || seen["b"] < 4 || seen["a"]+seen["b"] != 12 {
		t.Errorf("spread %v", seen)
	}
	// The dead upstream was tried once, then skipped for the backoff.
	if n := testutil.ToFloat64(h.metrics.upstream.WithLabelValues("rr")); n != 0 {
		t.Errorf("upstream errors %v: failover should have hidden them", n)
	}
	// After the backoff it is tried again (and skipped again).
	h.clock.Add(UpstreamBackoff + time.Second)
	if resp, _ := h.do("GET", "/x", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after backoff: %d", resp.StatusCode)
	}
	// A body is not replayed: the request fails if its upstream is down.
	h2 := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{ResourceARN(testAccount, "rr", "/")}},
		Routes:  []Route{{Name: "rr", Public: true, Upstreams: []*url.URL{dead, dead}}},
	})
	if resp, _ := h2.do("POST", "/x", nil, strings.NewReader("body")); resp.StatusCode != 502 {
		t.Errorf("POST to dead upstreams: %d", resp.StatusCode)
	}
}

// deadURL is an address that refuses connections until the test ends: a
// socket bound to it, never listening, keeps its port from being given to
// a listener. (The port of a server closed at once was soon given to
// another test's server, of this process or another, which then answered
// for the dead upstream.)
func deadURL(t *testing.T) *url.URL {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fd)
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return mustURL("http://127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

func TestUpstreamDown(t *testing.T) {
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{ResourceARN(testAccount, "down", "/")}},
		Routes:  []Route{{Name: "down", Public: true, Upstreams: []*url.URL{deadURL(t)}}},
	})
	resp, body := h.do("GET", "/x", nil, nil)
	if resp.StatusCode != 502 || !strings.Contains(body, `"code":"BadGateway"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("JSON: %d %s", resp.StatusCode, body)
	}
	resp, body = h.do("GET", "/x", map[string]string{"Accept": "text/html"}, nil)
	if resp.StatusCode != 502 || !strings.Contains(body, "502 Bad Gateway") {
		t.Errorf("HTML: %d %s", resp.StatusCode, body)
	}
	if n := testutil.ToFloat64(h.metrics.upstream.WithLabelValues("down")); n != 2 {
		t.Errorf("upstream errors %v", n)
	}
	h.waitRequests("down", "GET", "502", 2)
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	var m *Metrics // nil records nothing
	m.request("r", "GET", 200, time.Second)
	m.decision("r", "allowed")
	m.upstreamError("r")
	if methodLabel("BREW") != "OTHER" || methodLabel("GET") != "GET" {
		t.Error("method labels are not bounded")
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	h, _ := appHarness(t, nil)
	if resp, _ := h.do("GET", "/elsewhere", bearer("alice"), nil); resp.StatusCode != 404 {
		t.Errorf("no route: %d", resp.StatusCode)
	}
	h.waitRequests(noRoute, "GET", "404", 1)
	if resp, _ := h.raw("127.0.0.1:443", "127.0.0.1:443"); resp.StatusCode != 400 && resp.StatusCode != 405 {
		t.Errorf("authority-form: %d", resp.StatusCode)
	}
	resp, _ := rawRequest(t, h.srv.Listener.Addr().String(), "CONNECT", "example.com:443", "example.com:443")
	if resp.StatusCode != 405 {
		t.Errorf("CONNECT: %d", resp.StatusCode)
	}
	// http:get would match a policy's http:GET (actions compare
	// case-insensitively) and reach the upstream as "get".
	for _, m := range []string{"get", "Get", "GET*", "G.ET"} {
		resp, _ := rawRequest(t, h.srv.Listener.Addr().String(), m, "/app/x", "a.example", "Authorization: Bearer alice")
		if resp.StatusCode != 405 {
			t.Errorf("%s: %d", m, resp.StatusCode)
		}
	}
	if resp, _ := rawRequest(t, h.srv.Listener.Addr().String(), "PROPFIND", "/app/x", "a.example", "Authorization: Bearer alice"); resp.StatusCode != 200 {
		t.Errorf("PROPFIND: %d", resp.StatusCode)
	}
}

func TestAbsoluteForm(t *testing.T) {
	for _, tc := range []struct {
		target, host string
		want         string // "" refused
	}{
		{"http://a.example.com/x?y=1", "a.example.com", "/x"},
		{"https://A.example.com.:443/x", "a.example.com", "/x"},
		{"http://a.example.com/x", "b.example.com", ""},
		{"http://a.example.com/x", "", ""}, // what net/http leaves: no Host header
		{"http://user@a.example.com/x", "a.example.com", ""},
		{"ftp://a.example.com/x", "a.example.com", ""},
		{"http://a.example.com", "a.example.com", ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = tc.target
		if tc.host != "" {
			r.Header.Set("Host", tc.host)
		}
		got, ref := requestPath(r)
		if tc.want == "" {
			if ref == nil {
				got2, _, err := CanonicalPath(got)
				if err == nil {
					t.Errorf("%s (Host %s): accepted %q", tc.target, tc.host, got2)
				}
			}
			continue
		}
		if ref != nil || got != tc.want {
			t.Errorf("%s (Host %s): %q %v", tc.target, tc.host, got, ref)
		}
	}
}

func TestUpstreamResponseHeaders(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id")) // echoes ours
		w.Header().Set("X-Query", r.URL.RawQuery)
	}))
	t.Cleanup(up.Close)
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes:  []Route{{Name: "app", Upstreams: []*url.URL{mustURL(up.URL)}}},
	})
	q := "?a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=alice%2Fx&x-amz-security-token=t&X%2DAmz%2DSignature=00&b=%2F&X-Amz-Meta=keep"
	resp, _ := h.do("GET", "/x"+q, map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=alice/x"}, nil)
	if v := resp.Header.Values("X-Request-Id"); len(v) != 1 {
		t.Errorf("X-Request-Id %q", v)
	}
	if got := resp.Header.Get("X-Query"); got != "a=1&b=%2F&X-Amz-Meta=keep" {
		t.Errorf("upstream query %q", got)
	}
	// Not authenticated by SigV4: the query is the application's.
	resp, _ = h.do("GET", "/x"+q, bearer("alice"), nil)
	if got := resp.Header.Get("X-Query"); got != q[1:] {
		t.Errorf("upstream query %q", got)
	}
}

// TestUpstreamBreaksOff: an upstream whose answer stops short after its
// head is counted as an upstream error; the client's connection is cut.
func TestUpstreamBreaksOff(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		w.Write([]byte("hello"))
		http.NewResponseController(w).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	h := newHarness(t, Config{Decider: &allowAll{}, Asserter: &fakeAsserter{},
		Routes: []Route{{Name: "app", PathPrefix: "/app", Upstreams: []*url.URL{mustURL(up.URL)}}}})
	req, _ := http.NewRequest("GET", h.srv.URL+"/app/x", nil)
	req.Header.Set("Authorization", "Bearer alice")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatal("the client got a whole answer")
		}
	}
	if n := testutil.ToFloat64(h.metrics.upstream.WithLabelValues("app")); n != 1 {
		t.Errorf("%v upstream errors counted, want 1", n)
	}
}
