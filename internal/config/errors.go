package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Kinds of configuration error, for errors.Is. Every [*Error] wraps one.
var (
	// ErrSyntax means the file cannot be read as one YAML document: it is
	// not well-formed, holds a second document, is larger than 1 MiB or has
	// aliases that expand too far.
	ErrSyntax = errors.New("invalid yaml")
	// ErrUnknownKey means a key that ztgate does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey means a key given twice in one mapping.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrType means a value of the wrong type: a sequence for a mapping, a
	// word for a number.
	ErrType = errors.New("wrong type")
	// ErrValue means a value of the right type that ztgate does not accept,
	// such as an unknown log level or a port out of range.
	ErrValue = errors.New("invalid value")
)

// Error is one problem in a configuration.
type Error struct {
	File   string // name given to Parse or Load; empty for Validate
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Path   string // dotted key path, such as "store.postgres.dsn"; empty for the document as a whole
	Msg    string // what is wrong, never quoting a secret
	Kind   error  // one of ErrSyntax, ErrUnknownKey, ErrDuplicateKey, ErrType, ErrValue
}

// Error formats e as "file:line:column: path: message", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns e's kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errors is every problem found in one configuration, in the order they
// appear in the file. Parse, Load and Validate return it as their error, so
// a caller can print one problem per line:
//
//	var errs config.Errors
//	if errors.As(err, &errs) {
//		for _, e := range errs {
//			fmt.Fprintln(os.Stderr, e)
//		}
//	}
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As access to each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors caps the problems reported for one file: past a few dozen, more
// lines bury the first ones rather than help.
const maxErrors = 50

// finish sorts errs into file order, drops repeats (a mapping merged into
// two places can report the same problem twice), caps their number and
// returns nil when there are none.
func finish(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	seen := make(map[Error]bool, len(errs))
	errs = slices.DeleteFunc(errs, func(e *Error) bool {
		if seen[*e] {
			return true
		}
		seen[*e] = true
		return false
	})
	if len(errs) > maxErrors {
		last := errs[maxErrors-1]
		errs = append(errs[:maxErrors:maxErrors], &Error{
			File: last.File,
			Line: last.Line,
			Msg:  "too many errors",
			Kind: last.Kind,
		})
	}
	return Errors(errs)
}
