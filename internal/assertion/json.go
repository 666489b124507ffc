package assertion

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Claims are written by appending to a buffer rather than by json.Marshal
// of a struct: the output is the same for the same claims, and Sign spends
// its time on the signature, not on reflection. Reading goes through a
// walker that, unlike json.Unmarshal into a struct, matches member names
// exactly and refuses duplicates, so that {"sub":"a","SUB":"b"} or a doubled
// "sub" cannot mean one thing here and another to a different parser.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it with HTML escaping off (FuzzAppendString checks): invalid UTF-8
// becomes U+FFFD, and U+2028 and U+2029 are escaped so the result is also a
// valid JavaScript string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxMembers bounds the members of a header or claims object (which keeps
// the duplicate check's quadratic scan cheap); ours have at most fifteen.
const maxMembers = 64

// members calls fn with the name (unescaped) and raw value of each member
// of the JSON object in data, in order. It refuses anything but one object
// of valid JSON in valid UTF-8, and duplicate names. It walks the bytes once
// json.Valid has vouched for their syntax: json.Decoder's token API cost a
// third of Verify's time, its signature check included.
func members(data []byte, fn func(name, raw []byte) error) error {
	if !utf8.Valid(data) || !json.Valid(data) {
		return errors.New("invalid json")
	}
	// From here on the syntax is known to be valid: the scans below need
	// not check for the end of data.
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errors.New("not a json object")
	}
	var buf [16][]byte
	names := buf[:0]
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		end := endOfString(data, i)
		name, ok := unquote(data[i:end])
		if !ok {
			return errors.New("invalid json")
		}
		for _, n := range names {
			if bytes.Equal(n, name) {
				return errors.New("duplicate member " + quote(string(name)))
			}
		}
		if len(names) == maxMembers {
			return errors.New("too many members")
		}
		names = append(names, name)
		i = skipSpace(data, end) + 1 // past ':'
		i = skipSpace(data, i)
		end = endOfValue(data, i)
		if err := fn(name, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // past ','
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// endOfString returns the index just past the string starting at data[i].
func endOfString(data []byte, i int) int {
	for i++; data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// endOfValue returns the index just past the value starting at data[i].
func endOfValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return endOfString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = endOfString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(data) { // a number, true, false or null
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

// unquote returns the contents of raw, a JSON string with its quotes: a
// subslice when there is nothing to unescape.
func unquote(raw []byte) ([]byte, bool) {
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return in, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// str reads a JSON string; null and every other type are refused
// (json.Unmarshal would leave a string empty for null).
func str(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	s, ok := unquote(raw)
	return string(s), ok
}

// strs reads an array of strings, or with one set a lone string too. raw
// is part of what members was given, so valid JSON.
func strs(raw []byte, one bool) ([]string, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		if !one {
			return nil, false
		}
		s, ok := str(raw)
		return []string{s}, ok
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	out := []string{} // an empty array is present, unlike a missing one
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return out, true
	}
	for {
		end := endOfValue(raw, i)
		s, ok := str(raw[i:end])
		if !ok {
			return nil, false
		}
		out = append(out, s)
		i = skipSpace(raw, end)
		if raw[i] == ']' {
			return out, true
		}
		i = skipSpace(raw, i+1) // past ','
	}
}

// maxNumericDate is 9999-12-31T23:59:59Z: later dates are not dates.
const maxNumericDate = 253402300799

// date reads a NumericDate: seconds since the epoch, possibly fractional.
// Quoted numbers, negative and absurdly large values are refused.
func date(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !(f >= 0 && f <= maxNumericDate) { // also refuses NaN
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
