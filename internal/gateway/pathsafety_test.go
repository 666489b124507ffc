package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestPathSafety sends every trick of pathCases as raw bytes to a real
// gateway in front of a real upstream, with a policy that allows only
// /public/, and checks the one promise: a request is refused, or the
// upstream receives a path within what the policy allowed and equal to
// the path it decided on.
func TestPathSafety(t *testing.T) {
	up := newRecorder(t, "app")
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/public/")}},
		Routes:  []Route{{Name: "app", Public: true, Upstreams: []*url.URL{up.URL()}}},
	})
	send := map[string]func(target string) (*http.Response, bool){
		"HTTP/1.1": func(target string) (*http.Response, bool) {
			resp, _ := h.raw(target, "app.example.com")
			return resp, true
		},
	}
	// The same over HTTP/2, where the target is the :path pseudo-header.
	h2 := httptest.NewUnstartedServer(h.gw)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	c2 := h2.Client()
	send["HTTP/2"] = func(target string) (*http.Response, bool) {
		if target == "" || target[0] != '/' || strings.HasPrefix(target, "//") {
			return nil, false // not a path net/http's client can send
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			// net/http's HTTP/2 server resets the stream before any
			// handler runs, and its client retries: refused, but slowly.
			return nil, false
		}
		u := mustURL(h2.URL)
		u.Opaque = target
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req := (&http.Request{Method: "GET", URL: u, Host: "app.example.com", Header: http.Header{}}).WithContext(ctx)
		resp, err := c2.Do(req)
		if err != nil {
			t.Logf("client: %v", err)
			return nil, false // refused by the client itself
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d", resp.ProtoMajor)
		}
		return resp, true
	}

	for proto, do := range send {
		for _, tc := range pathCases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				resp, ok := do(tc.raw)
				if !ok {
					t.Skip("the client cannot send this target")
				}
				rid := resp.Header.Get("X-Request-Id")
				got, forwarded := up.byID(rid)
				rec, decided := h.record(rid)

				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
				}
				switch {
				case resp.StatusCode == 200:
					if !forwarded || !decided {
						t.Fatalf("served without being forwarded (%v) or decided (%v)", forwarded, decided)
					}
					path := strings.TrimPrefix(rec.Resources[0].ARN, appARN(""))
					if rec.ZTGate.Decision != "allowed" || !strings.HasPrefix(path, "/public/") {
						t.Errorf("forwarded %q, which the policy did not allow (%s)", path, rec.ZTGate.Decision)
					}
					if got.Path != path {
						t.Errorf("the upstream read %q, the policy decided on %q", got.Path, path)
					}
					if wantURI := escape(path); got.RequestURI != wantURI {
						t.Errorf("the upstream got %q, want %q", got.RequestURI, wantURI)
					}
					if tc.path != "" && path != tc.path {
						t.Errorf("decided on %q, want %q", path, tc.path)
					}
				case forwarded:
					t.Errorf("status %d, yet forwarded as %q", resp.StatusCode, got.RequestURI)
				case resp.StatusCode == 403 && !decided:
					t.Error("denied without an audited decision")
				case resp.StatusCode == 400 && decided:
					t.Error("refused as invalid after a decision")
				}
			})
		}
	}
}

// TestHostSafety sends Host header tricks that would let a request for the
// protected admin host be served by the public catch-all route.
func TestHostSafety(t *testing.T) {
	admin, open := newRecorder(t, "admin"), newRecorder(t, "open")
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{ResourceARN(testAccount, "open", "/"), ResourceARN(testAccount, "admin", "/")}},
		Routes: []Route{
			{Name: "admin", Host: "admin.example.com", Upstreams: []*url.URL{admin.URL()}},
			{Name: "open", Public: true, Upstreams: []*url.URL{open.URL()}},
		},
	})
	for _, tc := range []struct {
		name   string
		host   string // "\x00": none
		target string
		proto  string
		status int
	}{
		{"exact", "admin.example.com", "/", "", 401},
		{"upper case", "ADMIN.EXAMPLE.COM", "/", "", 401},
		{"trailing dot", "admin.example.com.", "/", "", 401},
		{"port", "admin.example.com:8080", "/", "", 401},
		{"everything", "Admin.Example.Com.:80", "/", "", 401},
		{"trailing space", "admin.example.com  ", "/", "", 401},
		{"two trailing dots", "admin.example.com..", "/", "", 400},
		{"empty port", "admin.example.com:", "/", "", 400},
		{"named port", "admin.example.com:http", "/", "", 400},
		{"two ports", "admin.example.com:80:80", "/", "", 400},
		{"userinfo", "open@admin.example.com", "/", "", 400},
		{"encoded dot", "admin%2eexample.com", "/", "", 400},
		{"path in host", "admin.example.com/x", "/", "", 400},
		{"dotless i", "adm\xc4\xb1n.example.com", "/", "", 400},
		{"leading dot", ".admin.example.com", "/", "", 400},
		{"absolute-form to admin, Host open", "open.example", "http://admin.example.com/", "", 400},
		{"absolute-form to open, Host admin", "admin.example.com", "http://open.example/", "", 400},
		{"absolute-form, same host", "admin.example.com", "http://admin.example.com/", "", 400},
		{"no Host in HTTP/1.1", "\x00", "/", "", 400},
		{"no Host in HTTP/1.0", "\x00", "/", "1.0", 200},
		{"another host", "www.example.com", "/", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := h.srv.Listener.Addr().String()
			var resp *http.Response
			if tc.proto == "1.0" {
				resp = rawHTTP10(t, addr, tc.target)
			} else {
				resp, _ = rawRequest(t, addr, "GET", tc.target, tc.host)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if len(admin.requests()) != 0 {
				t.Fatal("the admin upstream was reached without credentials")
			}
			for _, s := range open.requests() {
				if host, _, _ := CanonicalHost(s.Header.Get("X-Forwarded-Host")); host == "admin.example.com" {
					t.Fatalf("the public route served the admin host (%q)", s.Header.Get("X-Forwarded-Host"))
				}
			}
		})
	}
}

func rawHTTP10(t *testing.T, addr, target string) *http.Response {
	t.Helper()
	resp, _ := rawBytes(t, addr, "GET "+target+" HTTP/1.0\r\n\r\n")
	return resp
}
