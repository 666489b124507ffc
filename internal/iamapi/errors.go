package iamapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/store"
)

// Error is an IAM API error as a client sees it: AWS's code, message and
// HTTP status. The handler answers with it; the CLI returns it after
// printing it, so that main exits with ExitCode without printing again.
type Error struct {
	Code       string
	Message    string
	StatusCode int
	// Operation and RequestID are set on the client side.
	Operation string
	RequestID string
}

func (e *Error) Error() string {
	if e.Operation != "" {
		return "iam " + e.Operation + ": " + e.Code + ": " + e.Message
	}
	return "iam: " + e.Code + ": " + e.Message
}

// ExitCode is the CLI's exit status for an error AWS's way: 1.
func (e *Error) ExitCode() int { return 1 }

// Errors the handler answers with, in AWS's words.
var (
	errInternal = &Error{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", StatusCode: http.StatusInternalServerError}
	errTooLarge = &Error{Code: "RequestEntityTooLarge", Message: "Request body must be at most 1048576 bytes.", StatusCode: http.StatusRequestEntityTooLarge}
	errBadForm  = &Error{Code: "MalformedQueryString", Message: "The request body is not a valid form.", StatusCode: http.StatusBadRequest}
	errMethod   = &Error{Code: "InvalidHttpRequest", Message: "IAM requests are GET or POST requests to /.", StatusCode: http.StatusMethodNotAllowed}
	errNotUser  = validation("Must specify userName when calling with non-User credentials")
)

func validation(msg string) *Error {
	return &Error{Code: "ValidationError", Message: msg, StatusCode: http.StatusBadRequest}
}

func noSuchEntity(msg string) *Error {
	return &Error{Code: "NoSuchEntity", Message: msg, StatusCode: http.StatusNotFound}
}

// validationErrors words constraint failures as AWS does: "1 validation
// error detected: Value null at 'roleName' failed to satisfy constraint:
// Member must not be null".
func validationErrors(msgs []string) *Error {
	what := "validation error"
	if len(msgs) > 1 {
		what += "s"
	}
	return validation(strconv.Itoa(len(msgs)) + " " + what + " detected: " + strings.Join(msgs, "; "))
}

// codes maps the directory's errors to AWS's codes and statuses.
var codes = []struct {
	err    error
	code   string
	status int
}{
	{iam.ErrNoSuchEntity, "NoSuchEntity", http.StatusNotFound},
	{iam.ErrEntityExists, "EntityAlreadyExists", http.StatusConflict},
	{iam.ErrMalformedPolicy, "MalformedPolicyDocument", http.StatusBadRequest},
	{iam.ErrDeleteConflict, "DeleteConflict", http.StatusConflict},
	{iam.ErrLimitExceeded, "LimitExceeded", http.StatusConflict},
	{iam.ErrInvalidInput, "ValidationError", http.StatusBadRequest},
	{store.ErrConflict, "ConcurrentModification", http.StatusConflict},
}

// publicError is what the client is told about err, and whether it is
// the client's doing; anything not classified is an InternalFailure whose
// detail only the log sees.
func publicError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Error{Code: c.code, Message: message(err, c.err), StatusCode: c.status}, true
		}
	}
	return errInternal, false
}

// message is what follows the sentinel in err's text ("iam: no such
// entity: The user with name bob cannot be found." gives AWS's sentence),
// or a generic sentence when nothing does.
func message(err, sentinel error) string {
	s, prefix := err.Error(), sentinel.Error()+": "
	if i := strings.Index(s, prefix); i >= 0 && len(s) > i+len(prefix) {
		return s[i+len(prefix):]
	}
	if sentinel == store.ErrConflict {
		return "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again."
	}
	return strings.TrimPrefix(sentinel.Error(), "iam: ")
}

// accessDenied words a denial as AWS does.
func accessDenied(arn, action, resource, why string) *Error {
	if arn == "" {
		arn = "anonymous"
	}
	return &Error{
		Code:       "AccessDenied",
		Message:    fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", arn, action, resource, why),
		StatusCode: http.StatusForbidden,
	}
}
