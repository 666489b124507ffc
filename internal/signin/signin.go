package signin

import (
	"context"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// Record kinds in the store.
const (
	KindSession    = "signin-session"
	KindCredential = "signin-credential"
	KindFlow       = "signin-flow"
	KindIndex      = "signin-index"
)

// PathPrefix is where [Service.Handler] serves, on every host.
const PathPrefix = "/.ztgate/"

// Errors of [Service.Authenticate], classified with errors.Is.
var (
	// ErrNoSession: the request carries no session cookie, or one that
	// is not valid (altered, forged, sealed under another key).
	ErrNoSession = errors.New("signin: no session")
	// ErrRevoked: the session was ended (logout, administrator, IdP).
	ErrRevoked = errors.New("signin: session revoked")
	// ErrExpired: the session passed its idle or absolute limit.
	ErrExpired = errors.New("signin: session expired")
)

// Authentication methods as sessions name them (RFC 8176 where it has a
// name).
const (
	MethodPassword = "pwd"
	MethodOTP      = "otp"
	MethodPasskey  = "hwk"
	MethodOIDC     = "oidc"
)

// Defaults of [Config].
const (
	DefaultIdleTimeout = 12 * time.Hour
	DefaultMaxLifetime = 7 * 24 * time.Hour
	DefaultCookieName  = "__Host-ztgate"
)

// Config is what a [Service] needs.
type Config struct {
	Store     store.Store
	KEK       *secret.KEK
	Directory *iam.Directory
	Audit     audit.Recorder
	Log       *slog.Logger     // discarded when nil
	Clock     func() time.Time // time.Now when nil

	// Account is the account of the principals; the directory's when
	// empty.
	Account string

	// IdleTimeout ends a session unused for that long (default 12h);
	// MaxLifetime ends every session that long after it began (default
	// 7 days).
	IdleTimeout, MaxLifetime time.Duration

	// CookieName is the session cookie's name (default "__Host-ztgate").
	// Insecure drops the cookie's Secure flag and allows http return
	// URLs on any host: for tests with plain HTTP clients only. Chromium
	// accepts Secure cookies on http://localhost and *.localhost, so
	// development servers there need neither.
	CookieName string
	Insecure   bool

	// IdPs are the OpenID Connect providers people may sign in with.
	IdPs []IdP

	// AllowedRedirectHosts are the hosts besides the request's own that
	// a return URL (?rd=) may name: "app.example.com" (any port) or
	// "*.example.com" (its subdomains).
	AllowedRedirectHosts []string

	// ClientIP returns the client's address of a request, for rate
	// limits and audit records. When nil, [peer.FromRequest]: the
	// client a trusted proxy names when the node attached it to the
	// request, else the connection's peer.
	ClientIP func(*http.Request) string

	// Holds, when set, reports whether the user or role a session acts
	// for (its principal ARN) still exists under the unique id the
	// session recorded; a session whose identity is gone, or was made
	// again under the same name, is refused as revoked. A session of a
	// role that recorded no id (made before roles were) is not asked of.
	Holds func(principal, id string) bool
}

// Session is a signed-in person's session as the gateway sees it.
type Session struct {
	ID string // the session's id: not a secret, the cookie is sealed
	// Principal is the ARN policies see: an IAM user's, or an assumed
	// role session's for people of an OIDC provider.
	Principal string
	UserID    string // the IAM user's id, or the IdP's subject
	RoleID    string // for a person of an OIDC provider: the unique id of the role acted as
	Name      string
	Email     string
	Groups    []string
	Methods   []string // MethodPassword, MethodOTP, MethodPasskey, MethodOIDC
	AuthTime  time.Time
	MFA       bool
	IdP       string    // the provider's name; empty for local users
	Expires   time.Time // the absolute end of the session
}

// Service signs people in and keeps their sessions.
type Service struct {
	c          Config
	log        *slog.Logger
	now        func() time.Time
	account    string
	cookieName string
	flowCookie string
	csrfCookie string
	secure     bool

	idps    map[string]*provider
	idpList []*provider

	users      *ratelimit.Limiter // failed sign-ins per user name
	clients    *ratelimit.Limiter // failed sign-ins per client address
	flowStarts *ratelimit.Limiter // sign-ins started per client address
	hashSem    chan struct{}
	argon      argonParams
	dummy      string // a password hash checked for unknown users, so they take as long

	handler http.Handler

	mu         sync.Mutex
	cache      map[string]cached // session id → record; valid only while following
	pos        int64             // the change-feed revision the cache reflects
	posSignal  chan struct{}     // closed and replaced when pos advances
	following  bool              // Run is applying the change feed
	running    bool
	refreshing map[string]bool // sessions whose OIDC tokens this node is refreshing
}

// maxCache bounds the session cache; an entry is evicted at random past it.
const maxCache = 65536

var idpName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// New checks c, fills in its defaults and returns a Service. Call Run to
// follow the change feed.
func New(ctx context.Context, c Config) (*Service, error) {
	switch {
	case c.Store == nil:
		return nil, errors.New("signin: no store")
	case c.KEK == nil:
		return nil, errors.New("signin: no key-encryption key")
	case c.Directory == nil:
		return nil, errors.New("signin: no IAM directory")
	case c.Audit == nil:
		return nil, errors.New("signin: no audit recorder")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Account == "" {
		c.Account = c.Directory.Account()
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.IdleTimeout < 0 || c.MaxLifetime < 0 {
		return nil, errors.New("signin: negative session timeout")
	}
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if !cookieName.MatchString(c.CookieName) {
		return nil, fmt.Errorf("signin: cookie name %q is not a cookie token", c.CookieName)
	}
	if c.Insecure && (strings.HasPrefix(c.CookieName, "__Host-") || strings.HasPrefix(c.CookieName, "__Secure-")) {
		return nil, fmt.Errorf("signin: cookie name %q needs the Secure flag, which Insecure drops", c.CookieName)
	}
	if c.ClientIP == nil {
		c.ClientIP = clientIP
	}
	for _, h := range c.AllowedRedirectHosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			return nil, fmt.Errorf("signin: allowed redirect host %q is not a host name", h)
		}
	}
	s := &Service{
		c:          c,
		log:        c.Log,
		now:        c.Clock,
		account:    c.Account,
		cookieName: c.CookieName,
		flowCookie: c.CookieName + "-flow",
		csrfCookie: c.CookieName + "-csrf",
		secure:     !c.Insecure,
		idps:       map[string]*provider{},
		users:      ratelimit.New(userFailures, failureWindow, c.Clock),
		clients:    ratelimit.New(clientFailures, failureWindow, c.Clock),
		flowStarts: ratelimit.New(flowsPerMinute, time.Minute, c.Clock),
		hashSem:    make(chan struct{}, hashConcurrency),
		argon:      defaultArgon,
		cache:      map[string]cached{},
		posSignal:  make(chan struct{}),
		refreshing: map[string]bool{},
	}
	for i := range c.IdPs {
		p, err := newProvider(s, c.IdPs[i])
		if err != nil {
			return nil, err
		}
		if s.idps[p.cfg.Name] != nil {
			return nil, fmt.Errorf("signin: two identity providers named %q", p.cfg.Name)
		}
		s.idps[p.cfg.Name] = p
		s.idpList = append(s.idpList, p)
	}
	var err error
	if s.dummy, err = hashPassword(s.argon, "ztgate: no such user"); err != nil {
		return nil, err
	}
	rev, err := c.Store.Revision(ctx)
	if err != nil {
		return nil, fmt.Errorf("signin: %w", err)
	}
	s.pos = rev
	s.handler = s.routes()
	return s, nil
}

// cookieName is RFC 6265's token, which a cookie name must be.
var cookieName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")

// Run follows the store's change feed, keeping the session cache valid,
// and removes expired sessions and sign-in flows from the store now and
// then. It returns when ctx ends (nil) or the feed fails.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("signin: Run is already running")
	}
	s.running = true
	s.following = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running, s.following = false, false
		clear(s.cache)
		s.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.housekeeping(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	from := func() int64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pos
	}
	// Changes were lost to this node: forget every cached session and
	// start again from the current revision.
	reload := func(ctx context.Context) error {
		rev, err := s.c.Store.Revision(ctx)
		if err != nil {
			return fmt.Errorf("signin: %w", err)
		}
		s.mu.Lock()
		clear(s.cache)
		s.advance(rev)
		s.mu.Unlock()
		return nil
	}
	return store.Follow(ctx, s.c.Store.Watch, "signin", from, reload, func(_ context.Context, c store.Change) error {
		s.mu.Lock()
		if c.Kind == KindSession {
			delete(s.cache, c.Key)
		}
		s.advance(c.Revision)
		s.mu.Unlock()
		return nil
	})
}

// advance records that the cache reflects every change up to rev. s.mu
// is held.
func (s *Service) advance(rev int64) {
	if rev <= s.pos {
		return
	}
	s.pos = rev
	close(s.posSignal)
	s.posSignal = make(chan struct{})
}

// waitFeed waits, for a short while at most, until this node's feed has
// applied revision rev, so that a node that wrote a change refuses what
// the change refuses as soon as the write returns.
func (s *Service) waitFeed(ctx context.Context, rev int64) {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		s.mu.Lock()
		if !s.following || s.pos >= rev {
			s.mu.Unlock()
			return
		}
		sig := s.posSignal
		s.mu.Unlock()
		select {
		case <-sig:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// housekeeping periodically deletes expired records and forgets old rate
// limit counts.
func (s *Service) housekeeping(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("signin: removing expired sessions failed", "err", err)
		}
		s.users.Prune()
		s.clients.Prune()
		s.flowStarts.Prune()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepEvery is how often expired sessions and flows are deleted.
const sweepEvery = 10 * time.Minute

// Handler serves every page and endpoint under [PathPrefix].
func (s *Service) Handler() http.Handler { return s.handler }
