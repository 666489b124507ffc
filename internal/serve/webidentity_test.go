package serve

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The OpenID Provider's clients: ztgate trusts tokens for opClient only.
const (
	opClient      = "ci-web"
	opOtherClient = "other-web"
	opSecret      = "ci-secret"
	opRedirect    = "http://localhost:9999/auth/callback"
)

// openIDProvider is a real OpenID Provider on loopback: zitadel's
// pkg/op, as identity providers built on it run, with its example
// in-memory storage (its users, clients and RSA signing key) and a login
// form of a few lines in place of the example's web pages. It serves
// discovery, a JWKS and tokens signed by the library, not by this test.
type openIDProvider struct {
	issuer  string
	storage *storage.Storage
}

func startOpenIDProvider(t *testing.T) *openIDProvider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{}
	for _, id := range []string{opClient, opOtherClient} {
		clients[id] = storage.WebClient(id, opSecret, opRedirect)
	}
	// NewStorageWithClients, not RegisterClients, which changes package
	// state.
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte(t.Name())), CodeMethodS256: true},
		st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	// The clients' login URL is /login/username?authRequestID=ID: the
	// user posts a password there and goes back to the provider, which
	// redirects to the client with a code.
	callback := op.AuthCallbackURL(provider)
	login := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, "<form method=post><input name=id value=%q><input name=username><input name=password type=password></form>", r.URL.Query().Get("authRequestID"))
			return
		}
		id := r.PostFormValue("id")
		if err := st.CheckUsernamePassword(r.PostFormValue("username"), r.PostFormValue("password"), id); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	})
	mux := http.NewServeMux()
	mux.Handle("/login/username", login)
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return &openIDProvider{issuer: issuer, storage: st}
}

// provider is the issuer without its scheme: the provider id that trust
// policies and condition keys name.
func (o *openIDProvider) provider() string { return strings.TrimPrefix(o.issuer, "http://") }

// idToken runs the authorization code flow as a browser and a relying
// party would: authorize, log in with the example user's password, follow
// the redirects to the client, exchange the code for tokens. It returns
// the ID token, issued to clientID.
func (o *openIDProvider) idToken(t *testing.T, clientID string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Stop at the client's redirect URI, which nothing listens on: the
	// code is in its query.
	browser := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), opRedirect) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	var disco struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	resp, err := browser.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&disco)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {opRedirect}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"state-1"}, "nonce": {"nonce-1"},
	}
	resp, err = browser.Get(disco.Authorization + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authRequestID := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || authRequestID == "" {
		t.Fatalf("authorize: %s at %s", resp.Status, resp.Request.URL)
	}
	host, _, _ := strings.Cut(o.provider(), ":")
	resp, err = browser.PostForm(o.issuer+"/login/username", url.Values{
		"id": {authRequestID}, "username": {"test-user@" + host}, "password": {"verysecure"},
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
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {opRedirect},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, opSecret)
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

// sign signs claims with the provider's own signing key, the one its JWKS
// publishes: how a token the provider issued long ago looks.
func (o *openIDProvider) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	k, err := o.storage.SigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: k.Key()},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID()))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// webIdentityTrust is a trust policy that lets the provider's tokens
// that meet condition assume a role.
func webIdentityTrust(provider string, condition map[string]map[string]string) string {
	c, _ := json.Marshal(condition)
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":%q},"Action":"sts:AssumeRoleWithWebIdentity","Condition":%s}]}`,
		"arn:zt:iam::"+e2eAccount+":oidc-provider/"+provider, c)
}

// TestWebIdentityFlow trades ID tokens from a real OpenID Provider for a
// role's credentials with AssumeRoleWithWebIdentity, through the AWS CLI
// and aws-sdk-go-v2 without any AWS credentials, and checks that tokens
// for another audience, altered, expired or from an issuer ztgate does not
// trust are refused with AWS's codes.
func TestWebIdentityFlow(t *testing.T) {
	idp := startOpenIDProvider(t)
	stranger := startOpenIDProvider(t) // a provider ztgate does not trust
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf("log:\n  level: debug\nstore:\n  driver: sqlite\nsts:\n  web_identity:\n    issuers:\n      - url: %q\n        audiences: [%q]\n", idp.issuer, opClient)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--dev", "--config", cfg)
	p.waitReady(true, 10*time.Second)
	base := "http://" + p.addr
	ctx := context.Background()
	adminKey, adminSecret := readCredentials(t, filepath.Join(dir, adminCredentials))
	admin := newSDKClients(base, staticCredentials(adminKey, adminSecret, ""))

	pid := idp.provider()
	roles := map[string]string{
		// The token's audience and subject, as AWS's guides advise.
		"ci": webIdentityTrust(pid, map[string]map[string]string{"StringEquals": {pid + ":aud": opClient, pid + ":sub": "id1"}}),
		// Someone else's subject: a valid token is not enough.
		"ci-other": webIdentityTrust(pid, map[string]map[string]string{"StringEquals": {pid + ":aud": opClient, pid + ":sub": "someone-else"}}),
		// How the user signed in.
		"ci-amr": webIdentityTrust(pid, map[string]map[string]string{"ForAnyValue:StringEquals": {pid + ":amr": "pwd"}}),
	}
	for name, trust := range roles {
		if _, err := admin.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatalf("CreateRole %s: %v\n%s", name, err, trust)
		}
		if _, err := admin.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("get-role"), PolicyDocument: aws.String(e2eGetRole)}); err != nil {
			t.Fatalf("PutRolePolicy %s: %v", name, err)
		}
	}

	token := idp.idToken(t, opClient)

	t.Run("aws cli", func(t *testing.T) {
		c := newAWSCLIRunner(t, base)
		var out struct {
			Credentials                 sessionCreds
			SubjectFromWebIdentityToken string
			AssumedRoleUser             struct{ AssumedRoleId, Arn string }
			Provider, Audience          string
		}
		// No credentials at all: the call is unsigned, as on AWS.
		c.anonymous().ok(&out, "sts", "assume-role-with-web-identity", "--role-arn", e2eRoleARN("ci"),
			"--role-session-name", "ci", "--web-identity-token", token, "--duration-seconds", "900")
		if out.SubjectFromWebIdentityToken != "id1" || out.AssumedRoleUser.Arn != e2eSessionARN("ci", "ci") ||
			!strings.HasSuffix(out.AssumedRoleUser.AssumedRoleId, ":ci") || out.Audience != opClient ||
			!strings.Contains(out.Provider, pid) || !strings.HasPrefix(out.Credentials.AccessKeyId, "ASIA") || out.Credentials.SessionToken == "" {
			t.Fatalf("assume-role-with-web-identity: %+v", out)
		}
		s := c.withSession("ci/ci", out.Credentials)
		var id callerIdentityJSON
		s.ok(&id, "sts", "get-caller-identity")
		if id.Arn != e2eSessionARN("ci", "ci") || id.UserId != out.AssumedRoleUser.AssumedRoleId || id.Account != e2eAccount {
			t.Fatalf("get-caller-identity with the web identity session: %+v", id)
		}
		s.ok(nil, "iam", "get-role", "--role-name", "ci")
		s.fails([]string{"AccessDenied"}, "iam", "list-roles")
	})

	t.Run("sdk", func(t *testing.T) {
		anon := newSDKClients(base, aws.AnonymousCredentials{})
		for _, role := range []string{"ci", "ci-amr"} {
			out, err := anon.sts.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(e2eRoleARN(role)), RoleSessionName: aws.String("sdk"), WebIdentityToken: aws.String(token),
			})
			if err != nil {
				t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
			}
			if aws.ToString(out.SubjectFromWebIdentityToken) != "id1" || aws.ToString(out.AssumedRoleUser.Arn) != e2eSessionARN(role, "sdk") ||
				aws.ToString(out.Audience) != opClient {
				t.Fatalf("AssumeRoleWithWebIdentity %s: subject %q, user %+v, audience %q", role, aws.ToString(out.SubjectFromWebIdentityToken),
					out.AssumedRoleUser, aws.ToString(out.Audience))
			}
			c := out.Credentials
			s := newSDKClients(base, staticCredentials(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
			id, err := s.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil || aws.ToString(id.Arn) != e2eSessionARN(role, "sdk") {
				t.Fatalf("GetCallerIdentity with the %s session: %v %+v", role, err, id)
			}
		}
	})

	// Refusals, through the SDK and the CLI alike.
	parts := strings.Split(token, ".")
	sig := []byte(parts[2])
	if i := len(sig) / 2; sig[i] == 'A' { // a character in the middle, not padding bits
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !strings.Contains(string(claims), `"sub":"id1"`) {
		t.Fatalf("ID token claims %s: %v", claims, err)
	}
	otherSub := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), `"sub":"id1"`, `"sub":"id2"`, 1)))
	now := time.Now()
	for _, tc := range []struct {
		name, role, token, code string
	}{
		{"wrong audience", "ci", idp.idToken(t, opOtherClient), "InvalidIdentityToken"},
		{"tampered signature", "ci", parts[0] + "." + parts[1] + "." + string(sig), "InvalidIdentityToken"},
		{"tampered claims", "ci-amr", parts[0] + "." + otherSub + "." + parts[2], "InvalidIdentityToken"},
		{"expired", "ci", idp.sign(t, map[string]any{
			"iss": idp.issuer, "sub": "id1", "aud": opClient, "azp": opClient,
			"iat": now.Add(-3 * time.Hour).Unix(), "exp": now.Add(-2 * time.Hour).Unix(),
		}), "ExpiredTokenException"},
		{"untrusted issuer", "ci", stranger.idToken(t, opClient), "InvalidIdentityToken"},
		{"not a token", "ci", "not-a-token", "InvalidIdentityToken"},
		{"condition not met", "ci-other", token, "AccessDenied"},
		{"unknown role", "nosuch", token, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anon := newSDKClients(base, aws.AnonymousCredentials{})
			_, err := anon.sts.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String(e2eRoleARN(tc.role)), RoleSessionName: aws.String("bad"), WebIdentityToken: aws.String(tc.token),
			})
			if apiErrorCode(err) != tc.code {
				t.Fatalf("sdk: AssumeRoleWithWebIdentity: %v, want %s", err, tc.code)
			}
			r := newAWSCLIRunner(t, base).anonymous().fails([]string{tc.code}, "sts", "assume-role-with-web-identity",
				"--role-arn", e2eRoleARN(tc.role), "--role-session-name", "bad", "--web-identity-token", tc.token)
			if strings.Contains(r.stderr, tc.token) && len(tc.token) > 20 {
				t.Fatalf("the error echoes the token: %s", r.stderr)
			}
		})
	}
}
