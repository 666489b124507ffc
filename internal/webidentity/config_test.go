package webidentity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	aud := []string{"sts"}
	for _, tc := range []struct {
		name    string
		config  Config
		wantErr string // substring; empty for success
	}{
		{"https", Config{Issuers: []Issuer{{URL: "https://token.actions.githubusercontent.com", Audiences: aud}}}, ""},
		{"https with path and trailing slash", Config{Issuers: []Issuer{{URL: "https://idp.example.com/realms/ci/", Audiences: aud}}}, ""},
		{"http localhost", Config{Issuers: []Issuer{{URL: "http://localhost:8080", Audiences: aud}}}, ""},
		{"http ipv6 loopback", Config{Issuers: []Issuer{{URL: "http://[::1]:8080", JWKSURL: "http://127.0.0.1:8080/keys", Audiences: aud}}}, ""},
		{"several issuers", Config{Issuers: []Issuer{
			{URL: "https://a.example.com", Audiences: aud},
			{URL: "https://b.example.com", Audiences: []string{"sts", "other"}},
		}}, ""},

		{"no issuers", Config{}, "no issuers"},
		{"http elsewhere", Config{Issuers: []Issuer{{URL: "http://idp.example.com", Audiences: aud}}}, "http only allowed for loopback"},
		{"http on a loopback-looking name", Config{Issuers: []Issuer{{URL: "http://127.0.0.1.nip.io", Audiences: aud}}}, "http only allowed for loopback"},
		{"other scheme", Config{Issuers: []Issuer{{URL: "ftp://idp.example.com", Audiences: aud}}}, "scheme must be https"},
		{"relative", Config{Issuers: []Issuer{{URL: "idp.example.com", Audiences: aud}}}, "scheme must be https"},
		{"no host", Config{Issuers: []Issuer{{URL: "https:///path", Audiences: aud}}}, "no host"},
		{"query", Config{Issuers: []Issuer{{URL: "https://idp.example.com?tenant=1", Audiences: aud}}}, "query not allowed"},
		{"fragment", Config{Issuers: []Issuer{{URL: "https://idp.example.com#x", Audiences: aud}}}, "fragment not allowed"},
		{"user info", Config{Issuers: []Issuer{{URL: "https://u:p@idp.example.com", Audiences: aud}}}, "user info not allowed"},
		{"bad jwks url", Config{Issuers: []Issuer{{URL: "https://idp.example.com", JWKSURL: "http://idp.example.com/keys", Audiences: aud}}}, "jwks url: http only"},
		{"no audiences", Config{Issuers: []Issuer{{URL: "https://idp.example.com"}}}, "no audiences"},
		{"empty audience", Config{Issuers: []Issuer{{URL: "https://idp.example.com", Audiences: []string{""}}}}, "empty audience"},
		{"audience twice", Config{Issuers: []Issuer{{URL: "https://idp.example.com", Audiences: []string{"a", "a"}}}}, `audience "a" listed twice`},
		{"issuer twice", Config{Issuers: []Issuer{
			{URL: "https://idp.example.com", Audiences: aud},
			{URL: "https://idp.example.com", Audiences: []string{"other"}},
		}}, "configured twice"},
		{"same provider id", Config{Issuers: []Issuer{
			{URL: "https://idp.example.com", Audiences: aud},
			{URL: "https://idp.example.com/", Audiences: aud},
		}}, `same provider id "idp.example.com"`},
		{"negative leeway", Config{Leeway: -time.Second, Issuers: []Issuer{{URL: "https://idp.example.com", Audiences: aud}}}, "negative leeway"},
		{"negative ttl", Config{CacheTTL: -time.Second, Issuers: []Issuer{{URL: "https://idp.example.com", Audiences: aud}}}, "negative cache ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.config)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.leeway != DefaultLeeway || v.ttl != DefaultCacheTTL || v.client == nil || v.clock == nil || v.log == nil {
					t.Fatalf("defaults not applied: %+v", v)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want ErrConfig containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNewReportsAll: every problem is reported at once.
func TestNewReportsAll(t *testing.T) {
	_, err := New(Config{Leeway: -1, Issuers: []Issuer{
		{URL: "http://idp.example.com", Audiences: []string{"a"}},
		{URL: "https://idp.example.com"},
	}})
	for _, want := range []string{"negative leeway", "issuer 0", "issuer 1", "no audiences"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want it to mention %q", err, want)
		}
	}
}

func TestProviderID(t *testing.T) {
	for in, want := range map[string]string{
		"https://token.actions.githubusercontent.com":                   "token.actions.githubusercontent.com",
		"https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E",
		"https://example.auth0.com/":                                    "example.auth0.com",
		"http://127.0.0.1:5556/dex":                                     "127.0.0.1:5556/dex",
	} {
		if got := ProviderID(in); got != want {
			t.Errorf("ProviderID(%q) = %q, want %q", in, got, want)
		}
	}
}
