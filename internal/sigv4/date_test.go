package sigv4

import (
	"testing"
	"time"
)

// checkAmzDate requires parseAmzDate to give time.Parse's answer for s:
// the same verdict and, when accepted, the identical Time value.
func checkAmzDate(t *testing.T, s string) {
	t.Helper()
	want, err := time.Parse(amzDateFormat, s)
	got, ok := parseAmzDate(s)
	if ok != (err == nil) {
		t.Fatalf("parseAmzDate(%q) ok = %v, time.Parse error = %v", s, ok, err)
	}
	if ok && got != want {
		t.Fatalf("parseAmzDate(%q) = %#v, time.Parse = %#v", s, got, want)
	}
}

func TestParseAmzDate(t *testing.T) {
	for _, s := range []string{
		"20260101T000000Z", "20151231T235959Z", "00010101T000000Z", "00000101T000000Z", "99991231T235959Z",
		"20240229T120000Z", "20230229T120000Z", "21000229T120000Z", "20000229T120000Z", "00000229T000000Z",
		"20260431T000000Z", "20260430T000000Z", "20261131T000000Z", "20260631T000000Z", "20260931T000000Z",
		"20260001T000000Z", "20261301T000000Z", "20260100T000000Z", "20260132T000000Z",
		"20260101T240000Z", "20260101T236000Z", "20260101T235960Z", "20260101T230000Z",
		"", "2026", "20260101", "20260101T000000", "20260101T000000z", "20260101t000000Z", "20260101 000000Z",
		"20260101T000000ZZ", "+0260101T000000Z", "-0260101T000000Z", "2026-101T000000Z", "202601 1T000000Z",
		"20260101T0 0000Z", "20260101T00000 Z", "2026010aT000000Z", "2026\x0001T000000Z", "２026010T000000Z",
		"20260101T000000.5Z", "20260101T000000,5Z", "20260101T000000.123456789Z", "20260101T000000.1234567891234Z",
		"20260101T000000.Z", "20260101T000000.5", "20260101T9000000Z", "20260101T900000Z", "2026101T000000Z",
		"20260101T000000+0000", "Thu, 01 Jan 2026 00:00:00 GMT",
	} {
		checkAmzDate(t, s)
	}
}

// TestParseAmzDateExhaustive walks each field through and past its range,
// in leap and common years, and tries every byte in every position of a
// valid date.
func TestParseAmzDateExhaustive(t *testing.T) {
	for _, year := range []int{0, 1, 4, 100, 400, 1900, 1970, 1999, 2000, 2024, 2025, 2026, 2100, 9999} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				checkAmzDate(t, pad(year, 4)+pad(month, 2)+pad(day, 2)+"T235959Z")
			}
		}
	}
	for hour := 0; hour <= 99; hour++ {
		for minute := 0; minute <= 99; minute += 3 {
			checkAmzDate(t, "20260101T"+pad(hour, 2)+pad(minute, 2)+pad((hour+minute)%100, 2)+"Z")
		}
	}
	valid := []byte("20240229T235959Z")
	for i := range valid {
		for c := 0; c < 256; c++ {
			b := append([]byte(nil), valid...)
			b[i] = byte(c)
			checkAmzDate(t, string(b))
		}
	}
}

func pad(n, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

// FuzzParseAmzDate holds the hand-written parser to time.Parse.
func FuzzParseAmzDate(f *testing.F) {
	for _, s := range []string{
		"20260101T000000Z", "20240229T235959Z", "20230229T000000Z", "20260101T240000Z", "20260101T000000.5Z",
		"00000229T000000Z", "2026010+T000000Z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAmzDate(t, s)
	})
}
