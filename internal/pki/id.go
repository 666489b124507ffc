package pki

import (
	"fmt"
	"net/url"
	"strings"
)

// Limits of the SPIFFE-ID specification.
const (
	// MaxIDLen is the longest SPIFFE ID, in bytes (SPIFFE-ID §2.3).
	MaxIDLen = 2048
	// MaxTrustDomainLen is the longest trust domain name, in bytes
	// (SPIFFE-ID §2.1).
	MaxTrustDomainLen = 255

	idScheme = "spiffe://"
)

// TrustDomain is a SPIFFE trust domain name, such as "example.org". The
// zero value is no trust domain.
type TrustDomain struct{ name string }

// ParseTrustDomain validates a trust domain name: 1 to 255 bytes of
// lowercase letters, digits, '.', '-' and '_'. It takes the bare name, not
// a spiffe:// URI. Errors wrap ErrInvalidID.
func ParseTrustDomain(name string) (TrustDomain, error) {
	if why := checkTrustDomain(name); why != "" {
		return TrustDomain{}, fmt.Errorf("%w: trust domain %s: %s", ErrInvalidID, quote(name), why)
	}
	return TrustDomain{name: name}, nil
}

func checkTrustDomain(name string) string {
	switch {
	case name == "":
		return "trust domain is missing"
	case len(name) > MaxTrustDomainLen:
		return fmt.Sprintf("trust domain is longer than %d bytes", MaxTrustDomainLen)
	}
	for i := 0; i < len(name); i++ {
		if !trustDomainChar(name[i]) {
			return "trust domain characters are limited to lowercase letters, digits, '.', '-' and '_'"
		}
	}
	return ""
}

func trustDomainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

func pathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// String returns the name.
func (td TrustDomain) String() string { return td.name }

// IsZero reports whether td is the zero value.
func (td TrustDomain) IsZero() bool { return td.name == "" }

// ID returns the trust domain's own SPIFFE ID, spiffe://NAME, which has
// no path.
func (td TrustDomain) ID() ID {
	if td.IsZero() {
		return ID{}
	}
	return ID{s: idScheme + td.name, tdEnd: len(idScheme) + len(td.name)}
}

// NewID returns the SPIFFE ID of path in td. The path is empty or starts
// with '/' and follows the rules of ParseID.
func (td TrustDomain) NewID(path string) (ID, error) {
	switch {
	case td.IsZero():
		return ID{}, fmt.Errorf("%w: no trust domain", ErrInvalidID)
	case path != "" && path[0] != '/':
		return ID{}, fmt.Errorf("%w: path %s: path must start with '/'", ErrInvalidID, quote(path))
	}
	return ParseID(idScheme + td.name + path)
}

// ID is a SPIFFE ID: spiffe://TRUST_DOMAIN/PATH. IDs that ParseID accepts
// compare equal with == exactly when their strings do. The zero value is no
// ID.
type ID struct {
	s     string
	tdEnd int // s[len(idScheme):tdEnd] is the trust domain
}

// ParseID validates a SPIFFE ID by the SPIFFE-ID specification: the
// scheme "spiffe://" in lowercase; a trust domain of lowercase letters,
// digits, '.', '-' and '_' (so no port, no userinfo); a path, possibly
// empty, of '/'-separated segments of letters, digits, '.', '-' and '_',
// none empty and none "." or ".." (so no trailing '/', no
// percent-encoding, no query, no fragment); 2048 bytes at most. Errors
// wrap ErrInvalidID and say which rule was broken.
func ParseID(s string) (ID, error) {
	if why := checkID(s); why != "" {
		return ID{}, fmt.Errorf("%w: %s: %s", ErrInvalidID, quote(s), why)
	}
	end := strings.IndexByte(s[len(idScheme):], '/')
	if end < 0 {
		return ID{s: s, tdEnd: len(s)}, nil
	}
	return ID{s: s, tdEnd: len(idScheme) + end}, nil
}

func checkID(s string) string {
	switch {
	case s == "":
		return "spiffe id is empty"
	case len(s) > MaxIDLen:
		return fmt.Sprintf("spiffe id is longer than %d bytes", MaxIDLen)
	case !strings.HasPrefix(s, idScheme):
		return `scheme must be "spiffe://"`
	}
	rest := s[len(idScheme):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		i = len(rest)
	}
	if i == 0 {
		return "trust domain is missing"
	}
	for j := 0; j < i; j++ {
		switch c := rest[j]; {
		case c == ':':
			return "a port is not allowed"
		case c == '@':
			return "userinfo is not allowed"
		case c == '?', c == '#':
			return "a query or fragment is not allowed"
		case !trustDomainChar(c):
			return "trust domain characters are limited to lowercase letters, digits, '.', '-' and '_'"
		}
	}
	if i > MaxTrustDomainLen {
		return fmt.Sprintf("trust domain is longer than %d bytes", MaxTrustDomainLen)
	}
	return checkPath(rest[i:])
}

// checkPath validates a path: empty, or '/'-separated segments.
func checkPath(p string) string {
	if p == "" {
		return ""
	}
	if p[0] != '/' {
		return "path must start with '/'"
	}
	for len(p) > 0 {
		p = p[1:] // the '/'
		n := strings.IndexByte(p, '/')
		if n < 0 {
			n = len(p)
		}
		seg := p[:n]
		switch seg {
		case "":
			if n == len(p) {
				return "path cannot end with '/'"
			}
			return "path cannot contain empty segments"
		case ".", "..":
			return "path cannot contain '.' or '..' segments"
		}
		for j := 0; j < len(seg); j++ {
			switch c := seg[j]; {
			case c == '?', c == '#':
				return "a query or fragment is not allowed"
			case c == '%':
				return "percent-encoding is not allowed in a path"
			case !pathChar(c):
				return "path characters are limited to letters, digits, '.', '-' and '_'"
			}
		}
		p = p[n:]
	}
	return ""
}

// String returns the ID, "spiffe://...", or "" for the zero ID.
func (id ID) String() string { return id.s }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id.s == "" }

// TrustDomain returns the ID's trust domain.
func (id ID) TrustDomain() TrustDomain {
	if id.IsZero() {
		return TrustDomain{}
	}
	return TrustDomain{name: id.s[len(idScheme):id.tdEnd]}
}

// Path returns the ID's path: "" or "/seg/...".
func (id ID) Path() string { return id.s[id.tdEnd:] }

// MemberOf reports whether id belongs to td.
func (id ID) MemberOf(td TrustDomain) bool {
	return !id.IsZero() && id.s[len(idScheme):id.tdEnd] == td.name
}

// URL returns the ID as a URL, for a certificate's URI SAN. Every
// character ParseID allows is unreserved, so the URL prints back to the ID
// byte for byte.
func (id ID) URL() *url.URL {
	if id.IsZero() {
		return &url.URL{}
	}
	return &url.URL{Scheme: "spiffe", Host: id.s[len(idScheme):id.tdEnd], Path: id.Path()}
}

// MarshalText returns the ID's string.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText parses an ID with ParseID; empty text is the zero ID.
func (id *ID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*id = ID{}
		return nil
	}
	v, err := ParseID(string(text))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
