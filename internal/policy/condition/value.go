package condition

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strings"
	"time"
)

// The parsers here read request values on the decision path, so they do
// not allocate, not even to report an error (strconv, time.Parse and
// netip.ParseAddr all build an error value on failure).

// decimal is a number as written, normalized for exact comparison: no
// leading zeros in the integer part, no trailing zeros in the fraction,
// and zero is never negative.
type decimal struct {
	neg         bool
	whole, frac string
}

// parseDecimal reads [+-]digits[.digits] (either side of the point may be
// empty, not both).
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.whole = s[start:i]
	digits := len(d.whole)
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		d.frac = s[start:i]
		digits += len(d.frac)
	}
	if i != len(s) || digits == 0 {
		return decimal{}, false
	}
	d.whole = strings.TrimLeft(d.whole, "0")
	d.frac = strings.TrimRight(d.frac, "0")
	if d.whole == "" && d.frac == "" {
		d.neg = false
	}
	return d, true
}

// cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a decimal) cmp(b decimal) int {
	if a.neg != b.neg {
		if a.neg {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case len(a.whole) != len(b.whole):
		c = sign(len(a.whole) - len(b.whole))
	case a.whole != b.whole:
		c = strings.Compare(a.whole, b.whole)
	default:
		c = strings.Compare(a.frac, b.frac)
	}
	if a.neg {
		return -c
	}
	return c
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// epochMillis is where an integer date stops being read as epoch seconds
// and starts being read as epoch milliseconds: 10^11 seconds is the year
// 5138, 10^11 milliseconds is March 1973. AWS documents epoch seconds
// (aws:EpochTime); some tools write milliseconds; no real date is
// ambiguous.
const epochMillis = 100_000_000_000

// parseDate reads a date: an integer epoch or the W3C profile of ISO 8601.
func parseDate(s string) (time.Time, bool) {
	if n, ok := parseEpoch(s); ok {
		if n >= epochMillis || n <= -epochMillis {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	return parseISO(s)
}

// parseEpoch reads an optionally negative integer of at most 18 digits.
func parseEpoch(s string) (int64, bool) {
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseISO reads YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fraction]]
// followed by Z, ±hh:mm, ±hhmm, ±hh or nothing (UTC).
func parseISO(s string) (time.Time, bool) {
	var (
		year, month, day     = 0, 0, 1
		hour, minute, second = 0, 0, 0
		nsec                 = 0
		offset               = 0 // seconds east of UTC
		ok                   bool
	)
	if len(s) < 7 || s[4] != '-' {
		return time.Time{}, false
	}
	if year, ok = num(s[0:4]); !ok {
		return time.Time{}, false
	}
	if month, ok = num(s[5:7]); !ok {
		return time.Time{}, false
	}
	s = s[7:]
	if s != "" {
		if len(s) < 3 || s[0] != '-' {
			return time.Time{}, false
		}
		if day, ok = num(s[1:3]); !ok {
			return time.Time{}, false
		}
		s = s[3:]
	}
	if s != "" {
		if len(s) < 6 || (s[0] != 'T' && s[0] != 't') || s[3] != ':' {
			return time.Time{}, false
		}
		if hour, ok = num(s[1:3]); !ok {
			return time.Time{}, false
		}
		if minute, ok = num(s[4:6]); !ok {
			return time.Time{}, false
		}
		s = s[6:]
		if s != "" && s[0] == ':' {
			if len(s) < 3 {
				return time.Time{}, false
			}
			if second, ok = num(s[1:3]); !ok {
				return time.Time{}, false
			}
			s = s[3:]
			if s != "" && s[0] == '.' {
				i := 1
				for i < len(s) && isDigit(s[i]) {
					if i <= 9 {
						nsec = nsec*10 + int(s[i]-'0')
					}
					i++
				}
				if i == 1 {
					return time.Time{}, false
				}
				for n := i; n <= 9; n++ {
					nsec *= 10
				}
				s = s[i:]
			}
		}
		if offset, ok = parseZone(s); !ok {
			return time.Time{}, false
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31 April, 29 February of a common year
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}

func parseZone(s string) (int, bool) {
	switch {
	case s == "":
		return 0, true
	case s == "Z" || s == "z":
		return 0, true
	case s[0] != '+' && s[0] != '-':
		return 0, false
	}
	sgn := 1
	if s[0] == '-' {
		sgn = -1
	}
	s = s[1:]
	var h, m int
	var ok bool
	switch len(s) {
	case 2: // hh
		h, ok = num(s)
	case 4: // hhmm
		if h, ok = num(s[:2]); ok {
			m, ok = num(s[2:])
		}
	case 5: // hh:mm
		if s[2] != ':' {
			return 0, false
		}
		if h, ok = num(s[:2]); ok {
			m, ok = num(s[3:])
		}
	}
	if !ok || h > 23 || m > 59 {
		return 0, false
	}
	return sgn * (h*3600 + m*60), true
}

// num reads a fixed-width run of digits.
func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseBool reads true or false in any case.
func parseBool(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseAddr reads an IPv4 or IPv6 address as netip.ParseAddr does, zones
// included, without allocating. It reports a zone separately rather than
// attach it (which interns the zone's name): an address with a zone is
// never inside a block.
func parseAddr(s string) (ip netip.Addr, zoned, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.':
			a, ok := parseV4(s)
			return netip.AddrFrom4(a), false, ok
		case ':':
			return parseV6(s)
		case '%':
			return netip.Addr{}, false, false
		}
	}
	return netip.Addr{}, false, false
}

// parseV4 reads a dotted quad: four decimal fields of 0 to 255, without
// leading zeros.
func parseV4(s string) (ip [4]byte, ok bool) {
	field, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			if digits == 1 && val == 0 {
				return ip, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return ip, false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return ip, false
			}
			ip[field] = byte(val)
			field++
			val, digits = 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(val)
	return ip, true
}

// parseV6 reads an IPv6 address: groups of up to four hex digits, at most
// one "::", an optional trailing dotted quad and an optional %zone.
func parseV6(s string) (netip.Addr, bool, bool) {
	zoned := false
	if i := strings.IndexByte(s, '%'); i >= 0 {
		if i == len(s)-1 {
			return netip.Addr{}, false, false
		}
		s, zoned = s[:i], true
	}
	var ip [16]byte
	ellipsis := -1 // where "::" stands, in bytes
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if s == "" {
			return netip.AddrFrom16(ip), zoned, true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			v, isHex := hexVal(s[off])
			if !isHex {
				break
			}
			if off > 3 {
				return netip.Addr{}, false, false // more than four digits
			}
			acc = acc<<4 + v
		}
		if off == 0 {
			return netip.Addr{}, false, false
		}
		if off < len(s) && s[off] == '.' {
			// A trailing dotted quad fills the last four bytes.
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return netip.Addr{}, false, false
			}
			v4, ok := parseV4(s)
			if !ok {
				return netip.Addr{}, false, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = ""
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false, false // a second "::"
			}
			ellipsis = i
			s = s[1:]
			if s == "" {
				break
			}
		}
		if i == 16 {
			return netip.Addr{}, false, false
		}
	}
	if s != "" {
		return netip.Addr{}, false, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), zoned, true
}

func hexVal(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// parsePrefix reads a policy's IP value: a CIDR block or a single address.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// decodeBase64 reads a policy's binary value: standard base64, padded or
// not.
func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// equalBase64 reports whether s is the base64 encoding (padded or not) of
// want. It decodes four characters at a time into a buffer on the stack.
func equalBase64(s string, want []byte) bool {
	var in [4]byte
	var out [3]byte
	pos := 0
	for i := 0; i < len(s); i += 4 {
		var n int
		var err error
		if rest := len(s) - i; rest >= 4 {
			copy(in[:], s[i:i+4])
			n, err = base64.StdEncoding.Decode(out[:], in[:])
			if err == nil && n < 3 && rest > 4 {
				return false // padding before the end
			}
		} else {
			copy(in[:], s[i:])
			n, err = base64.RawStdEncoding.Decode(out[:], in[:rest])
		}
		if err != nil || pos+n > len(want) || !bytes.Equal(out[:n], want[pos:pos+n]) {
			return false
		}
		pos += n
	}
	return pos == len(want)
}
