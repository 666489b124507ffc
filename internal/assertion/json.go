package assertion

import (
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
