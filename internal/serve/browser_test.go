package serve

// End-to-end tests of people reaching gateway routes in a real headless
// Chromium through a real "ztgate serve": the development demo app with a
// local user (password and TOTP, then a passkey), and a route whose
// people sign in through a real OpenID Provider and are signed out by its
// back-channel logout token.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ztgate/ztgate/internal/assertion"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/signin"
)

// browserChromium finds the browser, or skips the test. Set
// ZTGATE_REQUIRE_CHROMIUM=1 to fail instead (CI).
func browserChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ZTGATE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("no Chromium on PATH (apt-get install chromium) and ZTGATE_REQUIRE_CHROMIUM=1")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium); set ZTGATE_REQUIRE_CHROMIUM=1 to make this a failure")
	return ""
}

// newChromium starts a headless Chromium whose traffic stays on
// loopback: localhost and every *.localhost name go to 127.0.0.1 (the
// gateway answers them by their Host header), and every other name fails
// to resolve, Google's update hosts included.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	path := browserChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1 , MAP localhost 127.0.0.1 , MAP * ~NOTFOUND"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// browserDo runs steps, and on failure says where the browser was and
// what it showed.
func browserDo(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%v\nat %s:\n%s", err, loc, body)
	}
}

func browserRun[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%v\nat %s", err, loc)
	}
	return v
}

// browserSession returns the browser's ztgate session cookie for base, or
// nil.
func browserSession(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == signin.DefaultCookieName {
			return c
		}
	}
	return nil
}

// browserAuthenticator gives the tab a platform authenticator that holds
// passkeys and verifies its user without asking. AutomaticPresenceSimulation
// must be set, or navigator.credentials.create never returns.
func browserAuthenticator(t *testing.T, ctx context.Context) cdpwebauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
			Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.AuthenticatorID
}

// cookieGet sends one request to the node for url's host, carrying a
// session cookie as an API client (JSON answers, no redirects).
func cookieGet(t *testing.T, addr, u, cookie string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: signin.DefaultCookieName, Value: cookie})
	}
	resp, err := demoClient(addr).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// auditRecords parses every record of the node's audit log in dir.
func auditRecords(t *testing.T, dir string) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for _, line := range strings.Split(auditText(t, dir), "\n") {
		var l struct {
			Record *audit.Record `json:"record"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Record != nil {
			recs = append(recs, *l.Record)
		}
	}
	if len(recs) == 0 {
		t.Fatal("no audit record parses")
	}
	return recs
}

// demoCredentials are the lines of DATA_DIR/demo.credentials.
type demoLogin struct{ user, password, totpSecret string }

func readDemoCredentials(t *testing.T, dir string) demoLogin {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, demoCredentials))
	if err != nil {
		t.Fatal(err)
	}
	var c demoLogin
	var totpURL string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "user":
			c.user = strings.TrimSpace(v)
		case "password":
			c.password = strings.TrimSpace(v)
		case "totp":
			totpURL = strings.TrimSpace(v)
		}
	}
	k, err := otp.NewKeyFromURL(totpURL)
	if err != nil || c.user == "" || c.password == "" {
		t.Fatalf("demo.credentials: %v\n%s", err, b)
	}
	c.totpSecret = k.Secret()
	return c
}

// demoPage is an element only the demo app's page has.
var demoPage = chromedp.CSS(`a[href="/api/whoami"]`)

var requestIDRE = regexp.MustCompile(`request id ([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})`)

// demoWhoami reads the demo app's /api/whoami in the browser.
func demoWhoami(t *testing.T, ctx context.Context, demo string) (who struct{ Subject, Method, SessionID string }) {
	t.Helper()
	browserDo(t, ctx, chromedp.Navigate(demo+"/api/whoami"))
	body := browserRun(t, ctx, chromedp.Text(chromedp.CSS("body")))
	if err := json.Unmarshal([]byte(body), &who); err != nil {
		t.Fatalf("/api/whoami in the browser: %v\n%s", err, body)
	}
	return who
}

// TestBrowserDemo takes a person through the development demo app in
// Chromium: sent to sign in, password and TOTP from demo.credentials,
// greeted by the app, refused /admin with the HTML denial page, a passkey
// registered, signed out (the session ends on the server, not only in the
// browser), back in with the passkey alone, signed out again; and the
// node's audit log holds the sign-ins and the gateway's decisions.
func TestBrowserDemo(t *testing.T) {
	ctx := newChromium(t)
	p, credFile := startDevNode(t)
	dir := filepath.Dir(credFile)
	_, port, _ := net.SplitHostPort(p.addr)
	demo := "http://demo.localhost:" + port
	creds := readDemoCredentials(t, dir)
	if creds.user != "demo" {
		t.Fatalf("demo.credentials names %q", creds.user)
	}
	demoARN := e2eUserARN("demo")
	auth := browserAuthenticator(t, ctx)

	// No session: the gateway sends the browser to sign in, and back.
	browserDo(t, ctx, chromedp.Navigate(demo+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc := browserRun(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, demo+"/.ztgate/login?rd="+url.QueryEscape(demo+"/")) {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	browserDo(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), creds.user),
		chromedp.SendKeys(chromedp.ID("password"), creds.password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	code, err := totp.GenerateCode(creds.totpSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	browserDo(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(demoPage),
	)
	checkDemoPage := func(when string) {
		t.Helper()
		if loc := browserRun(t, ctx, chromedp.Location()); loc != demo+"/" {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: at %s, not back at the app:\n%s", when, loc, body)
		}
		if got, want := browserRun(t, ctx, chromedp.Text(chromedp.CSS("h1"))), "Hello, "+demoARN; got != want {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: the app says %q, want %q\n%s", when, got, want, body)
		}
		if got := browserRun(t, ctx, chromedp.Text(chromedp.Search(`//th[text()="signed in with"]/following-sibling::td`))); got != "session" {
			t.Fatalf("%s: signed in with %q, want session", when, got)
		}
		if who := demoWhoami(t, ctx, demo); who.Subject != demoARN || who.Method != "session" || who.SessionID == "" {
			t.Fatalf("%s: whoami %+v", when, who)
		}
	}
	checkDemoPage("after password and TOTP")
	c := browserSession(t, ctx, demo)
	if c == nil || !c.Secure || !c.HTTPOnly || c.Path != "/" || c.Domain != "demo.localhost" {
		t.Fatalf("session cookie: %+v", c)
	}
	first := c.Value
	if code, body := cookieGet(t, p.addr, demo+"/api/whoami", first); code != 200 || !strings.Contains(body, demoARN) {
		t.Fatalf("the browser's cookie from another client: %d %s", code, body)
	}

	// /admin: the route's policy denies it to everyone, with the HTML
	// page and its request id.
	resp := browserRun(t, ctx, chromedp.NavigateResponse(demo+"/admin"))
	page := browserRun(t, ctx, chromedp.Text(chromedp.CSS("body")))
	m := requestIDRE.FindStringSubmatch(page)
	if resp.Status != http.StatusForbidden || m == nil || !strings.Contains(page, "AccessDenied") ||
		!strings.Contains(page, "User: "+demoARN+" is not authorized to perform: http:GET") || !strings.Contains(resp.MimeType, "html") {
		t.Fatalf("/admin: %d %s\n%s", resp.Status, resp.MimeType, page)
	}
	deniedID := m[1]
	if h := fmt.Sprint(resp.Headers["X-Request-Id"]) + fmt.Sprint(resp.Headers["x-request-id"]); !strings.Contains(h, deniedID) {
		t.Errorf("/admin: X-Request-Id %q, the page says %s", h, deniedID)
	}

	// A passkey, registered from the account page on the app's host.
	browserDo(t, ctx,
		chromedp.Navigate(demo+"/.ztgate/"),
		chromedp.Click(chromedp.ID("passkey-register")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if got := browserRun(t, ctx, chromedp.Text(chromedp.ID("notice"))); got != "Your passkey is registered." {
		t.Fatalf("after registration: %q", got)
	}
	pk, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil || len(pk.Credentials) != 1 || !pk.Credentials[0].IsResidentCredential || pk.Credentials[0].RpID != "demo.localhost" {
		t.Fatalf("authenticator credentials: %+v, %v", pk, err)
	}

	// Sign out from the app's link: the session ends on the server.
	signOut := func(when string, cookie string) {
		t.Helper()
		browserDo(t, ctx,
			chromedp.Navigate(demo+"/"),
			chromedp.Click(chromedp.CSS(`a[href="/.ztgate/logout"]`)),
			chromedp.WaitVisible(chromedp.ID("logout")),
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("message")),
		)
		if got := browserRun(t, ctx, chromedp.Text(chromedp.ID("message"))); got != "You are signed out." {
			t.Fatalf("%s: %q", when, got)
		}
		if browserSession(t, ctx, demo) != nil {
			t.Fatalf("%s: the browser kept its session cookie", when)
		}
		if code, body := cookieGet(t, p.addr, demo+"/api/whoami", cookie); code != http.StatusUnauthorized {
			t.Fatalf("%s: the old cookie still works: %d %s", when, code, body)
		}
		browserDo(t, ctx, chromedp.Navigate(demo+"/"), chromedp.WaitVisible(chromedp.ID("username")))
		if loc := browserRun(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, demo+"/.ztgate/login?") {
			t.Fatalf("%s: the app did not send the browser to sign in: %s", when, loc)
		}
	}
	signOut("first sign-out", first)

	// The passkey alone, from the sign-in page the app sent us to.
	browserDo(t, ctx,
		chromedp.Click(chromedp.ID("passkey-login")),
		chromedp.WaitVisible(demoPage),
	)
	checkDemoPage("after the passkey")
	c = browserSession(t, ctx, demo)
	if c == nil || c.Value == first {
		t.Fatalf("passkey session cookie: %+v", c)
	}
	second := c.Value
	signOut("second sign-out", second)

	// The audit log: both sign-ins, the passkey's registration, the
	// gateway's allowed requests and the denial the page named.
	var logins []string
	var registered, allowed, denied bool
	for _, r := range auditRecords(t, dir) {
		z := r.ZTGate
		if z == nil {
			continue
		}
		switch {
		case r.EventName == "ConsoleLogin" && r.ErrorCode == "" && r.UserIdentity.ARN == demoARN:
			logins = append(logins, z.AuthMethod)
		case r.EventName == "RegisterPasskey" && r.ErrorCode == "":
			registered = true
		case r.EventSource == audit.SourceGateway && z.Category == audit.CategoryDecision && z.Route == "demo" && r.UserIdentity.ARN == demoARN:
			switch {
			case z.Decision == "allowed" && r.EventName == "GET" && r.ErrorCode == "":
				allowed = true
			case z.Decision == "explicitDeny" && r.RequestID == deniedID && r.ErrorCode == "AccessDenied" &&
				len(r.Resources) == 1 && r.Resources[0].ARN == routeARN(e2eAccount, "demo")+"/admin":
				denied = true
			}
		}
	}
	if !slices.Equal(logins, []string{"password", "passkey"}) || !registered || !allowed || !denied {
		t.Fatalf("audit log: sign-ins %v (want password, passkey), passkey registered %v, allowed request %v, denial %s %v",
			logins, registered, allowed, deniedID, denied)
	}
}

// sidStorage is zitadel's example storage plus what real providers add
// and the example lacks: a session id ("sid") in the ID token per
// sign-in, which back-channel logout tokens name.
type sidStorage struct {
	*storage.Storage
	mu   sync.Mutex
	sids map[string]string // subject → sid of the latest sign-in
}

func (s *sidStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sid := s.sids[req.GetSubject()]
	if _, ok := req.(*storage.AuthRequest); ok || sid == "" {
		var b [12]byte
		rand.Read(b[:])
		sid = "op-session-" + hex.EncodeToString(b[:])
		s.sids[req.GetSubject()] = sid
	}
	ui.AppendClaims("sid", sid)
	return nil
}

func (s *sidStorage) sid(sub string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sids[sub]
}

// logoutToken signs a back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0, section 2.4) with key: the provider's own
// signing key for a genuine one. zitadel's example provider does not send
// back-channel logouts itself, so the test sends what it would.
func logoutToken(t *testing.T, key jose.SigningKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowserOIDCBackchannel signs a person in through a real OpenID
// Provider (zitadel's example server) in Chromium to reach a route of a
// node configured with that provider, acting as a session of the
// provider's role, which the administrator made through the IAM API; a
// logout token signed with another key changes nothing; the provider's
// back-channel logout token ends the session at once, and the next
// request is sent to sign in.
func TestBrowserOIDCBackchannel(t *testing.T) {
	ctx := newChromium(t)

	// The provider, listening (not yet serving) so that its address can go
	// into the node's configuration.
	opLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, opPort, _ := net.SplitHostPort(opLn.Addr().String())
	issuer := "http://localhost:" + opPort
	clients := map[string]*storage.Client{}
	idp := &sidStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients), sids: map[string]string{}}

	// The application: it trusts nothing but the gateway's assertion,
	// which it verifies with the node's published keys.
	var nodeURL atomic.Value // string: set once the node runs, before any request
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(nodeURL.Load().(string) + "/.well-known/ztgate/jwks.json")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		jwks, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cl, err := assertion.Verify(r.Header.Get("X-Ztgate-Assertion"), jwks, routeARN(e2eAccount, "app"), time.Now())
		if err != nil {
			http.Error(w, "assertion: "+err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><p id=sub>%s</p><p id=method>%s</p><p id=cookie>%s</p>",
			cl.Subject, cl.Method, r.Header.Get("Cookie"))
	}))
	t.Cleanup(app.Close)

	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf(`log:
  level: debug
gateway:
  routes:
    - name: app
      host: app.localhost
      upstreams: [%q]
  identity_providers:
    - name: zitadel
      display_name: Zitadel
      issuer: %q
      client_id: ztgate
      client_secret: ztgate-secret
      scopes: [openid, profile, email]
      role: engineers
`, app.URL, issuer)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--dev", "--config", cfg)
	p.waitReady(true, 10*time.Second)
	nodeURL.Store("http://" + p.addr)
	_, port, _ := net.SplitHostPort(p.addr)
	base := "http://app.localhost:" + port

	// Now the provider knows its client's redirect URI, and serves.
	clients["ztgate"] = storage.WebClient("ztgate", "ztgate-secret", base+"/.ztgate/oidc/callback/zitadel")
	opSrv := &http.Server{Handler: exampleop.SetupServer(issuer, idp, nil, false), ReadHeaderTimeout: 10 * time.Second}
	go opSrv.Serve(opLn)
	t.Cleanup(func() { opSrv.Close() })

	// The provider's role, and what it may do, through the IAM API.
	key, secret := readCredentials(t, filepath.Join(dir, adminCredentials))
	admin := newSDKClients("http://"+p.addr, staticCredentials(key, secret, ""))
	bg := context.Background()
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":%q},"Action":"sts:AssumeRoleWithWebIdentity"}]}`,
		"arn:zt:iam::"+e2eAccount+":oidc-provider/localhost:"+opPort)
	if _, err := admin.iam.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("engineers"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	allowApp := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"http:*","Resource":"` + routeARN(e2eAccount, "app") + `/*"}]}`
	if _, err := admin.iam.PutRolePolicy(bg, &iam.PutRolePolicyInput{RoleName: aws.String("engineers"), PolicyName: aws.String("use-app"), PolicyDocument: aws.String(allowApp)}); err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	person := e2eSessionARN("engineers", "test-user@zitadel.ch")

	// Chromium: sent to sign in, on to the provider, back to the app.
	browserDo(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc := browserRun(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, base+"/.ztgate/login?rd=") {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	browserDo(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/.ztgate/oidc/login/zitadel"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/username"]`)),
	)
	if loc := browserRun(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, issuer+"/login/username?authRequestID=") {
		t.Fatalf("not at the provider: %s", loc)
	}
	browserDo(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), "test-user@localhost"),
		chromedp.SendKeys(chromedp.ID("password"), "verysecure"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("sub")),
	)
	if loc := browserRun(t, ctx, chromedp.Location()); loc != base+"/" {
		t.Fatalf("after the provider: at %s, not back at the app", loc)
	}
	if sub, method := browserRun(t, ctx, chromedp.Text(chromedp.ID("sub"))), browserRun(t, ctx, chromedp.Text(chromedp.ID("method"))); sub != person || method != "session" {
		t.Fatalf("the app sees %q by %q, want %q by session", sub, method, person)
	}
	if got, err := http.ParseCookie(browserRun(t, ctx, chromedp.Text(chromedp.ID("cookie")))); err == nil &&
		slices.ContainsFunc(got, func(c *http.Cookie) bool { return c.Name == signin.DefaultCookieName }) {
		t.Fatalf("the session cookie reached the app: %v", got)
	}
	c := browserSession(t, ctx, base)
	if c == nil {
		t.Fatal("no session cookie")
	}
	cookie := c.Value
	if code, body := cookieGet(t, p.addr, base+"/", cookie); code != 200 || !strings.Contains(body, person) {
		t.Fatalf("the session from another client: %d %s", code, body)
	}
	sid := idp.sid("id1")
	if sid == "" {
		t.Fatal("the provider gave the sign-in no sid")
	}

	backchannel := func(token string) int {
		t.Helper()
		resp, err := http.PostForm("http://"+p.addr+"/.ztgate/oidc/backchannel/zitadel", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	k, err := idp.SigningKey(bg)
	if err != nil {
		t.Fatal(err)
	}
	opKey := jose.SigningKey{Algorithm: k.SignatureAlgorithm(), Key: jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()}}
	claims := func() map[string]any {
		var jti [8]byte
		rand.Read(jti[:])
		return map[string]any{
			"iss": issuer, "aud": "ztgate", "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
			"jti": hex.EncodeToString(jti[:]), "sub": "id1", "sid": sid,
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
		}
	}

	// A token with the provider's key id but another key ends nothing.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := logoutToken(t, jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: k.ID()}}, claims())
	if code := backchannel(forged); code != http.StatusBadRequest {
		t.Fatalf("a forged logout token: %d, want 400", code)
	}
	if code, body := cookieGet(t, p.addr, base+"/", cookie); code != 200 {
		t.Fatalf("a forged logout token ended the session: %d %s", code, body)
	}

	// The provider's logout token ends the session on its next request.
	if code := backchannel(logoutToken(t, opKey, claims())); code != http.StatusOK {
		t.Fatalf("the provider's logout token: %d, want 200", code)
	}
	if code, body := cookieGet(t, p.addr, base+"/", cookie); code != http.StatusUnauthorized {
		t.Fatalf("the session after back-channel logout: %d %s", code, body)
	}
	browserDo(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc := browserRun(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, base+"/.ztgate/login?rd=") {
		t.Fatalf("after back-channel logout the browser was let in: %s", loc)
	}

	var login, served, logout bool
	for _, r := range auditRecords(t, dir) {
		z := r.ZTGate
		if z == nil {
			continue
		}
		switch {
		case r.EventName == "ConsoleLogin" && r.ErrorCode == "" && r.UserIdentity.ARN == person:
			login = z.AuthMethod == "oidc"
		case r.EventSource == audit.SourceGateway && z.Route == "app" && z.Decision == "allowed" && r.UserIdentity.ARN == person:
			served = true
		case r.EventName == "BackchannelLogout":
			logout = true
		}
	}
	if !login || !served || !logout {
		t.Fatalf("audit log: OIDC sign-in %v, allowed request %v, back-channel logout %v", login, served, logout)
	}
}
