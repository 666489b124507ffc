package awsquery

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxParams is the most parameters Parse accepts in one body, Action and
// Version included. AssumeRole at its largest (50 tags, 10 policy ARNs,
// 50 transitive tag keys, 5 provided contexts) needs about 180.
const MaxParams = 1000

// field is one decoded parameter.
type field struct{ name, value string }

// Params is a decoded query-protocol form, or the part of one under a
// prefix (see Sub). The zero Params is empty. Get, Has and Sub do not
// allocate.
type Params struct {
	// fields is sorted by name, and every name in it starts with the same
	// cut bytes (the prefix a Sub stripped): sorting by the full name is
	// sorting by what follows, so a view is a subslice and a cut.
	fields []field
	cut    int
}

// Parse decodes an application/x-www-form-urlencoded body. Pairs are
// separated by '&' (empty pairs are ignored, as every form reader does),
// '+' means a space, and a pair without '=' has an empty value. It fails
// with ErrMalformed on an invalid percent-escape, a name or value that is
// not UTF-8, an empty name, a name given twice or more than MaxParams
// parameters.
func Parse(body []byte) (Params, error) {
	s := string(body) // one copy: names and values below are slices of it
	n := min(strings.Count(s, "&")+1, MaxParams)
	fields := make([]field, 0, n)
	pair := 0
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		pair++
		if len(fields) == MaxParams {
			return Params{}, malformed("", fmt.Sprintf("more than %d parameters", MaxParams))
		}
		rawName, rawValue, _ := strings.Cut(kv, "=")
		name, err := unescape(rawName)
		if err != nil {
			return Params{}, malformed("", fmt.Sprintf("name of pair %d: %s", pair, err))
		}
		if name == "" {
			return Params{}, malformed("", fmt.Sprintf("pair %d has an empty name", pair))
		}
		if !utf8.ValidString(name) {
			return Params{}, malformed("", fmt.Sprintf("name of pair %d is not UTF-8", pair))
		}
		value, err := unescape(rawValue)
		if err != nil {
			return Params{}, malformed(name, "value: "+err.Error())
		}
		if !utf8.ValidString(value) {
			return Params{}, malformed(name, "value is not UTF-8")
		}
		fields = append(fields, field{name, value})
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(fields); i++ {
		if fields[i].name == fields[i-1].name {
			return Params{}, malformed(fields[i].name, "given more than once")
		}
	}
	return Params{fields: fields}, nil
}

// unescape decodes '+' and percent-escapes. Unlike url.QueryUnescape its
// error does not repeat the input.
func unescape(s string) (string, error) {
	plus, pct := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '+':
			plus = true
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("invalid percent-escape at byte %d", i)
			}
			pct++
			i += 2
		}
	}
	if !plus && pct == 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) - 2*pct)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// key is the i'th name as seen through the view.
func (p Params) key(i int) string { return p.fields[i].name[p.cut:] }

// find returns the index of name, or -1.
func (p Params) find(name string) int {
	i, ok := slices.BinarySearchFunc(p.fields, name, func(f field, name string) int {
		return strings.Compare(f.name[p.cut:], name)
	})
	if !ok {
		return -1
	}
	return i
}

// Get returns the value of name, or "" if it is absent.
func (p Params) Get(name string) string {
	if i := p.find(name); i >= 0 {
		return p.fields[i].value
	}
	return ""
}

// Has reports whether name was given, even with an empty value.
func (p Params) Has(name string) bool { return p.find(name) >= 0 }

// Len returns the number of parameters.
func (p Params) Len() int { return len(p.fields) }

// Names returns the parameters' names in byte order, for checks against
// the names an operation knows.
func (p Params) Names() []string {
	names := make([]string, len(p.fields))
	for i := range p.fields {
		names[i] = p.key(i)
	}
	return names
}

// Sub returns the parameters whose names start with prefix + ".", with
// that removed: Sub("Nested") of Nested.A=1&Nested.B.C=2 holds A and
// B.C. Sub does not allocate.
func (p Params) Sub(prefix string) Params {
	lo, hi := p.under(prefix)
	return Params{fields: p.fields[lo:hi], cut: p.cut + len(prefix) + 1}
}

// under returns the range of names that start with prefix + ".": one
// block, since they sort together.
func (p Params) under(prefix string) (lo, hi int) {
	lo, _ = slices.BinarySearchFunc(p.fields, prefix, func(f field, prefix string) int {
		return compareDotted(f.name[p.cut:], prefix)
	})
	hi = lo + sort.Search(len(p.fields)-lo, func(i int) bool { return !hasDotted(p.key(lo+i), prefix) })
	return lo, hi
}

// compareDotted compares key with prefix + "." without building it.
func compareDotted(key, prefix string) int {
	n := min(len(key), len(prefix))
	if c := strings.Compare(key[:n], prefix[:n]); c != 0 {
		return c
	}
	if len(key) <= len(prefix) {
		return -1
	}
	switch c := key[len(prefix)]; {
	case c < '.':
		return -1
	case c > '.':
		return 1
	case len(key) == len(prefix)+1:
		return 0
	default:
		return 1
	}
}

// hasDotted reports whether key starts with prefix + ".".
func hasDotted(key, prefix string) bool {
	return len(key) > len(prefix) && key[len(prefix)] == '.' && key[:len(prefix)] == prefix
}

// String lists the names only: values may be secrets.
func (p Params) String() string {
	var b strings.Builder
	b.WriteString("awsquery.Params[")
	for i := range p.fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(clip(p.key(i))))
	}
	b.WriteByte(']')
	return b.String()
}

// GoString is String, so %#v does not print values either.
func (p Params) GoString() string { return p.String() }

// Format is String for every verb, so no verb prints values.
func (p Params) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue logs the names only.
func (p Params) LogValue() slog.Value { return slog.StringValue(p.String()) }
