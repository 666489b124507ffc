package signin

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testArgon makes password hashes cheap in tests; the hash format is the
// same.
var testArgon = argonParams{Time: 1, Memory: 64, Threads: 1, KeyLen: 32}

func testKEK(t testing.TB) *secret.KEK {
	t.Helper()
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{
		Driver: sqlstore.SQLite, Path: path, Poll: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is one node: a store, a directory and a Service.
type env struct {
	st    store.Store
	kek   *secret.KEK
	dir   *iam.Directory
	audit *audit.Memory
	clock *fakeClock
	svc   *Service
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	return newNode(t, st, testKEK(t), newClock(), opts...)
}

// newNode makes a Service over st: several nodes can share a store.
func newNode(t testing.TB, st store.Store, kek *secret.KEK, clock *fakeClock, opts ...envOption) *env {
	t.Helper()
	e := &env{st: st, kek: kek, audit: &audit.Memory{Clock: clock.Now}, clock: clock}
	e.dir = iam.New(iam.Config{Store: st, KEK: kek, Clock: clock.Now})
	c := Config{
		Store: st, KEK: kek, Directory: e.dir, Audit: e.audit, Clock: clock.Now,
		CookieName: "ztgate", Insecure: true,
	}
	for _, o := range opts {
		o(&c)
	}
	svc, err := New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	cheapHashes(t, svc)
	e.svc = svc
	return e
}

func cheapHashes(t testing.TB, svc *Service) {
	t.Helper()
	svc.argon = testArgon
	var err error
	if svc.dummy, err = hashPassword(testArgon, "dummy"); err != nil {
		t.Fatal(err)
	}
}

// run follows the change feed until the test ends.
func (e *env) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "Run to start", func() bool {
		e.svc.mu.Lock()
		defer e.svc.mu.Unlock()
		return e.svc.following
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addUser makes a local user with a password and TOTP and returns the
// TOTP secret.
func (e *env) addUser(t testing.TB, name, password string) string {
	t.Helper()
	u, err := e.svc.AddLocalUser(context.Background(), name, password)
	if err != nil {
		t.Fatal(err)
	}
	k, err := otp.NewKeyFromURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret()
}

// code is the TOTP code of secret at the env's time, d steps away.
func (e *env) code(t testing.TB, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now().Add(time.Duration(steps)*totpPeriod*time.Second), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agent is a browser-like HTTP client: a cookie jar, no automatic
// redirects, and the Origin header a browser sends on posts.
type agent struct {
	t    testing.TB
	base string
	c    *http.Client
	ip   string
}

func (e *env) server(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(e.handler())
	t.Cleanup(srv.Close)
	return srv
}

// handler serves the sign-in pages and /app, a page that needs a session.
func (e *env) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathPrefix, e.svc.Handler())
	mux.HandleFunc("/app", func(w http.ResponseWriter, r *http.Request) {
		s, err := e.svc.Authenticate(r)
		if err != nil {
			http.Redirect(w, r, e.svc.LoginURL(r), http.StatusFound)
			return
		}
		io.WriteString(w, "hello "+s.Principal+" methods="+strings.Join(s.Methods, ","))
	})
	return mux
}

func newAgent(t testing.TB, srv *httptest.Server) *agent {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, base: srv.URL, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (a *agent) do(req *http.Request) (*http.Response, string) {
	a.t.Helper()
	if a.ip != "" {
		req.Header.Set("X-Test-Client", a.ip)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (a *agent) get(path string) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.base+path, nil)
	return a.do(req)
}

func (a *agent) post(path string, form url.Values, header ...string) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.base)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return a.do(req)
}

func (a *agent) cookie(name string) string {
	u, _ := url.Parse(a.base)
	for _, c := range a.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formCSRF returns the CSRF token of a page's form.
func formCSRF(t testing.TB, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// login signs in with a password and, when code is not empty, a TOTP
// code; it returns the last response.
func (a *agent) login(user, password, code string) (*http.Response, string) {
	a.t.Helper()
	_, page := a.get(PathPrefix + "login?rd=/app")
	csrf := formCSRF(a.t, page)
	resp, body := a.post(PathPrefix+"login", url.Values{"username": {user}, "password": {password}, "csrf": {csrf}, "rd": {"/app"}})
	if code == "" || resp.StatusCode != http.StatusOK {
		return resp, body
	}
	return a.post(PathPrefix+"login/totp", url.Values{"code": {code}, "csrf": {formCSRF(a.t, body)}})
}

// request makes a request carrying the agent's cookies, for Authenticate.
func (a *agent) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, a.base+"/app", nil)
	u, _ := url.Parse(a.base)
	for _, c := range a.c.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	return r
}

// clientIPHeader lets tests choose the client address.
func clientIPHeader(c *Config) {
	c.ClientIP = func(r *http.Request) string {
		if ip := r.Header.Get("X-Test-Client"); ip != "" {
			return ip
		}
		return clientIP(r)
	}
}
