package webidentity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Defaults and limits.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = time.Minute
	// DefaultCacheTTL is how long fetched keys are trusted.
	DefaultCacheTTL = time.Hour
	// MaxTokenLength is AWS's limit on WebIdentityToken, in characters.
	MaxTokenLength = 20000

	// defaultHTTPTimeout bounds each discovery or JWKS request made with
	// the default client; fetchTimeout bounds a whole refresh (discovery
	// plus JWKS) whatever the client.
	defaultHTTPTimeout = 10 * time.Second
	fetchTimeout       = 20 * time.Second
	// maxResponseBytes bounds a discovery document or JWKS.
	maxResponseBytes = 1 << 20
	// minRefetchInterval is how often an unknown kid may trigger a
	// refetch, per issuer.
	minRefetchInterval = 30 * time.Second
	// retryInterval is how often a fetch is retried while an issuer has no
	// fresh keys at all: every token fails meanwhile, so retry sooner than
	// minRefetchInterval, but not once per token.
	retryInterval = 5 * time.Second
	// maxKeys bounds the keys kept per issuer: a token without kid is
	// tried against every key of its algorithm.
	maxKeys = 100
	// maxRedirects bounds redirects followed by the default client.
	maxRedirects = 5
)

// Issuer is one trusted OIDC issuer.
type Issuer struct {
	// URL is the issuer exactly as in the token's "iss": https, or http
	// for loopback hosts (localhost, 127.0.0.0/8, ::1) only.
	URL string
	// JWKSURL is where the issuer publishes its keys. When empty it is
	// discovered from URL + "/.well-known/openid-configuration" (jwks_uri).
	JWKSURL string
	// Audiences are the accepted "aud" values (client ids); at least one.
	Audiences []string
}

// Config configures a Verifier.
type Config struct {
	Issuers []Issuer
	// HTTPClient fetches discovery documents and JWKS. When nil, a client
	// with a 10 s timeout that refuses redirects to plain http is used.
	HTTPClient *http.Client
	// Clock is time.Now when nil.
	Clock func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat; DefaultLeeway
	// when zero.
	Leeway time.Duration
	// CacheTTL is how long fetched keys are trusted; DefaultCacheTTL when
	// zero.
	CacheTTL time.Duration
	// Log receives key-fetch events; discarded when nil.
	Log *slog.Logger
}

// ProviderID returns AWS's provider id for an issuer URL: the URL without
// its scheme and trailing slash, e.g. "token.example.com/path". Condition
// keys are named after it (PROVIDER:aud, PROVIDER:sub, PROVIDER:amr).
func ProviderID(issuerURL string) string {
	s := issuerURL
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+len("://"):]
	}
	return strings.TrimSuffix(s, "/")
}

// New validates c and returns a Verifier. All problems are reported at once,
// each wrapping ErrConfig.
func New(c Config) (*Verifier, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if len(c.Issuers) == 0 {
		bad("no issuers")
	}
	if c.Leeway < 0 {
		bad("negative leeway %v", c.Leeway)
	}
	if c.CacheTTL < 0 {
		bad("negative cache ttl %v", c.CacheTTL)
	}
	v := &Verifier{
		issuers: make(map[string]*issuer, len(c.Issuers)),
		client:  c.HTTPClient,
		clock:   c.Clock,
		leeway:  c.Leeway,
		ttl:     c.CacheTTL,
		log:     c.Log,
	}
	providers := make(map[string]string, len(c.Issuers))
	for i, is := range c.Issuers {
		name := fmt.Sprintf("issuer %d (%s)", i, is.URL)
		if err := checkURL(is.URL); err != nil {
			bad("%s: url: %w", name, err)
			continue
		}
		if is.JWKSURL != "" {
			if err := checkURL(is.JWKSURL); err != nil {
				bad("%s: jwks url: %w", name, err)
			}
		}
		if _, dup := v.issuers[is.URL]; dup {
			bad("%s: configured twice", name)
			continue
		}
		// Two issuers with one provider id (http and https, or with and
		// without a trailing slash) would share condition keys.
		pid := ProviderID(is.URL)
		if other, dup := providers[pid]; dup {
			bad("%s: same provider id %q as %s", name, pid, other)
			continue
		}
		providers[pid] = is.URL
		if len(is.Audiences) == 0 {
			bad("%s: no audiences", name)
		}
		auds := make(map[string]bool, len(is.Audiences))
		for _, a := range is.Audiences {
			switch {
			case a == "":
				bad("%s: empty audience", name)
			case auds[a]:
				bad("%s: audience %q listed twice", name, a)
			}
			auds[a] = true
		}
		v.issuers[is.URL] = &issuer{
			url:          is.URL,
			provider:     pid,
			jwksURL:      is.JWKSURL,
			discoveryURL: strings.TrimSuffix(is.URL, "/") + "/.well-known/openid-configuration",
			audiences:    auds,
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultHTTPTimeout, CheckRedirect: checkRedirect}
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.ttl == 0 {
		v.ttl = DefaultCacheTTL
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// checkURL accepts an absolute https URL, or an http one on a loopback host,
// with no user info, query or fragment (OIDC Discovery forbids them in an
// issuer; in a JWKS URL they would hint at a misconfiguration).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a url")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("scheme must be https")
	case u.Host == "" || u.Opaque != "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("user info not allowed")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("query not allowed")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("fragment not allowed")
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return errors.New("http only allowed for loopback hosts")
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkRedirect keeps the default client on https (or loopback http) across
// redirects: a JWKS must not be fetched in clear text from elsewhere.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	u := req.URL
	if u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname()) {
		return nil
	}
	return errors.New("redirect away from https")
}
