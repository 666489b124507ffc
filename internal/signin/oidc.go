package signin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// IdP is an OpenID Connect provider that people sign in with.
type IdP struct {
	// Name names the provider in URLs and sessions: lower-case letters,
	// digits, '-' and '_', at most 32. Its callback is
	// https://HOST/.ztgate/oidc/callback/NAME on each host people sign
	// in on, and its back-channel logout URI
	// https://HOST/.ztgate/oidc/backchannel/NAME.
	Name        string
	DisplayName string // on the sign-in button; Name when empty

	Issuer                 string
	ClientID, ClientSecret string
	// Scopes requested; "openid", "email" and "profile" when empty.
	// Add "offline_access" (or the provider's equivalent) for refresh
	// tokens.
	Scopes []string

	// Role is the name of the IAM role whose sessions the provider's
	// people become: arn:zt:sts::ACCOUNT:assumed-role/ROLE/EMAIL-or-SUB.
	Role string
	// GroupsClaim names the claim listing the person's groups; "groups"
	// when empty.
	GroupsClaim string
	// PostLogoutRedirect, when set, is sent to the end_session_endpoint as
	// post_logout_redirect_uri (the provider must know it).
	PostLogoutRedirect string

	// HTTPClient talks to the provider; one with a 10 s timeout when nil.
	HTTPClient *http.Client
}

// LogValue keeps the client secret out of logs.
func (p IdP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", p.Name), slog.String("issuer", p.Issuer), slog.String("client_id", p.ClientID))
}

// String keeps the client secret out of formatted errors.
func (p IdP) String() string { return "idp " + p.Name + " (" + p.Issuer + ")" }

// GoString is String, so that %#v cannot show the secret either.
func (p IdP) GoString() string { return p.String() }

var (
	_ slog.LogValuer = IdP{}
	_ fmt.Stringer   = IdP{}
)

var roleName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// provider is a configured IdP with its relying party, made on first use
// (discovery needs the provider to answer, and a node should start when it
// does not).
type provider struct {
	s      *Service
	cfg    IdP
	client *http.Client

	mu      sync.Mutex
	rp      rp.RelyingParty
	lastTry time.Time
	lastErr error
}

// rediscoverAfter bounds how often a failed discovery is tried again.
const rediscoverAfter = 10 * time.Second

func newProvider(s *Service, c IdP) (*provider, error) {
	if !idpName.MatchString(c.Name) {
		return nil, fmt.Errorf("signin: identity provider name %q must be 1 to 32 of a-z, 0-9, '-' and '_'", c.Name)
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && (u.Scheme != "http" || s.secure && !isLocalhost(hostname(u.Host)))) {
		return nil, fmt.Errorf("signin: identity provider %s: issuer %q must be an https URL", c.Name, c.Issuer)
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("signin: identity provider %s: no client id", c.Name)
	}
	if !roleName.MatchString(c.Role) {
		return nil, fmt.Errorf("signin: identity provider %s: role %q is not a role name", c.Name, c.Role)
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile}
	}
	if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		c.Scopes = append([]string{oidc.ScopeOpenID}, c.Scopes...)
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	p := &provider{s: s, cfg: c, client: c.HTTPClient}
	if p.client == nil {
		p.client = &http.Client{Timeout: 10 * time.Second}
	}
	return p, nil
}

func (p *provider) display() string {
	if p.cfg.DisplayName != "" {
		return p.cfg.DisplayName
	}
	return p.cfg.Name
}

type nonceKey struct{}

// expectedNonce gives the ID token verifier the nonce of the flow being
// finished; without one nothing matches.
func expectedNonce(ctx context.Context) string {
	if n, ok := ctx.Value(nonceKey{}).(string); ok && n != "" {
		return n
	}
	return "\x00no nonce expected"
}

func (p *provider) relyingParty(ctx context.Context) (rp.RelyingParty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rp != nil {
		return p.rp, nil
	}
	if p.lastErr != nil && time.Since(p.lastTry) < rediscoverAfter {
		return nil, p.lastErr
	}
	p.lastTry = time.Now()
	r, err := rp.NewRelyingPartyOIDC(ctx, p.cfg.Issuer, p.cfg.ClientID, p.cfg.ClientSecret, "", p.cfg.Scopes,
		rp.WithHTTPClient(p.client),
		rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(expectedNonce)),
	)
	if err != nil {
		p.lastErr = fmt.Errorf("signin: discovery of %s: %w", p.cfg.Issuer, err)
		return nil, p.lastErr
	}
	p.rp, p.lastErr = r, nil
	return r, nil
}

// urlParam is an option of the rp package's auth URL and code exchange.
func urlParam(k, v string) func() []oauth2.AuthCodeOption {
	return func() []oauth2.AuthCodeOption { return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam(k, v)} }
}

func (s *Service) callbackURL(r *http.Request, p *provider) string {
	return s.origin(r) + PathPrefix + "oidc/callback/" + p.cfg.Name
}

func (s *Service) oidcLogin(w http.ResponseWriter, r *http.Request) {
	p := s.idps[r.PathValue("idp")]
	if p == nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no such identity provider.")
		return
	}
	party, err := p.relyingParty(r.Context())
	if err != nil {
		s.log.Error("signin: identity provider unavailable", "idp", p.cfg.Name, "err", err)
		s.message(w, r, http.StatusBadGateway, "Sign-in unavailable", "The identity provider cannot be reached. Try again later.")
		return
	}
	verifier := oauth2.GenerateVerifier()
	f := &flow{
		Kind:        flowOIDC,
		Return:      s.safeReturn(r, r.URL.Query().Get("rd")),
		IdP:         p.cfg.Name,
		State:       newSecret(),
		Nonce:       newSecret(),
		Verifier:    verifier,
		RedirectURI: s.callbackURL(r, p),
	}
	if err := s.startFlow(r.Context(), w, r, f); err != nil {
		s.flowError(w, r, "starting an OIDC sign-in failed", err)
		return
	}
	u := rp.AuthURL(f.State, party,
		rp.WithCodeChallenge(oidc.NewSHACodeChallenge(verifier)),
		urlParam("nonce", f.Nonce),
		urlParam("redirect_uri", f.RedirectURI),
	)
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// oidcTokens are the tokens a session keeps, sealed.
type oidcTokens struct {
	Refresh string `json:"refresh,omitempty"`
	IDToken string `json:"idToken,omitempty"`
	Nonce   string `json:"nonce,omitempty"`
}

func tokensAAD(id string) []byte { return []byte("ztgate signin oidc tokens v1\x00" + id) }

func (s *Service) sealTokens(id string, t oidcTokens) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return secret.Seal(s.c.KEK, b, tokensAAD(id))
}

func (s *Service) openTokens(id string, rec *sessionRecord) (oidcTokens, error) {
	var t oidcTokens
	if len(rec.Tokens) == 0 {
		return t, nil
	}
	b, err := secret.Open(s.c.KEK, rec.Tokens, tokensAAD(id))
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(b, &t)
}

// person is what ztgate takes from an ID token (and userinfo).
type person struct {
	Subject, Email, Name, SID string
	EmailVerified             bool
	Groups                    []string
	GroupsSeen                bool
	AMR                       []string
	AuthTime                  time.Time
}

func (p *provider) personOf(c *oidc.IDTokenClaims) person {
	who := person{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: bool(c.EmailVerified),
		Name:          c.Name,
		SID:           c.SessionID,
		AMR:           c.AuthenticationMethodsReferences,
		AuthTime:      c.AuthTime.AsTime(),
	}
	if who.Name == "" {
		who.Name = c.PreferredUsername
	}
	who.Groups, who.GroupsSeen = groupsOf(c.Claims[p.cfg.GroupsClaim])
	return who
}

// Bounds on the groups a session carries.
const (
	maxGroups   = 256
	maxGroupLen = 256
)

// groupsOf reads a groups claim: a list of strings, or one string.
func groupsOf(v any) ([]string, bool) {
	var out []string
	switch g := v.(type) {
	case nil:
		return nil, false
	case string:
		out = []string{g}
	case []any:
		for _, e := range g {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = slices.Clone(g)
	default:
		return nil, false
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" || len(s) > maxGroupLen })
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxGroups {
		out = out[:maxGroups]
	}
	return out, true
}

// mfaMethods are the RFC 8176 methods that are a second factor beside a
// password.
var mfaMethods = []string{"otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc", "pin"}

func mfaOf(amr []string) bool {
	if slices.Contains(amr, "mfa") {
		return true
	}
	for _, m := range mfaMethods {
		if slices.Contains(amr, m) && len(amr) > 1 {
			return true
		}
	}
	return false
}

// sessionName is the last part of an OIDC person's principal: the
// verified email, or else the subject, as AWS allows role session names
// ([\w+=,.@-]{2,64}). A name that had to be changed to fit gets a hash of
// the original, so that two people cannot end up with one principal.
func sessionName(email, sub string) string {
	base := sub
	if email != "" {
		base = email
	}
	var b strings.Builder
	for _, r := range base {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	clean := b.String()
	if clean == base && len(clean) >= 2 && len(clean) <= 64 {
		return clean
	}
	sum := sha256.Sum256([]byte(base))
	return clean[:min(len(clean), 55)] + "-" + hex.EncodeToString(sum[:4])
}

func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := s.idps[r.PathValue("idp")]
	if p == nil {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no such identity provider.")
		return
	}
	f, err := s.takeFlow(w, r, flowOIDC)
	q := r.URL.Query()
	if err != nil || f.IdP != p.cfg.Name || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		s.message(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in did not start here, or it expired. Sign in again.")
		return
	}
	fail := func(code, why string, err error) {
		s.log.Warn("signin: OIDC sign-in refused", "idp", p.cfg.Name, "code", code, "err", err)
		s.auditFailure(ctx, r, audit.UserIdentity{Type: "Unknown"}, "oidc", code, why, map[string]any{"idp": p.cfg.Name})
		s.message(w, r, http.StatusUnauthorized, "Sign-in failed", "The identity provider did not sign you in. Try again.")
	}
	if e := q.Get("error"); e != "" {
		fail("IdPError", "The identity provider answered "+clip(e, 64), nil)
		return
	}
	party, err := p.relyingParty(ctx)
	if err != nil {
		s.log.Error("signin: identity provider unavailable", "idp", p.cfg.Name, "err", err)
		s.message(w, r, http.StatusBadGateway, "Sign-in unavailable", "The identity provider cannot be reached. Try again later.")
		return
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(ctx, nonceKey{}, f.Nonce), q.Get("code"), party,
		rp.WithCodeVerifier(f.Verifier), urlParam("redirect_uri", f.RedirectURI))
	if err != nil {
		fail("InvalidToken", "The code exchange or the ID token was refused", err)
		return
	}
	claims := tokens.IDTokenClaims
	if claims == nil || tokens.IDToken == "" || claims.Nonce != f.Nonce {
		fail("InvalidToken", "No valid ID token", nil)
		return
	}
	who := p.personOf(claims)
	if (who.Email == "" || !who.GroupsSeen) && party.UserinfoEndpoint() != "" {
		// Many providers put these in userinfo only.
		if info, err := rp.Userinfo[*oidc.UserInfo](ctx, tokens.AccessToken, tokens.TokenType, claims.Subject, party); err == nil {
			if who.Email == "" {
				who.Email, who.EmailVerified = info.Email, bool(info.EmailVerified)
			}
			if who.Name == "" {
				who.Name = info.Name
			}
			if !who.GroupsSeen {
				who.Groups, who.GroupsSeen = groupsOf(info.Claims[p.cfg.GroupsClaim])
			}
		} else {
			s.log.Warn("signin: userinfo failed", "idp", p.cfg.Name, "err", err)
		}
	}
	role, err := s.c.Directory.GetRole(ctx, p.cfg.Role)
	if err != nil {
		s.log.Error("signin: the role of an identity provider is missing", "idp", p.cfg.Name, "role", p.cfg.Role, "err", err)
		fail("RoleUnavailable", "The provider's role is missing", err)
		return
	}
	if !who.EmailVerified {
		who.Email = "" // an unverified address names no one
	}
	name := sessionName(who.Email, who.Subject)
	rec := &sessionRecord{
		Principal: "arn:" + iam.Partition + ":sts::" + s.account + ":assumed-role/" + role.Name + "/" + name,
		UserID:    who.Subject,
		RoleID:    role.ID,
		Name:      cmpOr(who.Name, who.Email, who.Subject),
		Email:     who.Email,
		Groups:    who.Groups,
		Methods:   []string{MethodOIDC},
		MFA:       mfaOf(who.AMR),
		IdP:       p.cfg.Name,
		Subject:   who.Subject,
		SID:       who.SID,
		AuthTime:  who.AuthTime.UTC(),
	}
	if now := s.now(); rec.AuthTime.IsZero() || rec.AuthTime.After(now) {
		rec.AuthTime = now.UTC()
	}
	id := newID()
	kept := oidcTokens{IDToken: tokens.IDToken, Nonce: f.Nonce, Refresh: tokens.RefreshToken}
	if rec.Tokens, err = s.sealTokens(id, kept); err != nil {
		s.internalError(w, r, "sealing tokens failed", err)
		return
	}
	if kept.Refresh != "" {
		rec.TokenExpiry = claims.Expiration.AsTime().UTC()
	}
	ident := audit.UserIdentity{
		Type:        "AssumedRole",
		PrincipalID: role.ID + ":" + name,
		ARN:         rec.Principal,
		AccountID:   s.account,
		SessionContext: &audit.SessionContext{
			SessionIssuer: &audit.SessionIssuer{Type: "Role", PrincipalID: role.ID, ARN: role.ARN(), AccountID: role.Account, UserName: role.Name},
			Attributes:    audit.SessionAttribute{CreationDate: s.now().UTC(), MFAAuthenticated: rec.MFA},
		},
	}
	params := map[string]any{"idp": p.cfg.Name, "issuer": p.cfg.Issuer, "subject": who.Subject}
	if _, err := s.issueWithID(w, r, id, rec, loginInfo{Identity: ident, Method: "oidc", Params: params}); err != nil {
		s.internalError(w, r, "issuing a session failed", err)
		return
	}
	http.Redirect(w, r, f.Return, http.StatusSeeOther)
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// endSessionURL is where to send the browser to end its session at the
// IdP too (OpenID RP-Initiated Logout), or "" when the IdP has no
// end_session_endpoint.
func (p *provider) endSessionURL(ctx context.Context, id string, rec *sessionRecord) string {
	party, err := p.relyingParty(ctx)
	if err != nil || party.GetEndSessionEndpoint() == "" {
		return ""
	}
	q := url.Values{"client_id": {p.cfg.ClientID}}
	if t, err := p.s.openTokens(id, rec); err == nil && t.IDToken != "" {
		q.Set("id_token_hint", t.IDToken)
	}
	if p.cfg.PostLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", p.cfg.PostLogoutRedirect)
	}
	ep := party.GetEndSessionEndpoint()
	sep := "?"
	if strings.Contains(ep, "?") {
		sep = "&"
	}
	return ep + sep + q.Encode()
}

// Refreshing: the ID token's expiry is the IdP's word on how long it
// vouches for the person. When it gave a refresh token, ztgate asks again
// refreshMargin before that; a refusal (invalid_grant: the person was
// disabled or signed out there) ends the session. Other failures keep the
// session and are retried after the lease.
const (
	refreshMargin = time.Minute
	refreshLease  = 30 * time.Second
)

func (s *Service) refresh(ctx context.Context, id string, rec *sessionRecord, rev int64) (*sessionRecord, int64, error) {
	p := s.idps[rec.IdP]
	now := s.now()
	if p == nil || now.Before(rec.RefreshLease) {
		return rec, rev, nil
	}
	s.mu.Lock()
	if s.refreshing[id] {
		s.mu.Unlock()
		return rec, rev, nil
	}
	s.refreshing[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.refreshing, id)
		s.mu.Unlock()
	}()

	// Claim the refresh for a while, so that other nodes leave it alone:
	// a rotated refresh token is good for one use.
	leased := *rec
	leased.RefreshLease = now.Add(refreshLease).UTC()
	rev2, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		return replaceJSON(ctx, tx, KindSession, id, &leased, rev)
	})
	s.forget(id)
	if errors.Is(err, store.ErrConflict) {
		return rec, rev, nil // another request changed it; it is still valid
	}
	if err != nil {
		return nil, 0, fmt.Errorf("signin: %w", err)
	}
	toks, err := s.openTokens(id, rec)
	if err != nil || toks.Refresh == "" {
		return &leased, rev2, nil
	}
	fresh, who, err := p.refreshTokens(ctx, toks, rec.Subject)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			if rerr := s.revoke(ctx, id, revocation{Name: "RevokeSession", Reason: "the identity provider refused to refresh the session"}); rerr != nil {
				return nil, 0, rerr
			}
			return nil, 0, fmt.Errorf("%w: the identity provider ended it", ErrRevoked)
		}
		s.log.Warn("signin: refreshing OIDC tokens failed", "idp", rec.IdP, "session", id, "err", err)
		return &leased, rev2, nil
	}
	next := leased
	next.RefreshLease = time.Time{}
	next.TokenExpiry = fresh.expiry
	if who != nil && who.GroupsSeen {
		next.Groups = who.Groups
	}
	if next.Tokens, err = s.sealTokens(id, fresh.tokens); err != nil {
		return nil, 0, err
	}
	rev3, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		return replaceJSON(ctx, tx, KindSession, id, &next, rev2)
	})
	s.forget(id)
	if err != nil {
		// Revoked meanwhile, most likely: read what is there now.
		cur, cur2, rerr := s.read(ctx, id)
		if rerr != nil {
			return nil, 0, rerr
		}
		if uerr := s.usable(cur, now); uerr != nil {
			return nil, 0, uerr
		}
		return cur, cur2, nil
	}
	s.log.Info("signin: OIDC tokens refreshed", "idp", rec.IdP, "session", id)
	return &next, rev3, nil
}

type refreshed struct {
	tokens oidcTokens
	expiry time.Time
}

// refreshTokens redeems a refresh token and verifies the new ID token, if
// any: same subject, and the original nonce or none.
func (p *provider) refreshTokens(ctx context.Context, old oidcTokens, subject string) (*refreshed, *person, error) {
	party, err := p.relyingParty(ctx)
	if err != nil {
		return nil, nil, err
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, err := party.OAuthConfig().TokenSource(octx, &oauth2.Token{RefreshToken: old.Refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, nil, err
	}
	out := &refreshed{tokens: oidcTokens{Refresh: tok.RefreshToken, IDToken: old.IDToken, Nonce: old.Nonce}, expiry: tok.Expiry.UTC()}
	if out.tokens.Refresh == "" {
		out.tokens.Refresh = old.Refresh
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		return out, nil, nil
	}
	v := *party.IDTokenVerifier()
	v.Nonce = nil // checked below: a refreshed ID token has the first nonce or none
	claims, err := rp.VerifyTokens[*oidc.IDTokenClaims](ctx, tok.AccessToken, idt, &v)
	if err != nil {
		return nil, nil, err
	}
	if claims.Subject != subject || (claims.Nonce != "" && claims.Nonce != old.Nonce) {
		return nil, nil, errors.New("refreshed ID token is for another person or flow")
	}
	who := p.personOf(claims)
	out.tokens.IDToken = idt
	out.expiry = claims.Expiration.AsTime().UTC()
	return out, &who, nil
}

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0).

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutAlgs are the signature algorithms a logout token may use.
var logoutAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

type logoutClaims struct {
	Issuer   string                     `json:"iss"`
	Audience oidc.Audience              `json:"aud"`
	IssuedAt *float64                   `json:"iat"`
	Expires  *float64                   `json:"exp"`
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    *json.RawMessage           `json:"nonce"`
}

// logoutSkew is how far a logout token's iat may be in the future, and
// logoutMaxAge how old it may be.
const (
	logoutSkew   = 2 * time.Minute
	logoutMaxAge = 10 * time.Minute
)

// verifyLogoutToken checks a logout token as the specification's section
// 2.6 says: signature by the provider's keys, iss, aud, iat, the event,
// sid and/or sub, and no nonce (so that an ID token is never one).
func (p *provider) verifyLogoutToken(ctx context.Context, token string) (*logoutClaims, error) {
	party, err := p.relyingParty(ctx)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(token, logoutAlgs)
	if err != nil {
		return nil, fmt.Errorf("not a signed JWT: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not exactly one signature")
	}
	if typ, ok := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); ok &&
		!strings.EqualFold(typ, "logout+jwt") && !strings.EqualFold(typ, "JWT") {
		return nil, fmt.Errorf("type %q is not logout+jwt", typ)
	}
	payload, err := party.IDTokenVerifier().KeySet.VerifySignature(ctx, jws)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	var c logoutClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	now := p.s.now()
	switch {
	case c.Issuer != p.cfg.Issuer:
		return nil, fmt.Errorf("issuer %q is not %q", clip(c.Issuer, 200), p.cfg.Issuer)
	case !slices.Contains([]string(c.Audience), p.cfg.ClientID):
		return nil, errors.New("not for this client")
	case c.IssuedAt == nil:
		return nil, errors.New("no iat")
	case c.Nonce != nil:
		return nil, errors.New("a logout token has no nonce")
	case c.SID == "" && c.Subject == "":
		return nil, errors.New("neither sid nor sub")
	}
	iat := time.Unix(int64(*c.IssuedAt), 0)
	if iat.After(now.Add(logoutSkew)) || iat.Before(now.Add(-logoutMaxAge)) {
		return nil, errors.New("iat out of range")
	}
	if c.Expires != nil && !now.Before(time.Unix(int64(*c.Expires), 0).Add(logoutSkew)) {
		return nil, errors.New("expired")
	}
	ev, ok := c.Events[backchannelEvent]
	if !ok || len(ev) == 0 || ev[0] != '{' {
		return nil, errors.New("no back-channel logout event")
	}
	return &c, nil
}

func (s *Service) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	p := s.idps[r.PathValue("idp")]
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "invalid_request", "error_description": "unknown identity provider"})
		return
	}
	token := r.PostFormValue("logout_token")
	if token == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "no logout_token"})
		return
	}
	c, err := p.verifyLogoutToken(ctx, token)
	if err != nil {
		s.log.Warn("signin: logout token refused", "idp", p.cfg.Name, "err", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "invalid logout token"})
		return
	}
	var ids []string
	if c.SID != "" {
		ids, err = s.indexed(ctx, sidPrefix(p.cfg.Name, c.SID))
	} else {
		ids, err = s.indexed(ctx, subPrefix(p.cfg.Name, c.Subject))
	}
	if err == nil {
		// Only sessions that began before the logout: a replayed token
		// must not end a later sign-in. The skew allowance errs on the
		// side of ending too many. With both sid and sub, only that
		// person's sessions.
		cut := time.Unix(int64(*c.IssuedAt), 0).Add(logoutSkew)
		ids = slices.DeleteFunc(ids, func(id string) bool {
			rec, _, err := s.read(ctx, id)
			return err == nil && (rec.Created.After(cut) || c.SID != "" && c.Subject != "" && rec.Subject != c.Subject)
		})
	}
	if err != nil {
		s.log.Error("signin: finding sessions to log out failed", "idp", p.cfg.Name, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	n, err := s.revokeAll(ctx, ids, revocation{Name: "BackchannelLogout", Reason: "signed out at identity provider " + p.cfg.Name})
	if err != nil {
		s.log.Error("signin: back-channel logout failed", "idp", p.cfg.Name, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	s.log.Info("signin: back-channel logout", "idp", p.cfg.Name, "sessions", n)
	w.WriteHeader(http.StatusOK)
}
