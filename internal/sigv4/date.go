package sigv4

import "time"

// parseAmzDate parses an X-Amz-Date value with exactly the answers of
// time.Parse(amzDateFormat, s), at a fraction of its cost: every signed
// request carries one, and time.Parse's general layout interpreter was 7%
// of a verification.
//
// A 16-byte value is parsed here. Of any other length time.Parse accepts
// only values with a fractional second after the seconds
// ("20260101T000000.5Z"), so those lengths go to time.Parse itself; real
// clients never take that path. FuzzParseAmzDate holds the two to the
// same answers.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateFormat) {
		t, err := time.Parse(amzDateFormat, s)
		return t, err == nil
	}
	if s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	century, ok1 := twoDigits(s, 0)
	yy, ok2 := twoDigits(s, 2)
	month, ok3 := twoDigits(s, 4)
	day, ok4 := twoDigits(s, 6)
	hour, ok5 := twoDigits(s, 9)
	minute, ok6 := twoDigits(s, 11)
	sec, ok7 := twoDigits(s, 13)
	year := century*100 + yy
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// time.Date would normalise fields already known to be in range;
	// counting the seconds directly gives the same Time for less.
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, 0).UTC(), true
}

// daysSinceEpoch counts the days from 1970-01-01 to a valid proleptic
// Gregorian date, in whole 400-year eras from a year starting on 1 March
// so that leap days fall at the end of a year (the civil-from-days
// algorithm of Howard Hinnant's "chrono-Compatible Low-Level Date
// Algorithms", for years 0 to 9999).
func daysSinceEpoch(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	era := (y + 400) / 400 // year -1 belongs to era -1; +400 keeps the division flooring
	era--
	yoe := y - era*400 // [0, 399]
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// twoDigits parses the two ASCII decimal digits at s[i:i+2].
func twoDigits(s string, i int) (int, bool) {
	hi, lo := s[i]-'0', s[i+1]-'0' // bytes below '0' wrap past 9
	return int(hi)*10 + int(lo), hi <= 9 && lo <= 9
}

// daysIn returns the number of days in month (1-12) of the proleptic
// Gregorian year, as time.Parse validates the day.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
