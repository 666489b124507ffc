package device

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// refusal is what a client is told: a status, a code and a constant
// message. No message carries client input, internal text or a secret,
// except ErrInvalid's, which describes the administrator's own input.
type refusal struct {
	status        int
	code, message string
}

var (
	refuseAudit    = refusal{http.StatusServiceUnavailable, "ServiceUnavailable", "The request could not be audited, so it was not served. Try again later."}
	refuseInternal = refusal{http.StatusInternalServerError, "InternalFailure", "The request could not be served because of an internal error."}
	refuseMethod   = refusal{http.StatusMethodNotAllowed, "MethodNotAllowed", "Only POST is accepted."}
	refuseTLS      = refusal{http.StatusForbidden, "TLSRequired", "Enrollments, posture reports and renewals are accepted over HTTPS only."}
)

// refusalOf maps an error to what the client is told: the one place
// where errors become statuses.
func refusalOf(err error) refusal {
	switch {
	case errors.Is(err, ErrPlainHTTP):
		return refuseTLS
	case errors.Is(err, ErrToken):
		return refusal{http.StatusForbidden, "InvalidEnrollmentToken", ErrToken.Error()}
	case errors.Is(err, ErrCSR):
		return refusal{http.StatusBadRequest, "InvalidCertificateRequest", csrMessage(err)}
	case errors.Is(err, ErrTooLarge):
		return refusal{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body exceeds the size limit."}
	case errors.Is(err, ErrMalformed):
		return refusal{http.StatusBadRequest, "MalformedRequest", malformedMessage(err)}
	case errors.Is(err, ErrCertificate):
		return refusal{http.StatusUnauthorized, "InvalidDeviceCertificate", "The device certificate is not valid."}
	case errors.Is(err, ErrSignature):
		return refusal{http.StatusUnauthorized, "InvalidSignature", "The report's signature does not verify with the device certificate's key."}
	case errors.Is(err, ErrUnknownDevice):
		return refusal{http.StatusForbidden, "UnknownDevice", "The device is not registered."}
	case errors.Is(err, ErrRevoked):
		return refusal{http.StatusForbidden, "DeviceRevoked", "The device or its certificate has been revoked."}
	case errors.Is(err, ErrStale):
		return refusal{http.StatusBadRequest, "ReportExpired", "The report was signed more than 5 minutes ago: collect and sign a new one."}
	case errors.Is(err, ErrFuture):
		return refusal{http.StatusBadRequest, "ReportNotYetValid", "The report was signed more than 5 minutes ahead of the server's time: check the device's clock."}
	case errors.Is(err, ErrReplay):
		return refusal{http.StatusConflict, "ReplayedReport", "The report is not newer than the last report accepted from this device."}
	case errors.Is(err, ErrNotFound):
		return refusal{http.StatusNotFound, "NotFound", "No device or enrollment token has that id."}
	case errors.Is(err, ErrInvalid):
		return refusal{http.StatusBadRequest, "InvalidParameterValue", invalidMessage(err)}
	case errors.Is(err, store.ErrUnavailable):
		return refusal{http.StatusServiceUnavailable, "ServiceUnavailable", "The device registry is unavailable. Try again later."}
	}
	return refuseInternal
}

// renewalRefusalOf is refusalOf for a renewal, whose signature, time and
// replay refusals speak of a renewal rather than a report.
func renewalRefusalOf(err error) refusal {
	switch {
	case errors.Is(err, ErrPlainHTTP):
		return refuseTLS
	case errors.Is(err, ErrCSR) && errors.Is(err, pki.ErrRequest):
		return refusal{http.StatusBadRequest, "InvalidCertificateRequest", "The certificate request names another identity than the device's."}
	case errors.Is(err, ErrCertificate):
		return refusal{http.StatusUnauthorized, "InvalidDeviceCertificate", "The device certificate is not valid, or is not the device's current certificate."}
	case errors.Is(err, ErrSignature):
		return refusal{http.StatusUnauthorized, "InvalidSignature", "The renewal's signature does not verify with the device certificate's key."}
	case errors.Is(err, ErrStale):
		return refusal{http.StatusBadRequest, "RequestExpired", "The renewal was signed more than 5 minutes ago: sign a new one."}
	case errors.Is(err, ErrFuture):
		return refusal{http.StatusBadRequest, "RequestNotYetValid", "The renewal was signed more than 5 minutes ahead of the server's time: check the device's clock."}
	case errors.Is(err, ErrReplay):
		return refusal{http.StatusConflict, "ReplayedRequest", "The renewal is not newer than the last renewal accepted from this device."}
	case errors.Is(err, ErrLimit):
		return refusal{http.StatusTooManyRequests, "TooManyCertificates", "The device holds too many unexpired certificates to renew again: wait for one to expire."}
	}
	return refusalOf(err)
}

// csrMessage says what is wrong with a refused CSR, in a fixed sentence
// per class.
// malformedMessage says what is wrong with a malformed request: the
// package's own words after its sentinel, in which untrusted values are
// quoted and cut short.
func malformedMessage(err error) string {
	const generic = "The request body does not have the required form."
	_, detail, ok := strings.Cut(err.Error(), ErrMalformed.Error()+": ")
	if !ok || detail == "" {
		return generic
	}
	return generic[:len(generic)-1] + ": " + detail + "."
}

func csrMessage(err error) string {
	switch {
	case errors.Is(err, pki.ErrTooLarge):
		return "The certificate request exceeds the size limit."
	case errors.Is(err, pki.ErrCSRSignature):
		return "The certificate request's signature does not verify."
	case errors.Is(err, pki.ErrKeyType):
		return "The certificate request's key is not accepted: use ECDSA P-256 (or P-384, Ed25519, RSA of 2048 to 8192 bits)."
	case errors.Is(err, pki.ErrCARequest):
		return "The certificate request asks for a CA certificate."
	case errors.Is(err, pki.ErrRequest):
		return "The certificate request must not name a URI: the device id is assigned at enrollment."
	}
	return "The certificate request is not a valid PKCS#10 request."
}

// invalidMessage is an ErrInvalid's own text, which describes the
// request's values, as a sentence.
func invalidMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ErrInvalid.Error()+": "); i >= 0 {
		msg = msg[i+len(ErrInvalid.Error())+2:]
	}
	if msg == "" {
		return "The request is not valid."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// errorBody is the JSON of a refusal, shaped as the gateway's.
type errorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func writeRefusal(w http.ResponseWriter, rid string, ref refusal) {
	b, _ := json.Marshal(errorBody{ref.code, ref.message, rid}) // only strings: cannot fail
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", rid)
	w.WriteHeader(ref.status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, rid string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeRefusal(w, rid, refuseInternal)
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", rid)
	w.WriteHeader(status)
	w.Write(b)
}

// newRequestID returns a random (version 4) UUID, as AWS's request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
