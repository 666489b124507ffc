package policy

import (
	"strconv"
	"strings"
)

// operators are AWS's condition operators. Names are case-sensitive, as in
// AWS.
var operators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true,
	"StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true,
	"NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true,
	"DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool":         true,
	"BinaryEquals": true,
	"IpAddress":    true, "NotIpAddress": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"Null": true,
}

// operatorBase strips a condition operator's ForAnyValue:/ForAllValues:
// prefix and IfExists suffix and reports whether what is left is an
// operator. AWS documents that Null takes no IfExists.
func operatorBase(op string) (string, bool) {
	if rest, ok := strings.CutPrefix(op, "ForAnyValue:"); ok {
		op = rest
	} else if rest, ok := strings.CutPrefix(op, "ForAllValues:"); ok {
		op = rest
	}
	base, ifExists := strings.CutSuffix(op, "IfExists")
	if !operators[base] || ifExists && base == "Null" {
		return "", false
	}
	return base, true
}

// legacyDate reports whether AWS's older policy parser, which still runs,
// accepts a Date operator's value: an ISO 8601 date and time in its loose
// reading, or a count of seconds from 0 to 2^63-1. Its quirks are AWS's.
func legacyDate(v string) bool {
	lower := strings.ToLower(v)
	if !strings.Contains(lower, "t") && !strings.Contains(v, "-") {
		n, ok := integer(v)
		return ok && n >= 0
	}
	date, clock, _ := strings.Cut(lower, "t")
	negative := strings.HasPrefix(date, "-")
	parts := strings.Split(strings.TrimPrefix(date, "-"), "-")
	year := parts[0]
	if negative {
		year = "-" + year
	}
	if !inRange(year, -292275054, 292278993) ||
		len(parts) > 1 && !inRange(parts[1], 1, 12) ||
		len(parts) > 2 && !inRange(parts[2], 1, 31) ||
		len(parts) > 3 {
		return false
	}
	t := strings.Split(clock, ":")
	if t[0] != "" && !inRange(t[0], 0, 23) ||
		len(t) > 1 && !inRange(t[1], 0, 59) {
		return false
	}
	if len(t) < 3 {
		return true
	}
	seconds := t[2]
	if s, after, ok := strings.Cut(t[2], "z"); ok {
		if after != "" {
			return false
		}
		seconds = s
	} else if s, zone, ok := strings.Cut(t[2], "+"); ok {
		seconds = s
		hours, minutes, hasMinutes := strings.Cut(zone, ":")
		if len(hours) != 2 || !inRange(hours, 0, 23) ||
			hasMinutes && (len(minutes) != 2 || !inRange(minutes, 0, 59)) {
			return false
		}
	}
	whole, fraction, hasFraction := strings.Cut(seconds, ".")
	return inRange(whole, 0, 59) && (!hasFraction || inRange(fraction, 0, 999999999))
}

// integer reads an optionally signed decimal integer.
func integer(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func inRange(s string, lo, hi int64) bool {
	n, ok := integer(s)
	return ok && n >= lo && n <= hi
}
