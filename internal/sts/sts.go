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
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// MaxBody is the largest request body read; STS requests are small forms.
const MaxBody = 1 << 20

// Version is the STS API version.
const Version = "2011-06-15"

const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// Users finds the user an access key belongs to.
type Users interface {
	UserOfKey(ctx context.Context, accessKeyID string) (iam.User, error)
}

var _ Users = (*iam.Directory)(nil)

// Bounds and default of GetSessionToken's DurationSeconds, as AWS's for
// IAM users.
const (
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = 36 * time.Hour
	DefaultSessionDuration = 12 * time.Hour
)

// Handler serves STS on POST /.
type Handler struct {
	verifier *sigv4.Verifier
	users    Users
	tokens   *session.Tokens
	audit    audit.Recorder
	log      *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// Config is what a Handler needs. Verifier must authenticate for the
// service "sts" (its Service field set to "sts"); to accept temporary
// credentials its Keys must resolve them with the same Tokens (a
// [session.KeyStore]). Without Tokens, GetSessionToken is refused.
type Config struct {
	Verifier *sigv4.Verifier
	Users    Users
	Tokens   *session.Tokens
	Audit    audit.Recorder
	Log      *slog.Logger
}

// New returns a Handler.
func New(c Config) *Handler {
	h := &Handler{verifier: c.Verifier, users: c.Users, tokens: c.Tokens, audit: c.Audit, log: c.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Errors that are not authentication failures, with AWS's codes.
var (
	errInternal = &sigv4.Error{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", HTTPStatus: http.StatusInternalServerError}
	errTooLarge = &sigv4.Error{Code: "RequestEntityTooLarge", Message: "Request body must be at most 1048576 bytes.", HTTPStatus: http.StatusRequestEntityTooLarge}
	errBadForm  = &sigv4.Error{Code: "MalformedQueryString", Message: "The request body is not a valid form.", HTTPStatus: http.StatusBadRequest}
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, id, errTooLarge)
			return
		}
		return // the client went away
	}
	form, ferr := url.ParseQuery(string(body))
	action := form.Get("Action")
	if action == "" {
		action = "Unknown"
	}
	key, region := claimedScope(r)
	actor := audit.Actor{
		Identity:   audit.UserIdentity{Type: "Unknown", AccessKeyID: key},
		Region:     region,
		SourceIP:   sourceIP(r),
		UserAgent:  r.UserAgent(),
		AuthMethod: "sigv4",
	}
	res, err := h.verifier.Verify(r, body)
	if err != nil {
		var e *sigv4.Error
		if !errors.As(err, &e) {
			h.log.Error("sts: verifying a signature failed", "err", err, "request_id", id)
			writeError(w, id, errInternal)
			return
		}
		rerr := h.audit.Record(r.Context(), audit.AuthFailureEvent{
			Actor: actor, Source: audit.SourceSTS, Name: action, RequestID: id,
			Code: e.Code, Message: e.Message,
		}.Record())
		if rerr != nil {
			h.log.Error("sts: auditing an authentication failure failed", "err", rerr, "request_id", id)
		}
		writeError(w, id, e)
		return
	}
	actor.Region = res.Region
	if ferr != nil {
		writeError(w, id, errBadForm)
		return
	}
	switch action {
	case "GetCallerIdentity":
		h.getCallerIdentity(w, r, id, actor, res)
	case "GetSessionToken":
		h.getSessionToken(w, r, id, actor, res, form)
	default:
		writeError(w, id, &sigv4.Error{
			Code:       "InvalidAction",
			Message:    fmt.Sprintf("Could not find operation %s for version %s", clip(action), Version),
			HTTPStatus: http.StatusBadRequest,
		})
	}
}

type callerIdentity struct {
	XMLName   xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Arn       string   `xml:"GetCallerIdentityResult>Arn"`
	UserID    string   `xml:"GetCallerIdentityResult>UserId"`
	Account   string   `xml:"GetCallerIdentityResult>Account"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// caller is who signed a verified request.
type caller struct {
	arn, id, account, name string
	// session is set for temporary credentials.
	session *session.Claims
}

// identity is the caller as the audit log names it.
func (c caller) identity(accessKeyID string) audit.UserIdentity {
	u := audit.UserIdentity{
		Type: "IAMUser", PrincipalID: c.id, ARN: c.arn, AccountID: c.account,
		AccessKeyID: accessKeyID, UserName: c.name,
	}
	if c.session != nil {
		u.SessionContext = &audit.SessionContext{Attributes: audit.SessionAttribute{
			CreationDate: c.session.Issued, MFAAuthenticated: c.session.MFA,
		}}
	}
	return u
}

// whoIs finds the caller of a verified request: for temporary credentials
// in their session token, which the verifier has just matched to the key,
// else in the directory.
func (h *Handler) whoIs(ctx context.Context, r *http.Request, res *sigv4.Result) (caller, error) {
	if strings.HasPrefix(res.AccessKeyID, session.KeyPrefix) {
		if h.tokens == nil {
			return caller{}, errors.New("sts: temporary credentials verified without session tokens configured")
		}
		token := r.Header.Get("X-Amz-Security-Token")
		if token == "" {
			token = r.URL.Query().Get("X-Amz-Security-Token")
		}
		c, err := h.tokens.Open(token)
		if err != nil {
			// It expired between verification and now, or the node was
			// misconfigured.
			return caller{}, fmt.Errorf("sts: reopening a verified session token: %w", err)
		}
		_, name, _ := strings.Cut(c.Principal, ":user/")
		return caller{arn: c.Principal, id: c.PrincipalID, account: c.Account, name: name, session: &c}, nil
	}
	u, err := h.users.UserOfKey(ctx, res.AccessKeyID)
	if err != nil {
		// The key was verified a moment ago: its user vanished since, or
		// the store failed.
		return caller{}, err
	}
	return caller{arn: u.ARN(), id: u.ID, account: u.Account, name: u.Name}, nil
}

// getCallerIdentity needs no permission, as on AWS: a caller may always
// learn who it is. The call is still audited, and refused when it cannot be.
func (h *Handler) getCallerIdentity(w http.ResponseWriter, r *http.Request, id string, actor audit.Actor, res *sigv4.Result) {
	c, err := h.whoIs(r.Context(), r, res)
	if err != nil {
		h.log.Error("sts: finding the caller failed", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	actor.Identity = c.identity(res.AccessKeyID)
	err = h.audit.Record(r.Context(), audit.DecisionEvent{
		Actor: actor, Source: audit.SourceSTS, Name: "GetCallerIdentity", RequestID: id,
		Action: "sts:GetCallerIdentity", Decision: audit.Allowed, ReadOnly: true,
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing a call failed; refusing it", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	writeXML(w, id, callerIdentity{Xmlns: xmlns, Arn: c.arn, UserID: c.id, Account: c.account, RequestID: id})
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
func (h *Handler) getSessionToken(w http.ResponseWriter, r *http.Request, id string, actor audit.Actor, res *sigv4.Result, form url.Values) {
	if res.HasSessionToken || strings.HasPrefix(res.AccessKeyID, session.KeyPrefix) {
		writeError(w, id, errSessionWithSession)
		return
	}
	d, e := durationSeconds(form.Get("DurationSeconds"))
	if e != nil {
		writeError(w, id, e)
		return
	}
	if form.Get("SerialNumber") != "" || form.Get("TokenCode") != "" {
		writeError(w, id, errNoMFA)
		return
	}
	if h.tokens == nil {
		h.log.Error("sts: GetSessionToken without session tokens configured", "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	c, err := h.whoIs(r.Context(), r, res)
	if err != nil {
		h.log.Error("sts: finding the caller failed", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	actor.Identity = c.identity(res.AccessKeyID)
	claims, token, err := h.tokens.Issue(session.Grant{
		Principal: c.arn, PrincipalID: c.id, Account: c.account,
		SourceKeyID: res.AccessKeyID, Duration: d,
	})
	if err != nil {
		h.log.Error("sts: issuing a session token failed", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	expiration := claims.Expires.Format(time.RFC3339)
	// The record names the credential, never its secret or token.
	err = h.audit.Record(r.Context(), audit.IssuedEvent{
		Actor: actor, Source: audit.SourceSTS, Name: "GetSessionToken", RequestID: id,
		Parameters: map[string]any{"durationSeconds": int64(d / time.Second)},
		Response: map[string]any{"credentials": map[string]any{
			"accessKeyId": claims.AccessKeyID, "expiration": expiration,
		}},
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing an issue failed; refusing it", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	writeXML(w, id, sessionToken{
		Xmlns: xmlns, AccessKeyID: claims.AccessKeyID, SecretAccessKey: claims.Secret.Reveal(),
		SessionToken: token, Expiration: expiration, RequestID: id,
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
	h := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok {
		rest = r.URL.Query().Get("X-Amz-Credential")
	}
	rest, _, _ = strings.Cut(rest, ",")
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) >= 3 {
		region = parts[2]
	}
	return clip(parts[0]), clip(region)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
