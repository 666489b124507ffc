package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ztgate/ztgate/internal/iam"
)

// opStorage is zitadel's example storage, plus what a real provider says
// that the example does not: a "groups" claim, and a session id ("sid")
// per sign-in, kept across refreshes, for back-channel logout.
type opStorage struct {
	*storage.Storage
	mu   sync.Mutex
	sids map[string]string // subject → sid of the latest sign-in
}

var opGroups = []string{"engineering", "oncall"}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	ui.AppendClaims("groups", opGroups)
	s.mu.Lock()
	defer s.mu.Unlock()
	sid := s.sids[req.GetSubject()]
	if _, ok := req.(*storage.AuthRequest); ok || sid == "" {
		sid = "op-session-" + newID()
		s.sids[req.GetSubject()] = sid
	}
	ui.AppendClaims("sid", sid)
	return nil
}

func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.AppendClaims("groups", opGroups)
	return nil
}

func (s *opStorage) sid(sub string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sids[sub]
}

// oidcSetup is a gateway node and a zitadel example provider, both on
// localhost, with the provider's client registered for the gateway.
type oidcSetup struct {
	e      *env
	base   string // the gateway
	issuer string
	op     *opStorage
	offset atomic.Int64 // added to the gateway's clock
}

const trustAnyone = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`

func newOIDCSetup(t *testing.T) *oidcSetup {
	t.Helper()
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &oidcSetup{
		base:   "http://localhost:" + port(gwLn),
		issuer: "http://localhost:" + port(opLn),
	}

	clients := map[string]*storage.Client{
		"ztgate": storage.WebClient("ztgate", "ztgate-secret", o.base+PathPrefix+"oidc/callback/zitadel"),
	}
	o.op = &opStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(o.issuer), clients), sids: map[string]string{}}
	opSrv := &http.Server{Handler: exampleop.SetupServer(o.issuer, o.op, nil, false), ReadHeaderTimeout: 10 * time.Second}
	go opSrv.Serve(opLn)
	t.Cleanup(func() { opSrv.Close() })

	o.e = newEnv(t, func(c *Config) {
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(o.offset.Load())) }
		c.CookieName, c.Insecure = "", false
		c.IdPs = []IdP{{
			Name: "zitadel", DisplayName: "Zitadel", Issuer: o.issuer,
			ClientID: "ztgate", ClientSecret: "ztgate-secret",
			Scopes: []string{"openid", "profile", "email", "offline_access"},
			Role:   "engineers",
		}}
	})
	if _, err := o.e.dir.AddRole(context.Background(), iam.Role{Name: "engineers", TrustPolicy: trustAnyone}); err != nil {
		t.Fatal(err)
	}
	o.e.run(t)
	gw := httptest.NewUnstartedServer(o.e.handler())
	gw.Listener.Close()
	gw.Listener = gwLn
	gw.Start()
	t.Cleanup(gw.Close)
	return o
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// signIn goes through the provider in the browser and returns the
// session cookie.
func (o *oidcSetup) signIn(t *testing.T, ctx context.Context) string {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(o.base+"/app"),
		chromedp.Click(chromedp.CSS(`a[href^="/.ztgate/oidc/login/zitadel"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/username"]`)),
	)
	if loc := run(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, o.issuer+"/login/username?authRequestID=") {
		t.Fatalf("not at the provider: %s", loc)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), "test-user@localhost"),
		chromedp.SendKeys(chromedp.ID("password"), "verysecure"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("pre")),
	)
	want := "hello arn:zt:sts::000000000000:assumed-role/engineers/test-user@zitadel.ch methods=oidc"
	if got := run(t, ctx, chromedp.Text(chromedp.CSS("pre"))); got != want {
		t.Fatalf("after OIDC sign-in: %q, want %q", got, want)
	}
	c := sessionCookie(t, ctx, o.base)
	if c == nil {
		t.Fatal("no session cookie")
	}
	return c.Value
}

func (o *oidcSetup) authenticate(cookie string) (*Session, error) {
	r := httptest.NewRequest(http.MethodGet, o.base+"/app", nil)
	r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: cookie})
	return o.e.svc.Authenticate(r)
}

// logoutToken signs a logout token with the provider's own key; edit
// changes its claims first.
func (o *oidcSetup) logoutToken(t *testing.T, typ string, edit func(map[string]any)) string {
	t.Helper()
	key, err := o.op.SigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return signJWT(t, jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}}, typ, o.claims(edit))
}

func (o *oidcSetup) claims(edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss":    o.issuer,
		"aud":    "ztgate",
		"iat":    time.Now().Unix(),
		"exp":    time.Now().Add(2 * time.Minute).Unix(),
		"jti":    newID(),
		"sub":    "id1",
		"sid":    o.op.sid("id1"),
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func signJWT(t *testing.T, key jose.SigningKey, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(key, opts)
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

func (o *oidcSetup) backchannel(t *testing.T, token string) int {
	t.Helper()
	resp, err := http.PostForm(o.base+PathPrefix+"oidc/backchannel/zitadel", url.Values{"logout_token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBrowserOIDC signs in through a real OIDC provider (zitadel's example
// server) in Chromium, then checks token refresh, RP-initiated logout and
// back-channel logout.
func TestBrowserOIDC(t *testing.T) {
	ctx := newBrowser(t)
	o := newOIDCSetup(t)
	ctxb := context.Background()

	cookie := o.signIn(t, ctx)
	s, err := o.authenticate(cookie)
	if err != nil {
		t.Fatal(err)
	}
	if s.IdP != "zitadel" || s.UserID != "id1" || s.Email != "test-user@zitadel.ch" || s.Name != "Test User" ||
		!slices.Equal(s.Groups, opGroups) || s.MFA || !slices.Equal(s.Methods, []string{MethodOIDC}) {
		t.Fatalf("session: %+v", s)
	}
	rec, _, err := o.e.svc.read(ctxb, s.ID)
	if err != nil || rec.SID == "" || rec.SID != o.op.sid("id1") || rec.TokenExpiry.IsZero() {
		t.Fatalf("record: %+v, %v", rec, err)
	}
	toks, err := o.e.svc.openTokens(s.ID, rec)
	if err != nil || toks.Refresh == "" || toks.IDToken == "" {
		t.Fatalf("tokens: %v", err)
	}

	t.Run("refresh", func(t *testing.T) {
		// A minute before the ID token expires, the next request
		// refreshes it.
		o.offset.Store(int64(time.Until(rec.TokenExpiry) - 30*time.Second))
		defer o.offset.Store(0)
		if _, err := o.authenticate(cookie); err != nil {
			t.Fatalf("refreshing session: %v", err)
		}
		after, _, err := o.e.svc.read(ctxb, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		t2, _ := o.e.svc.openTokens(s.ID, after)
		if t2.Refresh == toks.Refresh || t2.IDToken == toks.IDToken || !after.RefreshLease.IsZero() || !slices.Equal(after.Groups, opGroups) {
			t.Fatalf("not refreshed: %+v", after)
		}
	})

	t.Run("bad logout tokens", func(t *testing.T) {
		other, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(o.claims(nil))
		hs, _ := other.Sign(b)
		hsToken, _ := hs.CompactSerialize()
		for name, tok := range map[string]string{
			"empty":         "",
			"garbage":       "not.a.jwt",
			"HMAC-signed":   hsToken,
			"other issuer":  o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["iss"] = "https://evil.example" }),
			"other client":  o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["aud"] = "someone-else" }),
			"with nonce":    o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["nonce"] = "n" }),
			"no event":      o.logoutToken(t, "logout+jwt", func(c map[string]any) { delete(c, "events") }),
			"other event":   o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["events"] = map[string]any{"x": map[string]any{}} }),
			"old":           o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }),
			"no iat":        o.logoutToken(t, "logout+jwt", func(c map[string]any) { delete(c, "iat") }),
			"no sid or sub": o.logoutToken(t, "logout+jwt", func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }),
			"wrong type":    o.logoutToken(t, "at+jwt", nil),
		} {
			if code := o.backchannel(t, tok); code != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", name, code)
			}
		}
		if _, err := o.authenticate(cookie); err != nil {
			t.Fatalf("a refused logout token ended the session: %v", err)
		}
		// A token for another session of the same person ends nothing.
		if code := o.backchannel(t, o.logoutToken(t, "logout+jwt", func(c map[string]any) { c["sid"] = "another" })); code != http.StatusOK {
			t.Fatalf("logout of an unknown sid: %d", code)
		}
		if _, err := o.authenticate(cookie); err != nil {
			t.Fatalf("another sid ended the session: %v", err)
		}
	})

	t.Run("back-channel logout by sid", func(t *testing.T) {
		if code := o.backchannel(t, o.logoutToken(t, "logout+jwt", nil)); code != http.StatusOK {
			t.Fatalf("logout token: %d", code)
		}
		if _, err := o.authenticate(cookie); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after back-channel logout: %v", err)
		}
		do(t, ctx, chromedp.Navigate(o.base+"/app"), chromedp.WaitVisible(chromedp.ID("username")))
		if loc := run(t, ctx, chromedp.Location()); !strings.HasPrefix(loc, o.base+"/.ztgate/login") {
			t.Fatalf("the browser was let in: %s", loc)
		}
	})

	t.Run("back-channel logout by sub", func(t *testing.T) {
		cookie := o.signIn(t, ctx)
		if code := o.backchannel(t, o.logoutToken(t, "", func(c map[string]any) { delete(c, "sid") })); code != http.StatusOK {
			t.Fatalf("logout token: %d", code)
		}
		if _, err := o.authenticate(cookie); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after back-channel logout: %v", err)
		}
	})

	t.Run("RP-initiated logout", func(t *testing.T) {
		cookie := o.signIn(t, ctx)
		do(t, ctx,
			chromedp.Navigate(o.base+PathPrefix),
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.CSS("body")),
		)
		deadline := time.Now().Add(5 * time.Second)
		for {
			loc := run(t, ctx, chromedp.Location())
			if strings.HasPrefix(loc, o.issuer+"/logged-out") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not sent to the provider's end_session_endpoint: %s", loc)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := o.authenticate(cookie); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after logout: %v", err)
		}
	})

	t.Run("refresh refused by the provider", func(t *testing.T) {
		cookie := o.signIn(t, ctx)
		s, err := o.authenticate(cookie)
		if err != nil {
			t.Fatal(err)
		}
		// The person is signed out at the provider: their refresh token
		// is gone.
		if err := o.op.TerminateSession(ctxb, "id1", "ztgate"); err != nil {
			t.Fatal(err)
		}
		rec, _, _ := o.e.svc.read(ctxb, s.ID)
		o.offset.Store(int64(time.Until(rec.TokenExpiry)))
		defer o.offset.Store(0)
		if _, err := o.authenticate(cookie); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after the provider refused to refresh: %v", err)
		}
	})

	var logins, backchannel int
	for _, r := range o.e.audit.Records() {
		switch {
		case r.EventName == "ConsoleLogin" && r.ErrorCode == "":
			logins++
			if r.UserIdentity.Type != "AssumedRole" || r.UserIdentity.SessionContext.SessionIssuer.UserName != "engineers" || r.ZTGate.AuthMethod != "oidc" {
				t.Errorf("sign-in record: %+v", r.UserIdentity)
			}
		case r.EventName == "BackchannelLogout":
			backchannel++
		}
	}
	if logins != 4 || backchannel != 2 {
		t.Fatalf("audited %d OIDC sign-ins and %d back-channel logouts", logins, backchannel)
	}
	b, _ := json.Marshal(o.e.audit.Records())
	if strings.Contains(string(b), toks.Refresh) || strings.Contains(string(b), toks.IDToken) {
		t.Fatal("tokens in the audit records")
	}
}
