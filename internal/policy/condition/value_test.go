package condition

import (
	"net/netip"
	"testing"
	"time"
)

var addrSamples = []string{
	"", "1", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
	"1.2.3.04", "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4%eth0", "1.2.3.-4", "1.2.3.4 ",
	"::", "::1", "1::", "1::2", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::",
	"::2:3:4:5:6:7:8", "1:2:3:4:5:6:7::8", "1::2::3", ":::", "1:::2", ":1::", "1:", ":1",
	"12345::", "0x1::", "g::", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
	"1:2:3:4:5:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::256.1.1.1",
	"fe80::1%eth0", "fe80::1%", "fe80::1%%", "%eth0", "::%1", "2001:DB8::AbCd",
	"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::8a2e:370:7334:1:2",
	"1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "abcdeft", "123456789", "1.2.3.4:80", "[::1]",
}

// parseAddr must read exactly what netip.ParseAddr reads.
func checkAddr(t *testing.T, s string) {
	want, err := netip.ParseAddr(s)
	got, zoned, ok := parseAddr(s)
	if ok != (err == nil) {
		t.Fatalf("parseAddr(%q) ok = %v, netip says %v", s, ok, err)
	}
	if !ok {
		return
	}
	if zoned != (want.Zone() != "") || got != want.WithZone("") {
		t.Fatalf("parseAddr(%q) = %v zoned %v, netip says %v", s, got, zoned, want)
	}
}

func TestParseAddr(t *testing.T) {
	for _, s := range addrSamples {
		checkAddr(t, s)
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range addrSamples {
		f.Add(s)
	}
	f.Fuzz(checkAddr)
}

func TestParseDate(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tt := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-01-01", utc("2024-01-01T00:00:00Z"), true},
		{"2024-07", utc("2024-07-01T00:00:00Z"), true},
		{"2024-01-01T12:34Z", utc("2024-01-01T12:34:00Z"), true},
		{"2024-01-01T12:34:56Z", utc("2024-01-01T12:34:56Z"), true},
		{"2024-01-01T12:34:56.789Z", utc("2024-01-01T12:34:56.789Z"), true},
		{"2024-01-01T12:34:56.123456789123Z", utc("2024-01-01T12:34:56.123456789Z"), true},
		{"2024-01-01T12:34:56+01:30", utc("2024-01-01T11:04:56Z"), true},
		{"2024-01-01T12:34:56-0130", utc("2024-01-01T14:04:56Z"), true},
		{"2024-01-01T12:34:56", utc("2024-01-01T12:34:56Z"), true},
		{"1704067200", utc("2024-01-01T00:00:00Z"), true},
		{"1704067200123", utc("2024-01-01T00:00:00.123Z"), true},
		{"99999999999", time.Unix(99999999999, 0).UTC(), true},
		{"100000000000", time.UnixMilli(100000000000).UTC(), true},
		{"-1", utc("1969-12-31T23:59:59Z"), true},
		{"2024", time.Unix(2024, 0).UTC(), true},
		{"2024-1-1", time.Time{}, false},
		{"2024-01-01T", time.Time{}, false},
		{"2024-01-01T1:00Z", time.Time{}, false},
		{"2024-01-01T10:00:0Z", time.Time{}, false},
		{"2024-01-01T10:00:00ZZ", time.Time{}, false},
		{"2024-01-01T10:00:00+1", time.Time{}, false},
		{"2024-01-01T10:00:00+01:3", time.Time{}, false},
		{"2024-01-01T10:00:00+01-30", time.Time{}, false},
		{"2024-01-01 10:00:00Z", time.Time{}, false},
		{"2024-02-30", time.Time{}, false},
		{"2024-00-10", time.Time{}, false},
		{"2024-01-00", time.Time{}, false},
		{"2024-01-01T10:60Z", time.Time{}, false},
		{"2024-01-01T10:00:60Z", time.Time{}, false},
		{"1234567890123456789", time.Time{}, false},
		{"-", time.Time{}, false},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	} {
		got, ok := parseDate(tt.in)
		if ok != tt.ok || ok && !got.Equal(tt.want) {
			t.Errorf("parseDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecimal(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		cmp  int
	}{
		{"1", "1", 0}, {"1", "2", -1}, {"10", "9", 1}, {"-10", "9", -1}, {"-10", "-9", -1},
		{"0.1", "0.10", 0}, {"0.09", "0.1", -1}, {"-0", "0", 0}, {"+0.0", "-.0", 0},
		{"1.5", "1.25", 1}, {"-1.5", "-1.25", -1}, {"00012", "12.000", 0},
		{"99999999999999999999", "100000000000000000000", -1},
	} {
		a, okA := parseDecimal(tt.a)
		b, okB := parseDecimal(tt.b)
		if !okA || !okB {
			t.Fatalf("parseDecimal(%q, %q): %v %v", tt.a, tt.b, okA, okB)
		}
		if got := a.cmp(b); got != tt.cmp {
			t.Errorf("cmp(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.cmp)
		}
		if got := b.cmp(a); got != -tt.cmp {
			t.Errorf("cmp(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.cmp)
		}
	}
	for _, s := range []string{"", "+", "-", ".", "+.", "1e3", "0x10", "1.2.3", " 1", "1 ", "١"} {
		if _, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) ok", s)
		}
	}
}
