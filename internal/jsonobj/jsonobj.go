// Package jsonobj reads the JSON objects of untrusted tokens strictly and
// cheaply: member names match exactly and a repeated member is refused,
// so that {"iss":"a","ISS":"b"} or a doubled "iss" cannot mean one thing
// here and another to a different parser (encoding/json matches names
// case-insensitively and lets the last duplicate win); and the bytes are
// walked once after json.Valid has vouched for their syntax, allocating
// only the strings returned (json.Decoder's token API allocated some 200
// times per token). The assertion and web identity verifiers share it.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxMembers bounds the members of an object (which keeps the duplicate
// check's quadratic scan cheap); real tokens have a few dozen.
const MaxMembers = 256

// Object calls member for each member of the JSON object in data, with the
// member's name (unescaped) and raw value. It refuses anything but one
// object of valid JSON and UTF-8, and duplicate names.
func Object(data []byte, member func(name, raw []byte) error) error {
	if !utf8.Valid(data) {
		return errors.New("invalid utf-8")
	}
	if !json.Valid(data) {
		return errors.New("invalid json")
	}
	// From here on the syntax is known to be valid: the scans below need
	// not check for the end of data.
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errors.New("not a json object")
	}
	var buf [24][]byte // enough for most tokens without allocating
	names := buf[:0]
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		end := endOfString(data, i)
		name, err := unquote(data[i:end])
		if err != nil {
			return errors.New("invalid json")
		}
		for _, n := range names {
			if bytes.Equal(n, name) {
				return fmt.Errorf("duplicate member %s", quote(name))
			}
		}
		if len(names) == MaxMembers {
			return fmt.Errorf("more than %d members", MaxMembers)
		}
		names = append(names, name)
		i = skipSpace(data, end) + 1 // past ':'
		i = skipSpace(data, i)
		end = endOfValue(data, i)
		if err := member(name, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // past ','
	}
}

// Array calls elem for each element of the JSON array raw, which must be
// valid JSON (part of what Object was given).
func Array(raw []byte, elem func(raw []byte) bool) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return true
	}
	for {
		end := endOfValue(raw, i)
		if !elem(raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if raw[i] == ']' {
			return true
		}
		i = skipSpace(raw, i+1)
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

// unquote returns the contents of a JSON string, raw with its quotes:
// a subslice when there is nothing to unescape.
func unquote(raw []byte) ([]byte, error) {
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return in, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// String reads a string; null or any other type is refused (json.Unmarshal
// would silently leave a string empty for null).
func String(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	s, err := unquote(raw)
	return string(s), err == nil
}

// Strings reads an array of strings, or a lone string when one is true.
func Strings(raw []byte, one bool) ([]string, bool) {
	if s, ok := String(raw); ok && one {
		return []string{s}, true
	}
	out := []string{} // an empty array is present, unlike a missing one
	ok := Array(raw, func(raw []byte) bool {
		s, ok := String(raw)
		out = append(out, s)
		return ok
	})
	return out, ok
}

// MaxNumericDate is 9999-12-31T23:59:59Z: later dates are not dates.
const MaxNumericDate = 253402300799

// Date reads a NumericDate: seconds since the epoch, possibly fractional.
// Quoted numbers, negative and absurdly large values are refused.
func Date(raw []byte) (time.Time, bool) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || !(f >= 0 && f <= MaxNumericDate) { // also refuses NaN
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// quote shows an untrusted name in an error: quoted, escaped, and cut to
// a length that keeps messages readable.
func quote(name []byte) string {
	const max = 64
	if len(name) > max {
		return strconv.Quote(string(name[:max])) + "..."
	}
	return strconv.Quote(string(name))
}
