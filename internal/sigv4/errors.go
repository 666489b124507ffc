package sigv4

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
)

// Error is what a client is told when authentication fails: AWS's public
// code, message and HTTP status. It never carries the expected signature,
// the string to sign or a secret.
type Error struct {
	Code       string
	Message    string
	HTTPStatus int
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// Is lets errors.Is match on the code alone, e.g.
// errors.Is(err, &Error{Code: CodeSignatureDoesNotMatch}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// AWS error codes the verifier produces.
const (
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeInvalidClientTokenID       = "InvalidClientTokenId"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
	CodeRequestExpired             = "RequestExpired"
	CodeAccessDenied               = "AccessDenied"
	CodeExpiredToken               = "ExpiredToken"
	CodeContentSHA256Mismatch      = "XAmzContentSHA256Mismatch"
)

const (
	msgSignatureDoesNotMatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken          = "The security token included in the request is invalid."
)

func newError(code, msg string) *Error {
	status := http.StatusForbidden
	switch code {
	case CodeIncompleteSignature, CodeContentSHA256Mismatch, CodeRequestExpired:
		status = http.StatusBadRequest
	}
	return &Error{Code: code, Message: msg, HTTPStatus: status}
}

func errIncomplete(msg string) *Error { return newError(CodeIncompleteSignature, msg) }

func errMismatch() *Error { return newError(CodeSignatureDoesNotMatch, msgSignatureDoesNotMatch) }

func errInvalidToken() *Error { return newError(CodeInvalidClientTokenID, msgInvalidToken) }

type xmlError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// XML renders the error as the query-protocol (STS, IAM) ErrorResponse.
func (e *Error) XML(requestID string) []byte {
	typ := "Sender"
	if e.HTTPStatus >= 500 {
		typ = "Receiver"
	}
	b, err := xml.Marshal(xmlError{
		Xmlns: "https://sts.amazonaws.com/doc/2011-06-15/", Type: typ,
		Code: e.Code, Message: e.Message, RequestID: requestID,
	})
	if err != nil { // only strings: cannot happen
		return nil
	}
	return b
}

// JSON renders the error as the JSON-protocol body.
func (e *Error) JSON(requestID string) []byte {
	_ = requestID // JSON protocols carry it in x-amzn-RequestId, not the body
	b, err := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	if err != nil {
		return nil
	}
	return b
}

// redactAuthorization returns the Authorization header as AWS echoes it in
// IncompleteSignature messages, but with the Signature value removed and the
// length bounded: an error must never replay a signature.
func redactAuthorization(h string) string {
	const maxEcho = 512
	// Everything from the signature on goes: clients put it last, and a
	// malformed header may continue it past a comma.
	if i := strings.Index(h, "Signature="); i >= 0 {
		h = h[:i] + "Signature=" + redacted
	}
	if len(h) > maxEcho {
		h = h[:maxEcho] + "..."
	}
	return h
}
