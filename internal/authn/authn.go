// Package authn is the protected-API check that every enforcement point
// reuses: given a SigV4-signed HTTP request, it verifies the signature,
// finds the principal (a user with a long-term key, a user's session, a
// role session) and builds the full policy context of the request
// (aws:SourceIp, aws:SecureTransport, aws:TokenIssueTime,
// aws:MultiFactorAuthPresent, principal tags, source identity…), so that a
// decision can be made for any action on any resource.
package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// Users finds the user an access key belongs to, and records the key's
// use.
type Users interface {
	UserOfKey(ctx context.Context, accessKeyID string) (iam.User, error)
	RecordKeyUse(ctx context.Context, accessKeyID, service, region string)
}

var _ Users = (*iam.Directory)(nil)

// Snapshots gives the current policy snapshot, where managed session
// policies are found.
type Snapshots interface {
	Snapshot() *authz.Snapshot
}

var _ Snapshots = (*iam.Policies)(nil)

// Authenticator verifies requests and names their callers.
type Authenticator struct {
	verifier *sigv4.Verifier
	users    Users
	tokens   *session.Tokens
	policies Snapshots
	clock    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]*authz.Set // compiled session policies by token hash
}

// Config is what an Authenticator needs. Verifier's key store must resolve
// temporary keys with Tokens (a [session.KeyStore]).
type Config struct {
	Verifier *sigv4.Verifier
	Users    Users
	Tokens   *session.Tokens
	Policies Snapshots
	Clock    func() time.Time
}

// New returns an Authenticator.
func New(c Config) *Authenticator {
	a := &Authenticator{verifier: c.Verifier, users: c.Users, tokens: c.Tokens, policies: c.Policies, clock: c.Clock, cache: map[[32]byte]*authz.Set{}}
	if a.clock == nil {
		a.clock = time.Now
	}
	return a
}

// Verifier is the SigV4 verifier the authenticator uses.
func (a *Authenticator) Verifier() *sigv4.Verifier { return a.verifier }

// Caller is the authenticated principal of one request and the request's
// policy context.
type Caller struct {
	Principal authz.Principal
	// ARN is the caller's ARN: the user's, or the session's
	// (arn:zt:sts::ACCOUNT:assumed-role/ROLE/SESSION).
	ARN string
	// ID is the unique id AWS returns as UserId: the user's AIDA… id, or
	// the role's AROA… id and the session name for a role session.
	ID          string
	Account     string
	UserName    string // for users and their sessions
	AccessKeyID string
	// Session holds a temporary credential's facts; nil for a long-term key.
	Session *session.Claims
	// Tags are the principal tags (aws:PrincipalTag/…).
	Tags map[string]string
	// SessionPolicies bound a role session that was given session
	// policies; nil when there are none.
	SessionPolicies *authz.Set
	// Context holds the request's condition keys.
	Context authz.Context
	// Signature is the verified signature's description.
	Signature *sigv4.Result
	// Time is when the request was authenticated.
	Time time.Time
}

// ErrInternal classifies failures that are not the client's: the store or
// the key failing. Clients see InternalFailure.
var ErrInternal = errors.New("authn: internal failure")

// Authenticate verifies r (whose body has been read into body) and returns
// its caller. Verification failures are *sigv4.Error values with AWS's
// codes; anything else wraps ErrInternal.
func (a *Authenticator) Authenticate(r *http.Request, body []byte) (*Caller, error) {
	res, err := a.verifier.Verify(r, body)
	if err != nil {
		var e *sigv4.Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInternal, err)
	}
	c := &Caller{AccessKeyID: res.AccessKeyID, Signature: res, Time: a.clock()}
	if strings.HasPrefix(res.AccessKeyID, session.KeyPrefix) {
		if err := a.fromSession(r, c); err != nil {
			return nil, err
		}
	} else {
		u, err := a.users.UserOfKey(r.Context(), res.AccessKeyID)
		if err != nil {
			// The key was verified a moment ago: its user vanished since,
			// or the store failed.
			return nil, fmt.Errorf("%w: %w", ErrInternal, err)
		}
		c.ARN, c.ID, c.Account, c.UserName = u.ARN(), u.ID, u.Account, u.Name
		c.Tags = tagMap(u.Tags)
		a.users.RecordKeyUse(r.Context(), res.AccessKeyID, res.Service, res.Region)
	}
	c.Principal = authz.ParsePrincipal(c.ARN)
	c.fill(r)
	return c, nil
}

func tagMap(ts []iam.Tag) map[string]string {
	if len(ts) == 0 {
		return nil
	}
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[t.Key] = t.Value
	}
	return m
}

func (a *Authenticator) fromSession(r *http.Request, c *Caller) error {
	if a.tokens == nil {
		return fmt.Errorf("%w: temporary credentials verified without session tokens configured", ErrInternal)
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if token == "" {
		token = r.URL.Query().Get("X-Amz-Security-Token")
	}
	claims, err := a.tokens.Open(token)
	if err != nil {
		// It expired between verification and now.
		var e *sigv4.Error
		if errors.As(err, &e) {
			return err
		}
		if errors.Is(err, sigv4.ErrExpiredToken) {
			return &sigv4.Error{Code: sigv4.CodeExpiredToken, Message: "The security token included in the request is expired", HTTPStatus: http.StatusForbidden}
		}
		return fmt.Errorf("%w: reopening a verified session token: %w", ErrInternal, err)
	}
	c.Session = &claims
	c.ARN, c.ID, c.Account = claims.Principal, claims.PrincipalID, claims.Account
	// Temporary credentials act for the user or role that got them, by
	// its unique id: once it is deleted, or deleted and created again
	// under the same name, they are void, as in AWS.
	if a.policies != nil {
		if snap := a.policies.Snapshot(); snap != nil {
			p := authz.ParsePrincipal(claims.Principal)
			id, _, _ := strings.Cut(claims.PrincipalID, ":")
			if !snap.Holds(&p, id) {
				return &sigv4.Error{Code: sigv4.CodeInvalidClientTokenID, Message: "The security token included in the request is invalid.", HTTPStatus: http.StatusForbidden}
			}
		}
	}
	if claims.Role == nil {
		_, c.UserName, _ = strings.Cut(claims.Principal, ":user/")
		if i := strings.LastIndexByte(c.UserName, '/'); i >= 0 {
			c.UserName = c.UserName[i+1:]
		}
		return nil
	}
	c.Tags = claims.Role.Tags
	if claims.Role.Policy != "" || len(claims.Role.PolicyARNs) > 0 {
		set, err := a.sessionPolicies(token, claims.Role)
		if err != nil {
			return err
		}
		c.SessionPolicies = set
	}
	return nil
}

// maxCached bounds the compiled session policies kept; the cache is
// dropped whole when full (sessions are short and re-compiling is cheap).
const maxCached = 4096

// sessionPolicies compiles a session's policies, cached by token. Managed
// policy ARNs are looked up in the current snapshot; one that is gone
// allows nothing, which only narrows the session further.
func (a *Authenticator) sessionPolicies(token string, rs *session.RoleSession) (*authz.Set, error) {
	h := sha256.Sum256([]byte(token))
	var snap *authz.Snapshot
	if a.policies != nil {
		snap = a.policies.Snapshot()
	}
	rev := int64(-1)
	if snap != nil {
		rev = snap.Revision()
	}
	// The snapshot revision is part of the key so that managed session
	// policies follow their edits.
	binary := strconv.FormatInt(rev, 10)
	key := sha256.Sum256(append(h[:], binary...))
	a.mu.Lock()
	set, ok := a.cache[key]
	a.mu.Unlock()
	if ok {
		return set, nil
	}
	var ps []*authz.Policy
	if rs.Policy != "" {
		p, err := authz.CompileJSON("session-policy", []byte(rs.Policy), policy.Session)
		if err != nil {
			// It was validated when the session was issued.
			return nil, fmt.Errorf("%w: session policy: %w", ErrInternal, err)
		}
		ps = append(ps, p)
	}
	for _, arn := range rs.PolicyARNs {
		if snap == nil {
			break
		}
		if p := snap.Policy(arn); p != nil {
			ps = append(ps, p)
		}
	}
	set = authz.NewSet(ps...)
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
	a.cache[key] = set
	a.mu.Unlock()
	return set, nil
}

// fill sets the request's condition keys.
func (c *Caller) fill(r *http.Request) {
	ctx := &c.Context
	client := peer.FromRequest(r)
	ctx.SetString("aws:SourceIp", client.IP())
	ctx.SetString("aws:SecureTransport", strconv.FormatBool(client.Secure))
	if ua := r.UserAgent(); ua != "" {
		ctx.SetString("aws:UserAgent", ua)
	}
	if ref := r.Referer(); ref != "" {
		ctx.SetString("aws:Referer", ref)
	}
	if c.Signature != nil && c.Signature.Region != "" {
		ctx.SetString("aws:RequestedRegion", c.Signature.Region)
	}
	ctx.SetString("aws:userid", c.ID)
	ctx.SetString("aws:PrincipalIsAWSService", "false")
	ctx.SetString("aws:ViaAWSService", "false")
	for k, v := range c.Tags {
		ctx.SetString("aws:PrincipalTag/"+k, v)
	}
	if s := c.Session; s != nil {
		ctx.SetString("aws:TokenIssueTime", s.Issued.Format(time.RFC3339))
		ctx.SetString("aws:MultiFactorAuthPresent", strconv.FormatBool(s.MFA))
		if s.Role != nil {
			if s.Role.SourceIdentity != "" {
				ctx.SetString("aws:SourceIdentity", s.Role.SourceIdentity)
			}
			if s.Role.Provider != "" {
				ctx.SetString("aws:FederatedProvider", s.Role.Provider)
			}
		}
	}
	ctx.SetDefaults(c.Principal, c.Time)
}

// Request is the authorization request for action on resource by the
// caller, with the caller's context.
func (c *Caller) Request(action, resource string) *authz.Request {
	return &authz.Request{Principal: c.Principal, Action: action, Resource: resource, Context: &c.Context}
}

// Decide decides action on resource (resourceKey names its resource
// policy, "" for none) against snap; nil snap denies.
func (c *Caller) Decide(snap *authz.Snapshot, action, resource, resourceKey string) authz.Decision {
	if snap == nil {
		return authz.Decision{}
	}
	return snap.Decide(c.Request(action, resource), resourceKey, c.SessionPolicies)
}

// DecideTrust decides action on a role whose trust policy is the resource
// policy under resourceKey: the trust policy must allow, as AWS requires
// for roles, and within the account an identity policy's allow alone is
// not enough.
func (c *Caller) DecideTrust(snap *authz.Snapshot, action, roleARN, resourceKey string) authz.Decision {
	if snap == nil {
		return authz.Decision{}
	}
	r := c.Request(action, roleARN)
	ps := snap.Policies(r, resourceKey, c.SessionPolicies)
	ps.ResourceRequired = true
	return authz.Evaluate(r, &ps)
}

// Identity is the caller as the audit log names it.
func (c *Caller) Identity() audit.UserIdentity {
	u := audit.UserIdentity{
		Type: "IAMUser", PrincipalID: c.ID, ARN: c.ARN, AccountID: c.Account,
		AccessKeyID: c.AccessKeyID, UserName: c.UserName,
	}
	if s := c.Session; s != nil {
		sc := &audit.SessionContext{Attributes: audit.SessionAttribute{
			CreationDate: s.Issued, MFAAuthenticated: s.MFA,
		}}
		if s.Role != nil {
			u.Type = "AssumedRole"
			if s.Role.Provider != "" {
				u.Type = "WebIdentityUser"
			}
			u.UserName = ""
			sc.SessionIssuer = &audit.SessionIssuer{
				Type: "Role", PrincipalID: strings.SplitN(s.PrincipalID, ":", 2)[0], ARN: s.Role.RoleARN,
				AccountID: s.Account, UserName: roleName(s.Role.RoleARN),
			}
			sc.SourceIdentity = s.Role.SourceIdentity
		}
		u.SessionContext = sc
	}
	return u
}

func roleName(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// SourceIP is the request's client address without its port: the TCP
// peer, or the client a trusted proxy names ([peer.FromRequest]).
func SourceIP(r *http.Request) string { return peer.FromRequest(r).IP() }

var _ keys.Context = (*authz.Context)(nil)

// Scope is what a request's credential claims, read before verification:
// it routes the request and names the caller in the audit record of a
// failure, and is trusted for nothing else.
type Scope struct {
	AccessKeyID, Region, Service string
}

// ClaimedScope reads the credential scope from the Authorization header
// or the presigned query, each part clipped to 128 bytes.
func ClaimedScope(r *http.Request) Scope {
	h := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok {
		rest = r.URL.Query().Get("X-Amz-Credential")
	}
	rest, _, _ = strings.Cut(rest, ",")
	parts := strings.SplitN(rest, "/", 5)
	var s Scope
	s.AccessKeyID = clip(parts[0])
	if len(parts) >= 3 {
		s.Region = clip(parts[2])
	}
	if len(parts) >= 4 {
		s.Service = clip(parts[3])
	}
	return s
}

// clip bounds what a client controls before it is echoed or recorded.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// RequestID is a random UUID (version 4), as AWS's request ids.
func RequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
