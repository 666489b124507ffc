package policy

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader that keeps the position of every value. encoding/json
// gives only byte offsets, and it silently keeps the last of two equal keys:
// in a policy that would let a reviewer read one Effect while ztgate obeys
// another, so duplicate keys are rejected here.

// Limits on what Parse reads. A policy is a few kilobytes (AWS caps managed
// policies at 6,144 characters); the caps only keep hostile input cheap.
const (
	MaxSize  = 128 << 10 // bytes in one document
	maxDepth = 16        // nesting of objects and arrays; a valid policy needs 6
)

type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonBool
	jsonNull
	jsonObject
	jsonArray
)

func (k jsonKind) String() string {
	switch k {
	case jsonString:
		return "a string"
	case jsonNumber:
		return "a number"
	case jsonBool:
		return "a boolean"
	case jsonNull:
		return "null"
	case jsonObject:
		return "an object"
	case jsonArray:
		return "a list"
	}
	return "nothing"
}

// jsonValue is one JSON value. text holds a string's decoded value, or the
// literal text of a number, boolean or null.
type jsonValue struct {
	kind    jsonKind
	pos     Pos
	text    string
	members []jsonMember // object members, in document order
	elems   []*jsonValue // array elements
}

type jsonMember struct {
	key    string
	keyPos Pos
	value  *jsonValue
}

type jsonReader struct {
	data      []byte
	off       int
	line      int
	lineStart int // offset of the first byte of the current line
	depth     int
}

// readJSON reads exactly one JSON value followed by nothing but white space.
func readJSON(data []byte) (*jsonValue, *Error) {
	r := &jsonReader{data: data, line: 1}
	r.space()
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.space()
	if r.off < len(r.data) {
		return nil, r.fail("unexpected %s after the document", r.describe())
	}
	return v, nil
}

func (r *jsonReader) pos() Pos {
	return Pos{Line: r.line, Col: r.off - r.lineStart + 1}
}

func (r *jsonReader) fail(format string, args ...any) *Error {
	return &Error{Pos: r.pos(), Msg: MsgSyntax, Detail: fmt.Sprintf(format, args...)}
}

// describe names the byte at the read position for an error message.
func (r *jsonReader) describe() string {
	if r.off >= len(r.data) {
		return "end of input"
	}
	c := r.data[r.off]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (r *jsonReader) space() {
	for r.off < len(r.data) {
		switch r.data[r.off] {
		case '\n':
			r.off++
			r.line++
			r.lineStart = r.off
		case ' ', '\t', '\r':
			r.off++
		default:
			return
		}
	}
}

func (r *jsonReader) value() (*jsonValue, *Error) {
	if r.off >= len(r.data) {
		return nil, r.fail("unexpected end of input, want a value")
	}
	switch c := r.data[r.off]; {
	case c == '{':
		return r.object()
	case c == '[':
		return r.array()
	case c == '"':
		p := r.pos()
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonString, pos: p, text: s}, nil
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	case c == 't':
		return r.literal("true", jsonBool)
	case c == 'f':
		return r.literal("false", jsonBool)
	case c == 'n':
		return r.literal("null", jsonNull)
	}
	return nil, r.fail("unexpected %s, want a value", r.describe())
}

func (r *jsonReader) enter() *Error {
	r.depth++
	if r.depth > maxDepth {
		return r.fail("nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (r *jsonReader) object() (*jsonValue, *Error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	v := &jsonValue{kind: jsonObject, pos: r.pos()}
	r.off++ // {
	r.space()
	if r.off < len(r.data) && r.data[r.off] == '}' {
		r.off++
		r.depth--
		return v, nil
	}
	seen := map[string]bool{}
	for {
		if r.off >= len(r.data) || r.data[r.off] != '"' {
			return nil, r.fail("unexpected %s, want a quoted key", r.describe())
		}
		kp := r.pos()
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, &Error{Pos: kp, Msg: MsgSyntax, Detail: fmt.Sprintf("duplicate key %q", key)}
		}
		seen[key] = true
		r.space()
		if r.off >= len(r.data) || r.data[r.off] != ':' {
			return nil, r.fail("unexpected %s, want ':'", r.describe())
		}
		r.off++
		r.space()
		val, err := r.value()
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, jsonMember{key: key, keyPos: kp, value: val})
		r.space()
		if r.off < len(r.data) && r.data[r.off] == ',' {
			r.off++
			r.space()
			continue
		}
		if r.off < len(r.data) && r.data[r.off] == '}' {
			r.off++
			r.depth--
			return v, nil
		}
		return nil, r.fail("unexpected %s, want ',' or '}'", r.describe())
	}
}

func (r *jsonReader) array() (*jsonValue, *Error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	v := &jsonValue{kind: jsonArray, pos: r.pos()}
	r.off++ // [
	r.space()
	if r.off < len(r.data) && r.data[r.off] == ']' {
		r.off++
		r.depth--
		return v, nil
	}
	for {
		e, err := r.value()
		if err != nil {
			return nil, err
		}
		v.elems = append(v.elems, e)
		r.space()
		if r.off < len(r.data) && r.data[r.off] == ',' {
			r.off++
			r.space()
			continue
		}
		if r.off < len(r.data) && r.data[r.off] == ']' {
			r.off++
			r.depth--
			return v, nil
		}
		return nil, r.fail("unexpected %s, want ',' or ']'", r.describe())
	}
}

func (r *jsonReader) literal(word string, kind jsonKind) (*jsonValue, *Error) {
	p := r.pos()
	end := r.off + len(word)
	if end > len(r.data) || string(r.data[r.off:end]) != word {
		return nil, r.fail("unexpected %s, want a value", r.describe())
	}
	r.off = end
	return &jsonValue{kind: kind, pos: p, text: word}, nil
}

// number reads a number by JSON's grammar and keeps its literal text.
func (r *jsonReader) number() (*jsonValue, *Error) {
	p := r.pos()
	start := r.off
	digits := func() int {
		n := 0
		for r.off < len(r.data) && r.data[r.off] >= '0' && r.data[r.off] <= '9' {
			r.off++
			n++
		}
		return n
	}
	if r.data[r.off] == '-' {
		r.off++
	}
	switch {
	case r.off < len(r.data) && r.data[r.off] == '0':
		r.off++
	case digits() == 0:
		return nil, r.fail("unexpected %s in a number", r.describe())
	}
	if r.off < len(r.data) && r.data[r.off] == '.' {
		r.off++
		if digits() == 0 {
			return nil, r.fail("unexpected %s in a number", r.describe())
		}
	}
	if r.off < len(r.data) && (r.data[r.off] == 'e' || r.data[r.off] == 'E') {
		r.off++
		if r.off < len(r.data) && (r.data[r.off] == '+' || r.data[r.off] == '-') {
			r.off++
		}
		if digits() == 0 {
			return nil, r.fail("unexpected %s in a number", r.describe())
		}
	}
	return &jsonValue{kind: jsonNumber, pos: p, text: string(r.data[start:r.off])}, nil
}

// str reads a quoted string. Invalid UTF-8 and unpaired surrogates are
// errors rather than U+FFFD: a policy should mean exactly what it says.
func (r *jsonReader) str() (string, *Error) {
	r.off++ // opening quote
	start := r.off
	// Fast path: plain ASCII, no escapes.
	for r.off < len(r.data) {
		c := r.data[r.off]
		if c == '"' {
			s := string(r.data[start:r.off])
			r.off++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		r.off++
	}
	buf := append([]byte(nil), r.data[start:r.off]...)
	for {
		if r.off >= len(r.data) {
			return "", r.fail("unterminated string")
		}
		c := r.data[r.off]
		switch {
		case c == '"':
			r.off++
			return string(buf), nil
		case c < 0x20:
			return "", r.fail("control character %s in a string", r.describe())
		case c == '\\':
			if r.off+1 >= len(r.data) {
				return "", r.fail("unterminated string")
			}
			r.off++
			switch e := r.data[r.off]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r.off-- // point errors at the backslash
				c, err := r.escapedRune()
				if err != nil {
					return "", err
				}
				buf = utf8.AppendRune(buf, c)
				continue
			default:
				return "", r.fail("invalid escape %s", strconv.Quote(`\`+string(rune(e))))
			}
			r.off++
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			r.off++
		default:
			ru, n := utf8.DecodeRune(r.data[r.off:])
			if ru == utf8.RuneError && n == 1 {
				return "", r.fail("invalid UTF-8 in a string")
			}
			buf = append(buf, r.data[r.off:r.off+n]...)
			r.off += n
		}
	}
}

// escapedRune reads \uXXXX, or a surrogate pair of them, at the read
// position.
func (r *jsonReader) escapedRune() (rune, *Error) {
	start := r.off
	first, err := r.hex4()
	if err != nil {
		return 0, err
	}
	if !utf16.IsSurrogate(first) {
		return first, nil
	}
	if first < 0xdc00 && r.off+1 < len(r.data) && r.data[r.off] == '\\' && r.data[r.off+1] == 'u' {
		save := r.off
		second, err := r.hex4()
		if err != nil {
			return 0, err
		}
		if c := utf16.DecodeRune(first, second); c != utf8.RuneError {
			return c, nil
		}
		r.off = save
	}
	r.off = start
	return 0, r.fail("unpaired surrogate in a string")
}

func (r *jsonReader) hex4() (rune, *Error) {
	if r.off+6 > len(r.data) {
		return 0, r.fail("invalid \\u escape")
	}
	var c rune
	for _, h := range r.data[r.off+2 : r.off+6] {
		c <<= 4
		switch {
		case h >= '0' && h <= '9':
			c |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			c |= rune(h - 'a' + 10)
		case h >= 'A' && h <= 'F':
			c |= rune(h - 'A' + 10)
		default:
			return 0, r.fail("invalid \\u escape")
		}
	}
	r.off += 6
	return c, nil
}
