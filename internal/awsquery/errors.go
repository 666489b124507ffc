package awsquery

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinels that classify every error this package returns.
var (
	// ErrMalformed: the body is not a well-formed form, or not one a
	// query-protocol client would send (repeated or empty names, invalid
	// UTF-8, too many parameters). AWS answers MalformedQueryString.
	ErrMalformed = errors.New("malformed query")
	// ErrInvalid: the form is well formed but a parameter does not have
	// the shape asked for (a list with a gap, a map entry without a key).
	// AWS answers with a validation error naming the parameter.
	ErrInvalid = errors.New("invalid parameter")
)

// Error is a decoding failure. It never holds a parameter's value.
type Error struct {
	// Param is the parameter at fault, clipped to MaxEcho bytes; "" when
	// the fault is in the body as a whole or the name did not decode.
	Param string
	// Reason says what is wrong, in lowercase, without client values.
	Reason string
	// Kind is ErrMalformed or ErrInvalid.
	Kind error
}

func (e *Error) Error() string {
	if e.Param == "" {
		return "awsquery: " + e.Reason
	}
	return "awsquery: parameter " + strconv.Quote(e.Param) + ": " + e.Reason
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// MaxEcho bounds how much of a client-supplied string an error repeats.
const MaxEcho = 128

func malformed(param, reason string) *Error {
	return &Error{Param: clip(param), Reason: reason, Kind: ErrMalformed}
}

func invalid(param, reason string) *Error {
	return &Error{Param: clip(param), Reason: reason, Kind: ErrInvalid}
}

// clip shortens s to at most MaxEcho bytes without splitting a rune.
func clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	n := MaxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
