package agent

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// Sentinel errors of the package's own checks.
var (
	// ErrInvalid: a name, entry, TTL or request that breaks the rules.
	ErrInvalid = errors.New("agent: invalid input")
	// ErrNotFound: no agent or entry of that name or id.
	ErrNotFound = errors.New("agent: not found")
	// ErrRevoked: the agent was revoked.
	ErrRevoked = errors.New("agent: revoked")
	// ErrNotJoined: the agent has no identity yet and no join token to
	// get one.
	ErrNotJoined = errors.New("agent: not joined")
)

// Codes of the errors the agent API answers with: what a client can act
// on. The message beside a code is written for people and never holds
// internal text.
const (
	CodeBadRequest            = "bad_request"        // the body is not the request's JSON
	CodeTooLarge              = "request_too_large"  // the body is over the limit
	CodeNotFound              = "not_found"          // no such endpoint
	CodeMethodNotAllowed      = "method_not_allowed" // wrong method for the endpoint
	CodeTLSRequired           = "tls_required"       // the request did not arrive over TLS
	CodeJoinTokenRefused      = "join_token_refused" // unknown, expired or used token
	CodeCertificateRequired   = "client_certificate_required"
	CodeCertificateRejected   = "client_certificate_rejected"   // does not verify, or expired
	CodeCertificateRevoked    = "client_certificate_revoked"    // revoked by the CA
	CodeCertificateSuperseded = "client_certificate_superseded" // renewed twice since
	CodeNotAgent              = "not_an_agent"                  // an SVID, but not an agent's
	CodeAgentUnknown          = "agent_unknown"                 // no such agent is registered
	CodeAgentRevoked          = "agent_revoked"
	CodeCSRRefused            = "csr_refused"   // the CA refused the certificate request
	CodeEntryUnknown          = "entry_unknown" // no entry of that id has the caller as parent
	CodeConflict              = "conflict"      // a concurrent change to the same agent: retry
	CodeUnavailable           = "unavailable"   // the store or CA is not ready: retry
	CodeInternal              = "internal_error"
)

// APIError is a refusal by the agent API, as the client sees it. The
// agent's client returns it for every answer other than success.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return "server refused (" + strconv.Itoa(e.Status) + " " + e.Code + "): " + e.Message
}

// Refusals with a fixed wording. The join token's covers every way a
// token can fail, so that a caller learns nothing about which tokens
// exist.
var (
	errTokenRefused    = &APIError{http.StatusUnauthorized, CodeJoinTokenRefused, "join token is unknown, expired or already used"}
	errTLSRequired     = &APIError{http.StatusForbidden, CodeTLSRequired, "the agent api is served over tls only"}
	errCertRequired    = &APIError{http.StatusUnauthorized, CodeCertificateRequired, "this call needs the agent's client certificate (its x509-svid)"}
	errCertRevoked     = &APIError{http.StatusUnauthorized, CodeCertificateRevoked, "the client certificate has been revoked"}
	errCertSuperseded  = &APIError{http.StatusUnauthorized, CodeCertificateSuperseded, "the client certificate has been superseded by later renewals; use the current one"}
	errNotAgent        = &APIError{http.StatusForbidden, CodeNotAgent, "the client certificate is not an agent's"}
	errAgentUnknown    = &APIError{http.StatusForbidden, CodeAgentUnknown, "the agent is not registered"}
	errAgentRevoked    = &APIError{http.StatusForbidden, CodeAgentRevoked, "the agent has been revoked"}
	errEntryUnknown    = &APIError{http.StatusNotFound, CodeEntryUnknown, "no registration entry with this id has the calling agent as its parent"}
	errCAUnavailable   = &APIError{http.StatusServiceUnavailable, CodeUnavailable, "the certificate authority is not ready; retry later"}
	errStoreUnavailble = &APIError{http.StatusServiceUnavailable, CodeUnavailable, "the server's store is not reachable; retry later"}
	errInternal        = &APIError{http.StatusInternalServerError, CodeInternal, "the server could not complete the request"}
	errNotAudited      = &APIError{http.StatusInternalServerError, CodeInternal, "the certificate could not be recorded in the audit log, so it was revoked"}
	errJWTNotAudited   = &APIError{http.StatusInternalServerError, CodeInternal, "the jwt-svid could not be recorded in the audit log, so it was not handed out"}
	errJWTTooLarge     = &APIError{http.StatusBadRequest, CodeBadRequest, "the audience makes the jwt-svid longer than verifiers accept (16 KiB): give fewer or shorter values"}
)

// certRejected is the refusal of a client certificate that does not
// verify; the CA's reason is about the caller's own certificate.
func certRejected(err error) *APIError {
	msg := "the client certificate does not verify against the trust bundle"
	if errors.Is(err, pki.ErrValidity) {
		msg = "the client certificate has expired or is not yet valid"
	}
	return &APIError{http.StatusUnauthorized, CodeCertificateRejected, msg}
}

// jwtRefused is the refusal of a JWT-SVID the CA would not mint. The
// request's own limits are checked first, so this is a backstop: what
// the CA refuses for the request is the caller's to fix, anything else
// goes to publicError.
func jwtRefused(err error) error {
	if errors.Is(err, pki.ErrRequest) || errors.Is(err, pki.ErrLifetime) {
		return &APIError{http.StatusBadRequest, CodeBadRequest, err.Error()}
	}
	return err
}

// publicError maps any error of a request's handling to what the client
// is told. Refusals of the caller's input keep their message, which
// describes that input; anything else becomes a fixed message, and the
// caller of publicError logs the error itself.
func publicError(err error) (e *APIError, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	switch {
	case errors.Is(err, pki.ErrMalformed), errors.Is(err, pki.ErrTooLarge), errors.Is(err, pki.ErrCSRSignature),
		errors.Is(err, pki.ErrKeyType), errors.Is(err, pki.ErrCARequest), errors.Is(err, pki.ErrRequest),
		errors.Is(err, pki.ErrLifetime), errors.Is(err, pki.ErrInvalidID), errors.Is(err, pki.ErrTrustDomain):
		return &APIError{http.StatusBadRequest, CodeCSRRefused, err.Error()}, false
	case errors.Is(err, ErrInvalid):
		return &APIError{http.StatusBadRequest, CodeBadRequest, err.Error()}, false
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return &APIError{http.StatusConflict, CodeConflict, "a concurrent change to the same agent; retry"}, false
	case errors.Is(err, pki.ErrCA):
		return errCAUnavailable, true
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return errStoreUnavailble, true
	}
	return errInternal, true
}

// writeError answers with e as JSON.
func writeError(w http.ResponseWriter, e *APIError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(e)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// logInternal logs an error the client was not shown.
func logInternal(log *slog.Logger, op string, err error) {
	log.Error("agent api: request failed", "op", op, "err", err)
}

// quote renders an untrusted value for an error message: quoted, and cut
// short.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
