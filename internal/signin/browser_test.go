package signin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/ztgate/ztgate/internal/audit"
)

// The browser tests drive a real headless Chromium (Debian's "chromium")
// against the sign-in pages served on http://localhost:PORT, which
// Chromium treats as a secure context: the real __Host- cookie, Secure
// flag and all, and WebAuthn with a CDP virtual authenticator.

// chromiumPath finds the browser, or skips the test. Set
// ZTGATE_REQUIRE_CHROMIUM=1 to fail instead (CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ZTGATE_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no Chromium on PATH (apt-get install chromium)")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless Chromium whose traffic stays on loopback.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost"),
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

// addAuthenticator gives the tab a platform authenticator that holds
// passkeys and verifies its user without asking.
func addAuthenticator(t *testing.T, ctx context.Context) cdpwebauthn.AuthenticatorID {
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

// browserEnv is a node with the production cookie settings and the real
// clock, served on http://localhost:PORT.
func browserEnv(t *testing.T, opts ...envOption) (*env, string) {
	t.Helper()
	opts = append([]envOption{func(c *Config) {
		c.Clock, c.CookieName, c.Insecure = time.Now, "", false
	}}, opts...)
	e := newEnv(t, opts...)
	e.run(t)
	srv := e.server(t)
	return e, localhost(srv)
}

func localhost(srv *httptest.Server) string {
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%v\nat %s:\n%s", err, loc, body)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sessionCookie returns the browser's session cookie for base.
func sessionCookie(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == DefaultCookieName {
			return c
		}
	}
	return nil
}

func authenticateCookie(e *env, c *network.Cookie) (*Session, error) {
	r := httptest.NewRequest(http.MethodGet, "/app", nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return e.svc.Authenticate(r)
}

// TestBrowserLocalUser: a person signs in with a password and a TOTP
// code, registers a passkey, signs out, signs in with the passkey alone,
// and signs out again — in a real Chromium.
func TestBrowserLocalUser(t *testing.T) {
	ctx := newBrowser(t)
	e, base := browserEnv(t)
	sec := e.addUser(t, "alice", alicePassword)
	auth := addAuthenticator(t, ctx)

	// Password and TOTP.
	do(t, ctx, chromedp.Navigate(base+"/app"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc := run(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, base+"/.ztgate/login?rd=") {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	code, err := totp.GenerateCode(sec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.CSS("pre")),
	)
	if got, want := run(t, ctx, chromedp.Text(chromedp.CSS("pre"))), "hello arn:zt:iam::000000000000:user/alice methods=pwd,otp"; got != want {
		t.Fatalf("after password and TOTP: %q, want %q", got, want)
	}
	c := sessionCookie(t, ctx, base)
	if c == nil || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Domain != "localhost" {
		t.Fatalf("session cookie: %+v", c)
	}
	first, err := authenticateCookie(e, c)
	if err != nil || !first.MFA {
		t.Fatalf("the browser's cookie: %+v, %v", first, err)
	}

	// Register a passkey from the account page.
	do(t, ctx,
		chromedp.Navigate(base+"/.ztgate/"),
		chromedp.Click(chromedp.ID("passkey-register")),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if got := run(t, ctx, chromedp.Text(chromedp.ID("notice"))); got != notices["passkey"] {
		t.Fatalf("after registration: %q", got)
	}
	creds, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("authenticator credentials: %+v, %v", creds, err)
	}

	// Sign out.
	do(t, ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("message")))
	if got := run(t, ctx, chromedp.Text(chromedp.ID("message"))); got != "You are signed out." {
		t.Fatalf("after sign-out: %q", got)
	}
	if _, err := authenticateCookie(e, c); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the signed-out cookie: %v", err)
	}
	if sessionCookie(t, ctx, base) != nil {
		t.Fatal("the browser kept its session cookie")
	}

	// The passkey alone.
	do(t, ctx,
		chromedp.Navigate(base+"/app"),
		chromedp.WaitVisible(chromedp.ID("passkey-login")),
		chromedp.Click(chromedp.ID("passkey-login")),
		chromedp.WaitVisible(chromedp.CSS("pre")),
	)
	if got, want := run(t, ctx, chromedp.Text(chromedp.CSS("pre"))), "hello arn:zt:iam::000000000000:user/alice methods=hwk"; got != want {
		t.Fatalf("after the passkey: %q, want %q", got, want)
	}
	c = sessionCookie(t, ctx, base)
	s, err := authenticateCookie(e, c)
	if err != nil || !s.MFA || s.ID == first.ID {
		t.Fatalf("passkey session: %+v, %v", s, err)
	}

	// Logout ends it.
	do(t, ctx,
		chromedp.Navigate(base+"/.ztgate/"),
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.Navigate(base+"/app"),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if _, err := authenticateCookie(e, c); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the second sign-out: %v", err)
	}

	var methods []string
	registered := false
	for _, r := range e.audit.Records() {
		if r.EventName == "ConsoleLogin" && r.ErrorCode == "" {
			methods = append(methods, r.ZTGate.AuthMethod)
		}
		registered = registered || (r.EventName == "RegisterPasskey" && r.ZTGate.Category == audit.CategoryAdmin)
	}
	if strings.Join(methods, ",") != "password,passkey" || !registered {
		t.Fatalf("audited sign-ins %v, passkey registration %v", methods, registered)
	}
}
