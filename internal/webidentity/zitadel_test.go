package webidentity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// zitadelOP starts zitadel's example OpenID Provider on loopback: the real
// thing ztgate's users point it at, with discovery, a JWKS of RSA keys and
// tokens signed by the library rather than by this test.
func zitadelOP(t *testing.T, clientID, secret, redirectURI string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	// NewStorageWithClients, not RegisterClients (which changes package
	// state); a nil logger, or SetupServer replaces the process default.
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), map[string]*storage.Client{
		clientID: storage.WebClient(clientID, secret, redirectURI),
	})
	srv.Config.Handler = exampleop.SetupServer(issuer, st, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// zitadelIDToken runs the authorization code flow against the OP as a
// browser and a relying party would: authorize, log in with the example
// user's password, follow the redirects back to the client, and exchange
// the code for tokens. It returns the ID token.
func zitadelIDToken(t *testing.T, issuer, clientID, secret, redirectURI string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Follow the OP's redirects, but stop at the client's redirect URI,
	// which nothing listens on: the code is in its query.
	browser := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	var disco struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	getJSONT(t, browser, issuer+"/.well-known/openid-configuration", &disco)

	q := url.Values{
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"response_type": {"code"},
		"scope":         {"openid profile"},
		"state":         {"state-1"},
		"nonce":         {"nonce-1"},
	}
	resp, err := browser.Get(disco.Authorization + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authRequestID := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || authRequestID == "" {
		t.Fatalf("authorize: %s at %s", resp.Status, resp.Request.URL)
	}

	host := strings.Split(strings.TrimPrefix(issuer, "http://"), ":")[0]
	resp, err = browser.PostForm(issuer+"/login/username", url.Values{
		"id":       {authRequestID},
		"username": {"test-user@" + host},
		"password": {"verysecure"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || back.Query().Get("state") != "state-1" {
		t.Fatalf("login: %s, redirected to %q", resp.Status, resp.Header.Get("Location"))
	}

	req, err := http.NewRequest(http.MethodPost, disco.Token, strings.NewReader(url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {back.Query().Get("code")},
		"redirect_uri": {redirectURI},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tokens struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tokens); err != nil || resp.StatusCode != http.StatusOK || tokens.IDToken == "" {
		t.Fatalf("token: %s, %v", resp.Status, err)
	}
	return tokens.IDToken
}

func getJSONT(t *testing.T, c *http.Client, u string, dst any) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

// TestZitadel verifies an ID token issued by a real OpenID Provider,
// finding its keys through discovery.
func TestZitadel(t *testing.T) {
	const clientID, secret, redirectURI = "ci-web", "ci-secret", "http://localhost:9999/auth/callback"
	issuer := zitadelOP(t, clientID, secret, redirectURI)
	idToken := zitadelIDToken(t, issuer, clientID, secret, redirectURI)

	newV := func(audiences ...string) *Verifier {
		v, err := New(Config{Issuers: []Issuer{{URL: issuer, Audiences: audiences}}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("accepted", func(t *testing.T) {
		tok, err := newV("other-client", clientID).Verify(context.Background(), idToken)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", tok)
		if tok.Issuer != issuer || tok.Provider != strings.TrimPrefix(issuer, "http://") ||
			tok.Subject != "id1" || !slices.Contains(tok.Audience, clientID) || !slices.Contains(tok.AMR, "pwd") ||
			time.Until(tok.Expires) < 50*time.Minute || time.Since(tok.IssuedAt) > time.Minute {
			t.Fatalf("token %+v", tok)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		_, err := newV("another-client").Verify(context.Background(), idToken)
		checkErr(t, err, ErrAudience, idToken)
	})
	t.Run("tampered", func(t *testing.T) {
		parts := strings.Split(idToken, ".")
		tampered := parts[0] + "." + parts[1] + "." + flipLast(parts[2])
		_, err := newV(clientID).Verify(context.Background(), tampered)
		checkErr(t, err, ErrSignature, tampered)
	})
	t.Run("expired", func(t *testing.T) {
		v := newV(clientID)
		v.clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
		_, err := v.Verify(context.Background(), idToken)
		checkErr(t, err, ErrExpired, idToken)
	})
	t.Run("discovery names another issuer", func(t *testing.T) {
		// The same OP configured under another name for it: its
		// discovery document names the issuer it really is, so its keys
		// are not taken to vouch for tokens under the other name.
		other := strings.Replace(issuer, "127.0.0.1", "localhost", 1)
		v, err := New(Config{Issuers: []Issuer{{URL: other, Audiences: []string{clientID}}}})
		if err != nil {
			t.Fatal(err)
		}
		k := newKey(t, jose.ES256, "k")
		forged := k.sign(t, map[string]any{
			"iss": other, "sub": "id1", "aud": clientID,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		})
		_, err = v.Verify(context.Background(), forged)
		checkErr(t, err, ErrProvider, forged)
		if !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("Verify: %v", err)
		}
	})
}
