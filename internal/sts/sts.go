// Package sts serves ztgate's Security Token Service on AWS's query
// protocol: form-encoded POST requests signed with SigV4 for the service
// "sts", answered in AWS's XML, so that the AWS CLI, the SDKs and
// curl --aws-sigv4 work against it unmodified. It answers
// GetCallerIdentity and GetSessionToken, whose temporary credentials carry
// their facts in a sealed session token (package session) rather than in
// the store.
package sts

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/awsquery"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/webidentity"
)

// MaxBody is the largest request body read; STS requests are small forms.
const MaxBody = 1 << 20

// Version is the STS API version.
const Version = "2011-06-15"

const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// Roles finds roles by ARN.
type Roles interface {
	RoleByARN(ctx context.Context, arn string) (iam.Role, error)
}

var _ Roles = (*iam.Directory)(nil)

// WebIdentity verifies the OIDC tokens of AssumeRoleWithWebIdentity.
type WebIdentity interface {
	Verify(ctx context.Context, token string) (*webidentity.Token, error)
}

var _ WebIdentity = (*webidentity.Verifier)(nil)

// Bounds and default of GetSessionToken's DurationSeconds, as AWS's for
// IAM users.
const (
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = 36 * time.Hour
	DefaultSessionDuration = 12 * time.Hour
)

// Handler serves STS on POST /.
type Handler struct {
	authn    *authn.Authenticator
	roles    Roles
	policies authn.Snapshots
	tokens   *session.Tokens
	web      WebIdentity
	account  string
	audit    audit.Recorder
	log      *slog.Logger
	clock    func() time.Time
}

var _ http.Handler = (*Handler)(nil)

// Config is what a Handler needs. The Authenticator's verifier must
// authenticate for the service "sts"; to accept temporary credentials its
// key store must resolve them with the same Tokens (a [session.KeyStore]).
// Without Tokens no credentials are issued; without Roles and Policies no
// role is assumed; without WebIdentity no web identity is accepted.
type Config struct {
	Authenticator *authn.Authenticator
	Roles         Roles
	Policies      authn.Snapshots
	Tokens        *session.Tokens
	WebIdentity   WebIdentity
	Account       string // the deployment's account id
	Audit         audit.Recorder
	Log           *slog.Logger
	Clock         func() time.Time
}

// New returns a Handler.
func New(c Config) *Handler {
	h := &Handler{
		authn: c.Authenticator, roles: c.Roles, policies: c.Policies, tokens: c.Tokens,
		web: c.WebIdentity, account: c.Account, audit: c.Audit, log: c.Log, clock: c.Clock,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	if h.account == "" {
		h.account = iam.DefaultAccount
	}
	return h
}

// Errors that are not authentication failures, with AWS's codes.
var (
	errInternal = &sigv4.Error{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", HTTPStatus: http.StatusInternalServerError}
	errTooLarge = &sigv4.Error{Code: "RequestEntityTooLarge", Message: "Request body must be at most 1048576 bytes.", HTTPStatus: http.StatusRequestEntityTooLarge}
	errBadForm  = &sigv4.Error{Code: "MalformedQueryString", Message: "The request body is not a valid form.", HTTPStatus: http.StatusBadRequest}
)

// exchange is one request being served.
type exchange struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string
	action string
	params awsquery.Params
	actor  audit.Actor
	caller *authn.Caller
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.authFailure(r, id, "Unknown", errTooLarge)
			writeError(w, id, errTooLarge)
			return
		}
		return // the client went away
	}
	// The query protocol takes its parameters from the body, or from the
	// URL when there is none: presigned GetCallerIdentity URLs (as the
	// SDKs' presign clients make them) carry everything there.
	src := body
	if len(body) == 0 && r.URL.RawQuery != "" {
		src = []byte(r.URL.RawQuery)
	}
	params, perr := awsquery.Parse(src)
	action := params.Get("Action")
	if action == "" {
		action = "Unknown"
	}
	c := &exchange{w: w, r: r, id: id, action: action, params: params}
	key, region := claimedScope(r)
	c.actor = audit.Actor{
		Identity:   audit.UserIdentity{Type: "Unknown", AccessKeyID: key},
		Region:     region,
		SourceIP:   authn.SourceIP(r),
		UserAgent:  r.UserAgent(),
		AuthMethod: "sigv4",
	}
	if action == "AssumeRoleWithWebIdentity" && perr == nil {
		// Authenticated by its token, not by a signature, as on AWS.
		c.actor.AuthMethod = "oidc"
		h.assumeRoleWithWebIdentity(c)
		return
	}
	caller, err := h.authn.Authenticate(r, body)
	if err != nil {
		var e *sigv4.Error
		if !errors.As(err, &e) {
			h.log.Error("sts: authenticating a request failed", "err", err, "request_id", id)
			writeError(w, id, errInternal)
			return
		}
		h.authFailure(r, id, action, e)
		writeError(w, id, e)
		return
	}
	c.caller = caller
	c.actor.Region = caller.Signature.Region
	c.actor.Identity = caller.Identity()
	if perr != nil {
		h.fail(c, errBadForm)
		return
	}
	if v := params.Get("Version"); v != "" && v != Version {
		h.fail(c, &sigv4.Error{Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", clip(action), clip(v)), HTTPStatus: http.StatusBadRequest})
		return
	}
	switch action {
	case "GetCallerIdentity":
		h.getCallerIdentity(c)
	case "GetSessionToken":
		h.getSessionToken(c)
	case "AssumeRole":
		h.assumeRole(c)
	default:
		h.fail(c, &sigv4.Error{
			Code:       "InvalidAction",
			Message:    fmt.Sprintf("Could not find operation %s for version %s", clip(action), Version),
			HTTPStatus: http.StatusBadRequest,
		})
	}
}

// authFailure records a request refused before its caller was known.
func (h *Handler) authFailure(r *http.Request, id, action string, e *sigv4.Error) {
	key, region := claimedScope(r)
	rerr := h.audit.Record(r.Context(), audit.AuthFailureEvent{
		Actor: audit.Actor{
			Identity: audit.UserIdentity{Type: "Unknown", AccessKeyID: key}, Region: region,
			SourceIP: authn.SourceIP(r), UserAgent: r.UserAgent(), AuthMethod: "sigv4",
		},
		Source: audit.SourceSTS, Name: clip(action), RequestID: id,
		Code: e.Code, Message: e.Message,
	}.Record())
	if rerr != nil {
		h.log.Error("sts: auditing an authentication failure failed", "err", rerr, "request_id", id)
	}
}

// fail answers an authenticated request with a client error, recorded in
// the audit log as a refused call: nothing was issued.
func (h *Handler) fail(c *exchange, e *sigv4.Error) {
	if e.HTTPStatus < 500 {
		rerr := h.audit.Record(c.r.Context(), audit.AuthFailureEvent{
			Actor: c.actor, Source: audit.SourceSTS, Name: clip(c.action), RequestID: c.id,
			Code: e.Code, Message: e.Message,
		}.Record())
		if rerr != nil {
			h.log.Error("sts: auditing a refused call failed", "err", rerr, "request_id", c.id)
		}
	}
	writeError(c.w, c.id, e)
}

type callerIdentity struct {
	XMLName   xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Arn       string   `xml:"GetCallerIdentityResult>Arn"`
	UserID    string   `xml:"GetCallerIdentityResult>UserId"`
	Account   string   `xml:"GetCallerIdentityResult>Account"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// getCallerIdentity needs no permission, as on AWS: a caller may always
// learn who it is. The call is still audited, and refused when it cannot be.
func (h *Handler) getCallerIdentity(c *exchange) {
	err := h.audit.Record(c.r.Context(), audit.DecisionEvent{
		Actor: c.actor, Source: audit.SourceSTS, Name: "GetCallerIdentity", RequestID: c.id,
		Action: "sts:GetCallerIdentity", Decision: audit.Allowed, ReadOnly: true,
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing a call failed; refusing it", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	writeXML(c.w, c.id, callerIdentity{Xmlns: xmlns, Arn: c.caller.ARN, UserID: c.caller.ID, Account: c.caller.Account, RequestID: c.id})
}

type sessionToken struct {
	XMLName         xml.Name `xml:"GetSessionTokenResponse"`
	Xmlns           string   `xml:"xmlns,attr"`
	AccessKeyID     string   `xml:"GetSessionTokenResult>Credentials>AccessKeyId"`
	SecretAccessKey string   `xml:"GetSessionTokenResult>Credentials>SecretAccessKey"`
	SessionToken    string   `xml:"GetSessionTokenResult>Credentials>SessionToken"`
	Expiration      string   `xml:"GetSessionTokenResult>Credentials>Expiration"`
	RequestID       string   `xml:"ResponseMetadata>RequestId"`
}

var (
	errSessionWithSession = &sigv4.Error{Code: sigv4.CodeAccessDenied, Message: "Cannot call GetSessionToken with session credentials", HTTPStatus: http.StatusForbidden}
	// ztgate has no MFA devices yet: a code cannot be checked, so a
	// request that offers one is refused rather than issued credentials
	// marked MFA-authenticated.
	errNoMFA = &sigv4.Error{Code: sigv4.CodeAccessDenied, Message: "MultiFactorAuthentication failed: no MFA device is registered.", HTTPStatus: http.StatusForbidden}
)

// getSessionToken issues temporary credentials that act as the calling
// user. As on AWS, only long-term keys may ask: temporary credentials
// cannot extend themselves.
func (h *Handler) getSessionToken(c *exchange) {
	if c.caller.Session != nil || c.caller.Signature.HasSessionToken {
		h.fail(c, errSessionWithSession)
		return
	}
	d, e := durationSeconds(c.params.Get("DurationSeconds"))
	if e != nil {
		h.fail(c, e)
		return
	}
	if c.params.Get("SerialNumber") != "" || c.params.Get("TokenCode") != "" {
		h.fail(c, errNoMFA)
		return
	}
	if h.tokens == nil {
		h.log.Error("sts: GetSessionToken without session tokens configured", "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	claims, token, err := h.tokens.Issue(session.Grant{
		Principal: c.caller.ARN, PrincipalID: c.caller.ID, Account: c.caller.Account,
		SourceKeyID: c.caller.AccessKeyID, Duration: d,
	})
	if err != nil {
		h.log.Error("sts: issuing a session token failed", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	expiration := claims.Expires.Format(time.RFC3339)
	// The record names the credential, never its secret or token.
	err = h.audit.Record(c.r.Context(), audit.IssuedEvent{
		Actor: c.actor, Source: audit.SourceSTS, Name: "GetSessionToken", RequestID: c.id,
		Parameters: map[string]any{"durationSeconds": int64(d / time.Second)},
		Response: map[string]any{"credentials": map[string]any{
			"accessKeyId": claims.AccessKeyID, "expiration": expiration,
		}},
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing an issue failed; refusing it", "err", err, "request_id", c.id)
		writeError(c.w, c.id, errInternal)
		return
	}
	writeXML(c.w, c.id, sessionToken{
		Xmlns: xmlns, AccessKeyID: claims.AccessKeyID, SecretAccessKey: claims.Secret.Reveal(),
		SessionToken: token, Expiration: expiration, RequestID: c.id,
	})
}

// durationSeconds parses GetSessionToken's DurationSeconds, answering as
// AWS does when it is out of bounds.
func durationSeconds(s string) (time.Duration, *sigv4.Error) {
	if s == "" {
		return DefaultSessionDuration, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, &sigv4.Error{Code: "MalformedInput", Message: "Invalid value for DurationSeconds: " + clip(s), HTTPStatus: http.StatusBadRequest}
	}
	var constraint string
	switch d := time.Duration(n) * time.Second; {
	case d < MinSessionDuration:
		constraint = "greater than or equal to " + strconv.Itoa(int(MinSessionDuration/time.Second))
	case d > MaxSessionDuration:
		constraint = "less than or equal to " + strconv.Itoa(int(MaxSessionDuration/time.Second))
	default:
		return d, nil
	}
	return 0, &sigv4.Error{
		Code:       "ValidationError",
		Message:    fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value %s", n, constraint),
		HTTPStatus: http.StatusBadRequest,
	}
}

func writeXML(w http.ResponseWriter, id string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		writeError(w, id, errInternal)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(b)
}

func writeError(w http.ResponseWriter, id string, e *sigv4.Error) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.HTTPStatus)
	w.Write(e.XML(id))
}

// claimedScope is the access key id and region the request claims, for
// the audit record of a failure; they are not trusted for anything else.
func claimedScope(r *http.Request) (key, region string) {
	s := authn.ClaimedScope(r)
	return s.AccessKeyID, s.Region
}

// clip bounds what a client controls before it is echoed or recorded.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// requestID is a random UUID (version 4), as AWS's request ids.
func requestID() string { return authn.RequestID() }
