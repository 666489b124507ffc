// Package sts serves ztgate's Security Token Service on AWS's query
// protocol: form-encoded POST requests signed with SigV4 for the service
// "sts", answered in AWS's XML, so that the AWS CLI, the SDKs and
// curl --aws-sigv4 work against it unmodified. Today it answers
// GetCallerIdentity.
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
	"strings"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
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

// Handler serves STS on POST /.
type Handler struct {
	verifier *sigv4.Verifier
	users    Users
	audit    audit.Recorder
	log      *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// Config is what a Handler needs. Verifier must authenticate for the
// service "sts" (its Service field set to "sts").
type Config struct {
	Verifier *sigv4.Verifier
	Users    Users
	Audit    audit.Recorder
	Log      *slog.Logger
}

// New returns a Handler.
func New(c Config) *Handler {
	h := &Handler{verifier: c.Verifier, users: c.Users, audit: c.Audit, log: c.Log}
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

// getCallerIdentity needs no permission, as on AWS: a caller may always
// learn who it is. The call is still audited, and refused when it cannot be.
func (h *Handler) getCallerIdentity(w http.ResponseWriter, r *http.Request, id string, actor audit.Actor, res *sigv4.Result) {
	u, err := h.users.UserOfKey(r.Context(), res.AccessKeyID)
	if err != nil {
		// The key was verified a moment ago: its user vanished since, or
		// the store failed.
		h.log.Error("sts: finding the caller failed", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	actor.Identity = audit.UserIdentity{
		Type: "IAMUser", PrincipalID: u.ID, ARN: u.ARN(), AccountID: u.Account,
		AccessKeyID: res.AccessKeyID, UserName: u.Name,
	}
	err = h.audit.Record(r.Context(), audit.DecisionEvent{
		Actor: actor, Source: audit.SourceSTS, Name: "GetCallerIdentity", RequestID: id,
		Action: "sts:GetCallerIdentity", Decision: audit.Allowed, ReadOnly: true,
	}.Record())
	if err != nil {
		h.log.Error("sts: auditing a call failed; refusing it", "err", err, "request_id", id)
		writeError(w, id, errInternal)
		return
	}
	b, err := xml.Marshal(callerIdentity{Xmlns: xmlns, Arn: u.ARN(), UserID: u.ID, Account: u.Account, RequestID: id})
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
