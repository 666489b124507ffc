package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

const alicePassword = "correct horse battery staple"

func TestPasswordAndTOTPLogin(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)

	// Without a session, the app sends the browser to sign in, with the
	// page it asked for.
	resp, _ := a.get("/app?x=1")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound ||
		loc != "/.ztgate/login?rd="+url.QueryEscape(srv.URL+"/app?x=1") {
		t.Fatalf("unauthenticated /app: %d %q", resp.StatusCode, loc)
	}

	resp, body := a.login("alice", alicePassword, e.code(t, sec, 0))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app" {
		t.Fatalf("login: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body = a.get("/app")
	if want := "hello arn:zt:iam::000000000000:user/alice methods=pwd,otp"; body != want {
		t.Fatalf("/app: %q, want %q", body, want)
	}
	s, err := e.svc.Authenticate(a.request())
	if err != nil {
		t.Fatal(err)
	}
	if !s.MFA || s.Name != "alice" || s.IdP != "" || !strings.HasPrefix(s.UserID, "AIDA") || !s.Expires.Equal(e.clock.Now().Add(DefaultMaxLifetime)) {
		t.Fatalf("session: %+v", s)
	}
	// The cookie's attributes.
	resp, _ = a.login("alice", alicePassword, e.code(t, sec, 1))
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "ztgate" {
			set = c
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" || set.Domain != "" {
		t.Fatalf("session cookie: %+v", set)
	}
	// The second sign-in ended the first session of this browser.
	if _, err := e.svc.Authenticate(a.request()); err != nil {
		t.Fatalf("new session: %v", err)
	}
	if rec, _, err := e.svc.read(context.Background(), s.ID); err != nil || !rec.Revoked {
		t.Fatalf("the replaced session: %+v, %v", rec, err)
	}
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	r1, b1 := a.login("alice", "wrong password", "")
	r2, b2 := a.login("mallory", "wrong password", "")
	if r1.StatusCode != http.StatusUnauthorized || r2.StatusCode != r1.StatusCode {
		t.Fatalf("statuses %d and %d", r1.StatusCode, r2.StatusCode)
	}
	norm := func(s string) string {
		s = csrfField.ReplaceAllString(s, "")
		return strings.NewReplacer("alice", "NAME", "mallory", "NAME").Replace(s)
	}
	if norm(b1) != norm(b2) {
		t.Fatalf("pages differ:\n%s\n---\n%s", b1, b2)
	}
	if !strings.Contains(b1, msgBadPassword) {
		t.Fatalf("page: %s", b1)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IdleTimeout, c.MaxLifetime = time.Hour, 5*time.Hour })
	e.run(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)

	t.Run("idle", func(t *testing.T) {
		a := newAgent(t, srv)
		a.login("alice", alicePassword, e.code(t, sec, 0))
		e.clock.Add(59 * time.Minute)
		if _, err := e.svc.Authenticate(a.request()); err != nil {
			t.Fatalf("after 59m: %v", err)
		}
		// Used at 59m: idle from there.
		e.clock.Add(59 * time.Minute)
		if _, err := e.svc.Authenticate(a.request()); err != nil {
			t.Fatalf("after 59m more: %v", err)
		}
		e.clock.Add(61 * time.Minute)
		if _, err := e.svc.Authenticate(a.request()); !errors.Is(err, ErrExpired) {
			t.Fatalf("idle 61m: %v, want ErrExpired", err)
		}
		if resp, _ := a.get("/app"); resp.StatusCode != http.StatusFound {
			t.Fatalf("idle session let through: %d", resp.StatusCode)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		a := newAgent(t, srv)
		e.clock.Add(31 * time.Second) // a fresh TOTP step
		a.login("alice", alicePassword, e.code(t, sec, 0))
		for range 9 {
			e.clock.Add(30 * time.Minute)
			if _, err := e.svc.Authenticate(a.request()); err != nil {
				t.Fatalf("active session refused: %v", err)
			}
		}
		e.clock.Add(31 * time.Minute)
		if _, err := e.svc.Authenticate(a.request()); !errors.Is(err, ErrExpired) {
			t.Fatalf("after 5h01m: %v, want ErrExpired", err)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		recs, _ := e.st.List(context.Background(), KindSession, "")
		if len(recs) == 0 {
			t.Fatal("no sessions to sweep")
		}
		if err := e.svc.sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs, _ = e.st.List(context.Background(), KindSession, "")
		idx, _ := e.st.List(context.Background(), KindIndex, "p|")
		if len(recs) != 0 || len(idx) != 0 {
			t.Fatalf("after sweep: %d sessions, %d index records", len(recs), len(idx))
		}
	})
}

// TestRevokeOnAnotherNode: two nodes share one database; a session
// revoked on one is refused by the other once its feed has the change.
func TestRevokeOnAnotherNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	kek, clock := testKEK(t), newClock()
	a := newNode(t, openStore(t, path), kek, clock)
	b := newNode(t, openStore(t, path), kek, clock)
	a.run(t)
	b.run(t)
	sec := a.addUser(t, "alice", alicePassword)
	srvA := a.server(t)
	ag := newAgent(t, srvA)
	ag.login("alice", alicePassword, a.code(t, sec, 0))
	// Node b caches the session once it has read it; a read that races
	// its feed delivering the sign-in's own writes is (rightly) not
	// kept, so read until one is.
	var s *Session
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if s, err = b.svc.Authenticate(ag.request()); err != nil {
			t.Fatalf("node b: %v", err)
		}
		b.svc.mu.Lock()
		_, cachedB := b.svc.cache[s.ID]
		b.svc.mu.Unlock()
		if cachedB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node b did not cache the session")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.svc.Revoke(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.Authenticate(ag.request()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("node a after Revoke: %v", err)
	}
	start := time.Now()
	waitFor(t, "node b to refuse the revoked session", func() bool {
		_, err := b.svc.Authenticate(ag.request())
		return errors.Is(err, ErrRevoked)
	})
	t.Logf("node b refused the session %v after the revocation", time.Since(start))

	// RevokePrincipal on b ends every session of alice, seen by a.
	ag2, ag3 := newAgent(t, srvA), newAgent(t, srvA)
	clock.Add(31 * time.Second)
	ag2.login("alice", alicePassword, a.code(t, sec, 0))
	clock.Add(31 * time.Second)
	ag3.login("alice", alicePassword, a.code(t, sec, 0))
	for _, g := range []*agent{ag2, ag3} {
		if _, err := a.svc.Authenticate(g.request()); err != nil {
			t.Fatal(err)
		}
	}
	n, err := b.svc.RevokePrincipal(context.Background(), "arn:zt:iam::000000000000:user/alice")
	if err != nil || n != 2 {
		t.Fatalf("RevokePrincipal = %d, %v; want 2", n, err)
	}
	for _, g := range []*agent{ag2, ag3} {
		waitFor(t, "node a to refuse", func() bool {
			_, err := a.svc.Authenticate(g.request())
			return errors.Is(err, ErrRevoked)
		})
	}
	revs := 0
	for _, r := range a.audit.Records() {
		if r.EventName == "RevokeSession" && r.EventSource == audit.SourceSignIn {
			revs++
		}
	}
	for _, r := range b.audit.Records() {
		if r.EventName == "RevokeSession" {
			revs++
		}
	}
	if revs < 3 {
		t.Fatalf("%d revocations audited, want 3 or more", revs)
	}
}

// TestRevokeAfterResync: a node whose feed lost changes forgets its
// cached sessions and follows on from the current revision: a revocation
// it missed takes effect at the resync, and one made after it through
// the feed.
func TestRevokeAfterResync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	kek, clock := testKEK(t), newClock()
	a := newNode(t, openStore(t, path), kek, clock)
	hold := make(chan struct{})
	pb := &storetest.Pruned{Store: openStore(t, path), Hold: hold}
	b := newNode(t, pb, kek, clock)
	a.run(t)
	b.run(t)
	sec := a.addUser(t, "alice", alicePassword)
	srvA := a.server(t)
	cached := func(g *agent) *Session {
		t.Helper()
		var s *Session
		waitFor(t, "node b to cache the session", func() bool {
			var err error
			if s, err = b.svc.Authenticate(g.request()); err != nil {
				t.Fatalf("node b: %v", err)
			}
			b.svc.mu.Lock()
			defer b.svc.mu.Unlock()
			_, ok := b.svc.cache[s.ID]
			return ok
		})
		return s
	}
	ag := newAgent(t, srvA)
	ag.login("alice", alicePassword, a.code(t, sec, 0))
	s := cached(ag)
	// Revoked on a while b's feed is behind: b never hears of it.
	if err := a.svc.Revoke(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	close(hold)
	waitFor(t, "node b to refuse, at the resync, a session revoked while its feed was behind", func() bool {
		_, err := b.svc.Authenticate(ag.request())
		return errors.Is(err, ErrRevoked)
	})
	clock.Add(31 * time.Second)
	ag2 := newAgent(t, srvA)
	ag2.login("alice", alicePassword, a.code(t, sec, 0))
	s2 := cached(ag2)
	if err := a.svc.Revoke(context.Background(), s2.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to refuse a session revoked after the resync", func() bool {
		_, err := b.svc.Authenticate(ag2.request())
		return errors.Is(err, ErrRevoked)
	})
	if n := pb.Watches(); n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
}

func TestTOTPReplay(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	code := e.code(t, sec, 0)
	a := newAgent(t, srv)
	if resp, _ := a.login("alice", alicePassword, code); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	// The same code again, in the same 30 s, from another browser.
	b := newAgent(t, srv)
	resp, body := b.login("alice", alicePassword, code)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, msgBadCode) {
		t.Fatalf("replayed code: %d\n%s", resp.StatusCode, body)
	}
	// An older code, after a newer one was used, is refused too.
	if resp, _ := b.post(PathPrefix+"login/totp", url.Values{"code": {e.code(t, sec, -1)}, "csrf": {formCSRF(t, body)}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("older code: %d", resp.StatusCode)
	}
	// The next step's code is fine (one step of skew).
	_, body = b.login("alice", alicePassword, "")
	resp, _ = b.post(PathPrefix+"login/totp", url.Values{"code": {e.code(t, sec, 1)}, "csrf": {formCSRF(t, body)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("next step's code: %d", resp.StatusCode)
	}
	// Two steps away is too far.
	if _, ok := totpStep(sec, e.code(t, sec, 2), e.clock.Now(), 0); ok {
		t.Fatal("a code two steps ahead was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", " 12345"} {
		if _, ok := totpStep(sec, bad, e.clock.Now(), 0); ok {
			t.Fatalf("code %q accepted", bad)
		}
	}
}

func TestTOTPStepAttempts(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	_, body := a.login("alice", alicePassword, "")
	var resp *http.Response
	for range maxFlowAttempts {
		resp, body = a.post(PathPrefix+"login/totp", url.Values{"code": {"000000"}, "csrf": {formCSRF(t, body)}})
	}
	if !strings.Contains(body, msgStepExpired) {
		t.Fatalf("after %d wrong codes: %d\n%s", maxFlowAttempts, resp.StatusCode, body)
	}
	// The flow is gone: even the right code needs the password again.
	resp, _ = a.post(PathPrefix+"login/totp", url.Values{"code": {e.code(t, sec, 0)}, "csrf": {formCSRF(t, body)}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a finished TOTP step was used again")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, clientIPHeader)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)

	// Per user: after userFailures, even the right password is refused,
	// and an unknown user is refused the same way.
	for _, user := range []string{"alice", "nobody"} {
		a := newAgent(t, srv)
		a.ip = "192.0.2.1"
		for i := range userFailures {
			a.ip = "192.0.2." + string(rune('1'+i%8)) // spread over addresses
			if resp, _ := a.login(user, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s attempt %d: %d", user, i, resp.StatusCode)
			}
		}
		resp, body := a.login(user, alicePassword, "")
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, msgThrottled) {
			t.Fatalf("%s after %d failures: %d", user, userFailures, resp.StatusCode)
		}
	}
	// The window passes.
	e.clock.Add(failureWindow)
	a := newAgent(t, srv)
	if resp, _ := a.login("alice", alicePassword, e.code(t, sec, 0)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}

	// Per client address, over many user names.
	a = newAgent(t, srv)
	a.ip = "2001:db8::1"
	for i := range clientFailures {
		a.login("user"+string(rune('a'+i%26))+string(rune('a'+i/26)), "wrong", "")
	}
	a.ip = "2001:db8::2" // the same /64
	if resp, _ := a.login("bob", "wrong", ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("client over its limit: %d", resp.StatusCode)
	}
	a.ip = "2001:db8:1::1"
	if resp, _ := a.login("bob", "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another client: %d", resp.StatusCode)
	}
	throttled := 0
	for _, r := range e.audit.Records() {
		if r.ErrorCode == "TooManyAttempts" {
			throttled++
		}
	}
	if throttled < 3 {
		t.Fatalf("%d throttled attempts audited", throttled)
	}
}

func TestLogoutCSRF(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	a.login("alice", alicePassword, e.code(t, sec, 0))
	_, page := a.get(PathPrefix)
	token := formCSRF(t, page)

	for _, tc := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {flipLast(token)}}, nil},
		{"login token", url.Values{"csrf": {a.cookie("ztgate-csrf")}}, nil},
		{"cross-origin", url.Values{"csrf": {token}}, []string{"Origin", "https://evil.example"}},
		{"cross-site fetch", url.Values{"csrf": {token}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		resp, _ := a.post(PathPrefix+"logout", tc.form, tc.header...)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, resp.StatusCode)
		}
		if _, err := e.svc.Authenticate(a.request()); err != nil {
			t.Fatalf("%s ended the session: %v", tc.name, err)
		}
	}
	req := a.request()
	resp, body := a.post(PathPrefix+"logout", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out.") {
		t.Fatalf("logout: %d\n%s", resp.StatusCode, body)
	}
	if _, err := e.svc.Authenticate(req); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after logout: %v", err)
	}
	if a.cookie("ztgate") != "" {
		t.Fatal("logout left the cookie")
	}
	// The login form is protected the same way.
	_, page = a.get(PathPrefix + "login")
	resp, _ = a.post(PathPrefix+"login", url.Values{"username": {"alice"}, "password": {alicePassword}, "csrf": {formCSRF(t, page)}},
		"Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
}

func TestAuditHasNoSecrets(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	a.login("alice", "my wrong password", "")
	a.login("mallory-typed-her-password", "x", "")
	code := e.code(t, sec, 0)
	a.login("alice", alicePassword, code)
	_, page := a.get(PathPrefix)
	csrf := formCSRF(t, page)
	a.post(PathPrefix+"logout", url.Values{"csrf": {csrf}})

	recs := e.audit.Records()
	b, _ := json.Marshal(recs)
	all := string(b)
	for _, s := range []string{alicePassword, "my wrong password", sec, code, csrf, "mallory-typed-her-password"} {
		if strings.Contains(all, s) {
			t.Errorf("audit records contain %q", s)
		}
	}
	var fails, ok, logout int
	for _, r := range recs {
		switch {
		case r.EventName == "ConsoleLogin" && r.ErrorCode == "FailedAuthentication":
			fails++
			if r.EventType != audit.EventTypeConsoleIn || r.ResponseElements["ConsoleLogin"] != "Failure" {
				t.Errorf("failure record: %+v", r)
			}
		case r.EventName == "ConsoleLogin" && r.ErrorCode == "":
			ok++
			if r.UserIdentity.ARN != "arn:zt:iam::000000000000:user/alice" || r.ResponseElements["MFAUsed"] != "Yes" ||
				r.ZTGate.AuthMethod != "password" || r.EventSource != audit.SourceSignIn {
				t.Errorf("success record: %+v", r)
			}
		case r.EventName == "ConsoleLogout":
			logout++
		}
	}
	if fails != 2 || ok != 1 || logout != 1 {
		t.Fatalf("audited %d failures, %d sign-ins, %d sign-outs:\n%s", fails, ok, logout, all)
	}
	// The unknown user's name is hidden, the known one's kept.
	names := map[string]bool{}
	for _, r := range recs {
		if r.ErrorCode == "FailedAuthentication" {
			names[r.UserIdentity.UserName] = true
		}
	}
	if !names["alice"] || !names[hiddenUser] {
		t.Fatalf("failure user names: %v", names)
	}
	// A session that cannot be audited is not issued.
	e.audit.Err = errors.New("disk full")
	e.clock.Add(31 * time.Second)
	resp, _ := newAgent(t, srv).login("alice", alicePassword, e.code(t, sec, 0))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("sign-in without audit: %d", resp.StatusCode)
	}
}

func TestAccountPagesNeedSession(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	a := newAgent(t, srv)
	if resp, _ := a.get(PathPrefix); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account page without session: %d", resp.StatusCode)
	}
	if resp, _ := a.get(PathPrefix + "totp/enroll"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("enroll without session: %d", resp.StatusCode)
	}
	resp, body := a.post(PathPrefix+"passkey/register/begin", nil, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("passkey registration without session: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.post(PathPrefix+"passkey/login/begin", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("passkey begin as a form post: %d", resp.StatusCode)
	}
	resp, body = a.get(PathPrefix + "nothing")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Security-Policy") != csp {
		t.Fatalf("unknown page: %d %q", resp.StatusCode, body)
	}
}

func TestTOTPEnrollment(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	if _, err := e.dir.CreateUser(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	u, _ := e.dir.GetUser(context.Background(), "bob")
	hash, _ := hashPassword(testArgon, "bob's password")
	if err := e.svc.updateCredential(context.Background(), u, func(c *credential) error { c.Password = hash; return nil }); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, srv)
	if resp, _ := a.login("bob", "bob's password", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password-only login: %d", resp.StatusCode)
	}
	resp, page := a.get(PathPrefix + "totp/enroll")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enroll page: %d", resp.StatusCode)
	}
	secret := regexpFind(t, `<code id="totp-secret">([A-Z2-7]+)</code>`, page)
	csrf := formCSRF(t, page)
	resp, _ = a.post(PathPrefix+"totp/enroll", url.Values{"code": {"000000"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	resp, _ = a.post(PathPrefix+"totp/enroll", url.Values{"code": {e.code(t, secret, 0)}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != PathPrefix+"?m=totp" {
		t.Fatalf("enroll: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The code used to enroll cannot sign in; the next one can.
	b := newAgent(t, srv)
	if resp, _ := b.login("bob", "bob's password", e.code(t, secret, 0)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("enrollment code reused: %d", resp.StatusCode)
	}
	b = newAgent(t, srv)
	if resp, _ := b.login("bob", "bob's password", e.code(t, secret, 1)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("TOTP login after enrollment: %d", resp.StatusCode)
	}
	// Credentials need a recent sign-in to change.
	e.clock.Add(recentAuth + time.Minute)
	if resp, _ := b.get(PathPrefix + "totp/enroll"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("enroll with an old sign-in: %d", resp.StatusCode)
	}
}

func TestCredentialsDoNotPassToANewUser(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	e.addUser(t, "alice", alicePassword)
	if err := e.dir.DeleteUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := newAgent(t, srv).login("alice", alicePassword, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password of a deleted user: %d", resp.StatusCode)
	}
}

func regexpFind(t testing.TB, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found in:\n%s", re, s)
	}
	return m[1]
}

// flipLast changes the last character of s.
func flipLast(s string) string {
	if s[len(s)-1] == 'A' {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

// TestFlowStartLimit: a client cannot fill the store with sign-in steps.
func TestFlowStartLimit(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	a := newAgent(t, srv)
	a.base = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	begin := func() int {
		resp, _ := a.post(PathPrefix+"passkey/login/begin", nil, "Content-Type", "application/json")
		return resp.StatusCode
	}
	for i := range flowsPerMinute {
		if code := begin(); code != http.StatusOK {
			t.Fatalf("start %d: %d", i, code)
		}
	}
	if code := begin(); code != http.StatusTooManyRequests {
		t.Fatalf("start %d: %d, want 429", flowsPerMinute+1, code)
	}
	e.clock.Add(time.Minute)
	if code := begin(); code != http.StatusOK {
		t.Fatalf("a minute later: %d", code)
	}
}

// TestSessionOfDeletedUser: a session acts for its user by the user's
// unique id (Config.Holds, given the policy snapshot's check): once the
// user is deleted it is refused, and a user made again under the same
// name does not revive it.
func TestSessionOfDeletedUser(t *testing.T) {
	ctx := context.Background()
	var pol *iam.Policies
	e := newEnv(t, func(c *Config) {
		c.Holds = func(principal, id string) bool {
			if err := pol.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			p := authz.ParsePrincipal(principal)
			return pol.Snapshot().Holds(&p, id)
		}
	})
	pol = iam.NewPolicies(e.dir)
	if err := pol.Load(ctx); err != nil {
		t.Fatal(err)
	}
	sec := e.addUser(t, "alice", alicePassword)
	ag := newAgent(t, e.server(t))
	ag.login("alice", alicePassword, e.code(t, sec, 0))
	if _, err := e.svc.Authenticate(ag.request()); err != nil {
		t.Fatalf("before the user was deleted: %v", err)
	}
	if err := e.dir.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ag.request()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the user was deleted: %v", err)
	}
	if _, err := e.dir.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ag.request()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after a user of the same name was made: %v", err)
	}
}
