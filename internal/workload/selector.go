package workload

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrSelector classifies a selector that does not parse.
var ErrSelector = errors.New("invalid selector")

// Selector kinds of the "unix" workload attestor. Each names one fact the
// server learns about a caller: the kernel's credentials for the
// connection, the names they resolve to, and the binary the calling process
// runs.
const (
	KindUID   = "uid"   // unix:uid:N, the effective user id at connect time
	KindGID   = "gid"   // unix:gid:N, the effective group id at connect time
	KindUser  = "user"  // unix:user:NAME, the uid's name in the user database
	KindGroup = "group" // unix:group:NAME, the gid's name in the group database
	KindPath  = "path"  // unix:path:/abs/path, the binary of the calling process
)

const (
	selectorPrefix = "unix:"
	// maxPathLen is Linux's PATH_MAX: no readlink of /proc/PID/exe can
	// return more, so a longer selector could never match.
	maxPathLen = 4096
	// maxNameLen bounds user and group names; the user databases of real
	// systems stay far below it.
	maxNameLen = 256
)

// Selector is one property a registration entry requires of a workload.
// Its text form is "unix:KIND:VALUE"; ParseSelector accepts only the
// canonical form (no leading zeros, clean absolute paths), so that a
// selector that looks as if it should match one of the attested facts does
// match it, rather than silently never matching.
type Selector struct {
	Kind  string
	Value string
}

// String returns the selector's text form, which ParseSelector accepts.
func (s Selector) String() string {
	return selectorPrefix + s.Kind + ":" + s.Value
}

// ParseSelector parses a selector's text form. The input is configuration
// (or entries synchronised from the server): it is checked strictly, and
// the error says what is wrong without echoing more than the selector.
func ParseSelector(s string) (Selector, error) {
	rest, ok := strings.CutPrefix(s, selectorPrefix)
	if !ok {
		return Selector{}, fmt.Errorf("%w %q: want unix:KIND:VALUE", ErrSelector, clip(s))
	}
	kind, value, ok := strings.Cut(rest, ":")
	if !ok {
		return Selector{}, fmt.Errorf("%w %q: want unix:KIND:VALUE", ErrSelector, clip(s))
	}
	var err error
	switch kind {
	case KindUID, KindGID:
		err = checkID(value)
	case KindUser, KindGroup:
		err = checkName(value)
	case KindPath:
		err = checkPath(value)
	default:
		err = errors.New("unknown kind: want uid, gid, user, group or path")
	}
	if err != nil {
		return Selector{}, fmt.Errorf("%w %q: %v", ErrSelector, clip(s), err)
	}
	return Selector{Kind: kind, Value: value}, nil
}

// checkID accepts a decimal user or group id in canonical form. 4294967295
// is (uid_t)-1, which the kernel reserves as "no id".
func checkID(v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 1<<32-1 || strconv.FormatUint(n, 10) != v {
		return errors.New("id must be a decimal number from 0 to 4294967294 without leading zeros")
	}
	return nil
}

// checkName accepts a user or group name: printable, without the ':' that
// separates fields in /etc/passwd and /etc/group, and without spaces.
func checkName(v string) error {
	if v == "" || len(v) > maxNameLen {
		return fmt.Errorf("name must have 1 to %d bytes", maxNameLen)
	}
	if !utf8.ValidString(v) {
		return errors.New("name must be UTF-8")
	}
	for _, r := range v {
		if r == ':' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return errors.New("name must not contain ':', spaces or control characters")
		}
	}
	return nil
}

// checkPath accepts an absolute, clean path: the form readlink of
// /proc/PID/exe returns.
func checkPath(v string) error {
	switch {
	case !strings.HasPrefix(v, "/"):
		return errors.New("path must be absolute")
	case len(v) > maxPathLen:
		return fmt.Errorf("path must be at most %d bytes", maxPathLen)
	case strings.IndexByte(v, 0) >= 0:
		return errors.New("path must not contain NUL")
	case filepath.Clean(v) != v:
		return errors.New("path must be clean (no '.', '..', '//' or trailing '/')")
	}
	return nil
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
