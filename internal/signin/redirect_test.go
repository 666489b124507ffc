package signin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSafeReturn(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Insecure, c.CookieName = false, DefaultCookieName
		c.AllowedRedirectHosts = []string{"docs.example.com", "*.apps.example.com", "admin.example.com:8443"}
	})
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/.ztgate/login", nil)
	r.Host = "app.example.com"
	for _, tc := range []struct{ rd, want string }{
		{"", "/"},
		{"/", "/"},
		{"/wiki/page?x=1#top", "/wiki/page?x=1#top"},
		{"https://app.example.com/x", "https://app.example.com/x"},
		{"https://APP.example.com/x", "https://APP.example.com/x"},
		{"https://docs.example.com/a", "https://docs.example.com/a"},
		{"https://docs.example.com:444/a", "https://docs.example.com:444/a"},
		{"https://x.apps.example.com/", "https://x.apps.example.com/"},
		{"https://admin.example.com:8443/", "https://admin.example.com:8443/"},
		{"http://localhost:8080/", "/"}, // not this host, nor an allowed one
		// Open redirects, each refused.
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"///evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{" https://app.example.com/", "/"},
		{"https:evil.example", "/"},
		{"https:/evil.example", "/"},
		{"http://app.example.com/", "/"}, // downgrade
		{"javascript:alert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"https://app.example.com@evil.example/", "/"},
		{"https://evil.example#@app.example.com", "/"},
		{"https://evil.example\\@app.example.com", "/"},
		{"https://app.example.com.evil.example/", "/"},
		{"https://apps.example.com/", "/"},
		{"https://evilapps.example.com/", "/"},
		{"https://admin.example.com/", "/"},
		{"https://admin.example.com:9443/", "/"},
		{"https://%65vil.example/", "/"},
		{"/.ztgate/logout", "/"},
		{"https://app.example.com/.ztgate/logout", "/"},
		{"ftp://app.example.com/", "/"},
		{"app.example.com/x", "/"},
	} {
		if got := e.svc.safeReturn(r, tc.rd); got != tc.want {
			t.Errorf("safeReturn(%q) = %q, want %q", tc.rd, got, tc.want)
		}
	}

	// On a development host, http is the scheme.
	d := httptest.NewRequest(http.MethodGet, "http://app.localhost:8080/x", nil)
	d.Host = "app.localhost:8080"
	if got := e.svc.safeReturn(d, "http://app.localhost:8080/x"); got != "http://app.localhost:8080/x" {
		t.Errorf("development host: %q", got)
	}
	if got := e.svc.LoginURL(d); got != "/.ztgate/login?rd=http%3A%2F%2Fapp.localhost%3A8080%2Fx" {
		t.Errorf("LoginURL = %q", got)
	}
	if got := e.svc.LoginURL(r); got != "/.ztgate/login" {
		t.Errorf("LoginURL of a sign-in page = %q", got)
	}
}

func TestOpenRedirectThroughLogin(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	_, page := a.get(PathPrefix + "login?rd=https://evil.example/steal")
	if got := regexpFind(t, `name="rd" value="([^"]*)"`, page); got != "/" {
		t.Fatalf("the form carries rd %q", got)
	}
	_, page = a.get(PathPrefix + "login")
	csrf := formCSRF(t, page)
	_, body := a.post(PathPrefix+"login", map[string][]string{
		"username": {"alice"}, "password": {alicePassword}, "csrf": {csrf}, "rd": {"//evil.example/"},
	})
	resp, _ := a.post(PathPrefix+"login/totp", map[string][]string{"code": {e.code(t, sec, 0)}, "csrf": {formCSRF(t, body)}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
		t.Fatalf("after sign-in: %d %q", resp.StatusCode, loc)
	}
}

func TestRPID(t *testing.T) {
	for host, want := range map[string]string{
		"localhost":             "localhost",
		"app.example.com":       "example.com",
		"a.b.example.co.uk":     "example.co.uk",
		"example.com":           "example.com",
		"gateway.corp.internal": "corp.internal",
	} {
		if got, ok := rpID(host); !ok || got != want {
			t.Errorf("rpID(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
	for _, host := range []string{"127.0.0.1", "::1", ""} {
		if _, ok := rpID(host); ok {
			t.Errorf("rpID(%q) is ok", host)
		}
	}
}
