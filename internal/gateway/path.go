package gateway

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxPathLen bounds a request path, as sent (escaped).
const MaxPathLen = 8192

// ErrPath classifies a refused request path; the *PathError says why.
var ErrPath = errors.New("gateway: path refused")

// ErrPathTooLong is a path longer than MaxPathLen.
var ErrPathTooLong = errors.New("gateway: path too long")

// PathError is a refused request path. Reason is a constant phrase, never
// the path itself: it is safe to show to the client.
type PathError struct{ Reason string }

func (e *PathError) Error() string { return "gateway: path refused: " + e.Reason }

// Unwrap makes a PathError match ErrPath.
func (e *PathError) Unwrap() error { return ErrPath }

// Reasons for refusing a path. They are shown to clients.
var (
	errNotAbsolute    = &PathError{"the path does not begin with /"}
	errBadEscape      = &PathError{"the path has an invalid percent-encoding"}
	errEncodedSlash   = &PathError{"the path has an encoded slash or backslash"}
	errBackslash      = &PathError{"the path has a backslash"}
	errSemicolon      = &PathError{"the path has a semicolon (path parameters are not accepted)"}
	errFragment       = &PathError{"the path has a raw #"}
	errControl        = &PathError{"the path has a control character"}
	errUTF8           = &PathError{"the path is not valid UTF-8 once decoded (overlong or truncated sequences are refused)"}
	errLookalike      = &PathError{"the path has a character that normalises to a separator, a dot or a percent sign"}
	errEmptySegment   = &PathError{"the path has an empty segment (//)"}
	errDotSegment     = &PathError{"the path has a segment made only of dots (., .. or an encoded form)"}
	errDoubleEncoding = &PathError{"the path is encoded twice (%25 followed by two hex digits)"}
)

// CanonicalPath checks a request path as sent (escaped, without the query)
// and returns the path the policy decides on (decoded) and the one
// encoding of it the upstream receives (escaped). Decoding escaped once
// gives path, and CanonicalPath(escaped) returns path and escaped again.
//
// The raw path is decoded once. A path is refused, never rewritten, when
// it does not begin with "/", is longer than MaxPathLen, or has: a
// backslash, raw or encoded; an encoded slash; a semicolon, raw or encoded
// (servlet containers strip ";params", which hides dot segments); a raw
// "#"; an invalid percent-encoding; a control character (C0, DEL, C1) raw
// or encoded; bytes that are not valid UTF-8 once decoded (so overlong
// forms like %c0%af); a character whose compatibility form (NFKC) holds a
// slash, backslash, dot, percent, semicolon, "#" or "?" (fullwidth
// solidus, one-dot leader…), or that Windows best-fit code pages turn into
// a separator (¥, ₩, division slash…); an empty segment ("//"); a segment
// made only of dots, however encoded ("." "..", "%2e%2E", "..."); or an
// encoded percent followed by two hex digits ("%252f": a second decoding
// upstream would see something else).
//
// Everything else is decoded for the policy and re-encoded canonically:
// unreserved characters, sub-delimiters other than ";", ":" and "@" are
// sent as themselves, every other byte as %XX in upper case. So "/%41"
// is decided and sent as "/A", and "/caf%c3%a9" as "/café" (decided) and
// "/caf%C3%A9" (sent). Case and Unicode form are kept: "/Admin" and
// "/admin" are different paths, as are the NFC and NFD forms of "café".
func CanonicalPath(raw string) (path, escaped string, err error) {
	if len(raw) > MaxPathLen {
		return "", "", ErrPathTooLong
	}
	if raw == "" || raw[0] != '/' {
		return "", "", errNotAbsolute
	}
	// Most paths are already canonical: check them in place.
	simple := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c != '/' && !literal(c) {
			simple = false
			break
		}
	}
	if simple {
		if err := checkSegments(raw); err != nil {
			return "", "", err
		}
		return raw, raw, nil
	}

	buf := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2]) {
				return "", "", errBadEscape
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
			switch {
			case c == '/' || c == '\\':
				return "", "", errEncodedSlash
			case c == ';':
				return "", "", errSemicolon
			}
		case c == '\\':
			return "", "", errBackslash
		case c == ';':
			return "", "", errSemicolon
		case c == '#':
			return "", "", errFragment
		}
		if c < 0x20 || c == 0x7f {
			return "", "", errControl
		}
		buf = append(buf, c)
	}
	path = string(buf)
	if err := checkDecoded(path); err != nil {
		return "", "", err
	}
	if err := checkSegments(path); err != nil {
		return "", "", err
	}
	return path, escape(path), nil
}

// checkDecoded checks what only the decoded form shows: its encoding,
// Unicode lookalikes and a second layer of percent-encoding.
func checkDecoded(p string) error {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c == '%' && i+2 < len(p) && ishex(p[i+1]) && ishex(p[i+2]) {
				return errDoubleEncoding
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return errUTF8
		}
		if r >= 0x80 && r <= 0x9f {
			return errControl
		}
		if lookalike(r) {
			return errLookalike
		}
		// The compatibility decomposition is what NFKC-normalising
		// upstreams (and many filesystems) would see.
		for _, d := range norm.NFKC.PropertiesString(p[i : i+size]).Decomposition() {
			switch {
			case d == '/' || d == '\\' || d == '.' || d == '%' || d == ';' || d == '#' || d == '?', d < 0x20, d == 0x7f:
				return errLookalike
			}
		}
		i += size
	}
	return nil
}

// lookalike reports characters without a compatibility decomposition that
// Windows best-fit conversions still turn into a slash or a backslash.
func lookalike(r rune) bool {
	switch r {
	case 0x00A5, // ¥: backslash in code page 932
		0x20A9, // ₩: backslash in code page 949
		0x2044, // ⁄ fraction slash
		0x2215, // ∕ division slash
		0x2216, // ∖ set minus
		0x29F5, // ⧵ reverse solidus operator
		0x29F8, // ⧸ big solidus
		0x29F9: // ⧹ big reverse solidus
		return true
	}
	return false
}

// checkSegments refuses empty segments (but a trailing slash) and
// segments made only of dots.
func checkSegments(p string) error {
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		seg := p[start:i]
		if seg == "" && i < len(p) {
			return errEmptySegment
		}
		if seg != "" && strings.Trim(seg, ".") == "" {
			return errDotSegment
		}
		start = i + 1
	}
	return nil
}

// literal reports the bytes the canonical encoding sends as themselves:
// RFC 3986's unreserved characters, its sub-delimiters but ";", ":" and
// "@".
func literal(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return true
	}
	return false
}

// escape is the canonical encoding of a decoded path.
func escape(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '/' && !literal(c) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || literal(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
