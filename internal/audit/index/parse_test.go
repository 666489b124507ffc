package index

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sameEntry reports how a and b differ, "" when they do not.
func sameEntry(a, b entry) string {
	switch {
	case a.seq != b.seq:
		return "seq"
	case !bytes.Equal(a.record, b.record):
		return "record"
	case !a.time.Equal(b.time):
		return "time"
	}
	for i := range a.fields {
		if !bytes.Equal(a.fields[i], b.fields[i]) {
			return "field " + string(rune('0'+i))
		}
	}
	return ""
}

// checkParse holds parseLine to encoding/json's reading of line, and
// lineRecord to the sequence number and record that parseLine reads.
func checkParse(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	got, ok := parseLine(line)
	want, wantOK := lineJSON(line)
	if ok != wantOK {
		t.Fatalf("%q: parsed %v, encoding/json %v", line, ok, wantOK)
	}
	if d := sameEntry(got, want); ok && d != "" {
		t.Fatalf("%q: %s differs from encoding/json's:\n%+v\n%+v", line, d, got, want)
	}
	// lineRecord reads the sequence number and record as encoding/json
	// does, whatever the record's fields.
	var l struct {
		Seq    uint64          `json:"seq"`
		Record json.RawMessage `json:"record"`
	}
	jsonOK := json.Unmarshal(line, &l) == nil && len(l.Record) > 0
	seq, rec, recOK := lineRecord(line)
	if recOK != jsonOK || recOK && (seq != l.Seq || !bytes.Equal(rec, l.Record)) {
		t.Fatalf("%q: lineRecord %v %d %q, encoding/json %v %d %q", line, recOK, seq, rec, jsonOK, l.Seq, l.Record)
	}
	if s, r, split := splitLine(line); split {
		e := entry{seq: s, record: r}
		return scanRecord(r, &e)
	}
	return false
}

const hashes = `"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"1111111111111111111111111111111111111111111111111111111111111111"`

// writerLine builds a line of the writer's layout around rec.
func writerLine(seq string, rec string) []byte {
	return []byte(`{"seq":` + seq + `,` + hashes + `,"record":` + rec + `}`)
}

// TestParseLine: what the scanner reads, it reads as encoding/json does,
// and what it could read otherwise it leaves to encoding/json.
func TestParseLine(t *testing.T) {
	const rec = `{"userIdentity":{"type":"IAMUser","arn":"arn:p"},"eventTime":"2026-11-01T00:00:00.5Z","eventName":"GET",` +
		`"sourceIPAddress":"10.0.0.1","errorCode":"AccessDenied","eventID":"e1","resources":[{"ARN":"arn:r"},{"ARN":"arn:s"}],` +
		`"ztgate":{"decision":"explicitDeny","action":"http:GET","device":{"id":"d1","managed":true},"category":"decision"}}`
	cases := []struct {
		name string
		line string
		ok   bool // a record, for encoding/json
		fast bool // read by the scanner
	}{
		{"writer layout", string(writerLine("42", rec)), true, true},
		{"record null", string(writerLine("1", "null")), true, true},
		{"empty record", string(writerLine("1", "{}")), true, true},
		{"fields null", string(writerLine("1", `{"userIdentity":null,"eventTime":null,"eventName":null,"resources":null,"ztgate":null}`)), true, true},
		{"escapes in values", string(writerLine("1", `{"userIdentity":{"arn":"arn:a\u0026b\"c"},"eventName":"G\/ET","ztgate":{"action":"\u00e9"}}`)), true, true},
		{"invalid UTF-8 in a value", string(writerLine("1", "{\"eventName\":\"a\xffb\"}")), true, true},
		{"resource null", string(writerLine("1", `{"resources":[null,{"ARN":"arn:s"}]}`)), true, true},
		{"numbers and literals", string(writerLine("1", `{"x":[0,-1.5e+3,2E-2,true,false,null,{"y":[]}],"eventName":"GET"}`)), true, true},
		{"zero seq", string(writerLine("0", "{}")), true, true},
		{"largest seq the scanner reads", string(writerLine("9999999999999999999", "{}")), true, true},
		{"largest seq", string(writerLine("18446744073709551615", "{}")), true, false},
		{"seq too large", string(writerLine("18446744073709551616", "{}")), false, false},
		{"leading zero", string(writerLine("01", "{}")), false, false},
		{"key in another case", string(writerLine("1", `{"EventName":"GET"}`)), true, false},
		{"nested key in another case", string(writerLine("1", `{"ztgate":{"Decision":"allowed"}}`)), true, false},
		{"ARN as arn in a resource", string(writerLine("1", `{"resources":[{"arn":"arn:r"}]}`)), true, false},
		{"escaped key", string(writerLine("1", `{"event\u004eame":"GET"}`)), true, false},
		{"long s", string(writerLine("1", "{\"\u017fourceIPAddress\":\"10.0.0.1\"}")), true, false},
		{"key twice", string(writerLine("1", `{"eventName":"GET","eventName":"PUT"}`)), true, false},
		{"object twice", string(writerLine("1", `{"ztgate":{"decision":"allowed"},"ztgate":{"action":"x"}}`)), true, false},
		{"whitespace", string(writerLine("1", `{"eventName": "GET"}`)), true, false},
		{"another layout", `{"record":{"eventName":"GET"},"seq":7}`, true, false},
		{"field of another type", string(writerLine("1", `{"eventName":5}`)), false, false},
		{"time not a time", string(writerLine("1", `{"eventTime":"yesterday"}`)), false, false},
		{"time a number", string(writerLine("1", `{"eventTime":5}`)), false, false},
		{"resource not an object", string(writerLine("1", `{"resources":[{"ARN":"a"},5]}`)), false, false},
		{"record a string", string(writerLine("1", `"x"`)), false, false},
		{"record missing", `{"seq":1}`, false, false},
		{"control character", string(writerLine("1", "{\"x\":\"a\tb\"}")), false, false},
		{"bad escape", string(writerLine("1", `{"x":"\q"}`)), false, false},
		{"bad number", string(writerLine("1", `{"x":01}`)), false, false},
		{"truncated", string(writerLine("1", `{"x":"abc`)), false, false},
		{"trailing garbage", string(writerLine("1", "{}")) + "x", false, false},
		{"deep", string(writerLine("1", `{"x":`+strings.Repeat("[", 200)+strings.Repeat("]", 200)+`}`)), true, false},
		{"empty", "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast := checkParse(t, []byte(c.line))
			if _, ok := parseLine([]byte(c.line)); ok != c.ok || fast != c.fast {
				t.Errorf("parsed %v, by the scanner %v; want %v, %v", ok, fast, c.ok, c.fast)
			}
		})
	}
	// The fields read from the writer's layout.
	e, _ := parseLine(writerLine("42", rec))
	want := [nFields]string{"arn:p", "http:GET", "arn:r", "explicitDeny", "10.0.0.1", "d1", "AccessDenied", "e1"}
	for i, w := range want {
		if string(e.fields[i]) != w {
			t.Errorf("field %d: %q, want %q", i, e.fields[i], w)
		}
	}
	if e.seq != 42 || !e.time.Equal(time.Date(2026, 11, 1, 0, 0, 0, 5e8, time.UTC)) {
		t.Errorf("seq %d, time %v", e.seq, e.time)
	}
}

// writerLines returns the lines of a log of gateway records, newlines cut.
func writerLines(t testing.TB, n int) [][]byte {
	t.Helper()
	dir := writeGatewayLog(t, n)
	segs, _ := filepath.Glob(filepath.Join(dir, "node-1", "segments", "*.jsonl"))
	var lines [][]byte
	for _, seg := range segs {
		f, err := os.Open(seg)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
		f.Close()
	}
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	return lines
}

// TestParseWriterLines: the scanner reads every line the writer writes,
// without allocating.
func TestParseWriterLines(t *testing.T) {
	lines := writerLines(t, 300)
	for _, l := range lines {
		if !checkParse(t, l) {
			t.Fatalf("the scanner left a writer's line to encoding/json: %s", l)
		}
	}
	if a := testing.AllocsPerRun(100, func() { parseLine(lines[7]) }); a != 0 {
		t.Errorf("parseLine allocates %v times", a)
	}
}

// TestPlainPrefix holds the eight-bytes-at-a-time search to a byte loop,
// with each kind of stop at each position of a word.
func TestPlainPrefix(t *testing.T) {
	for _, stop := range []byte{'"', '\\', 0, 0x1f, '\n'} {
		for n := 0; n < 40; n++ {
			b := bytes.Repeat([]byte{'a', 0x7f, 0x80, 0xff, ' ', '!', '#', '['}, 6)[:n]
			if got := plainPrefix(b); got != n {
				t.Fatalf("no stop in %q: %d", b, got)
			}
			b = append(b, stop, 'x', '"')
			if got := plainPrefix(b); got != n {
				t.Fatalf("stop %q after %d bytes: %d", stop, n, got)
			}
		}
	}
}

// FuzzParseLine holds the scanner to encoding/json on any line; its seeds
// (testdata/fuzz/FuzzParseLine) are a writer's line and lines the scanner
// leaves to encoding/json.
func FuzzParseLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParse(t, b)
		// A record alone, as RowOf reads it.
		e := entry{record: b}
		if scanRecord(b, &e) {
			want, err := recordJSON(0, b)
			if err != nil {
				t.Fatalf("%q: scanned, but encoding/json: %v", b, err)
			}
			if d := sameEntry(e, want); d != "" {
				t.Fatalf("%q: %s differs from encoding/json's", b, d)
			}
		}
	})
}

// BenchmarkParseLine measures reading a gateway record's queried fields.
func BenchmarkParseLine(b *testing.B) {
	lines := writerLines(b, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := parseLine(lines[i%len(lines)]); !ok {
			b.Fatal("not parsed")
		}
		i++
	}
}

// TestActionOf: a record without ztgate's action is queried by its event's
// name qualified by its service, as IAM spells actions; both parsers agree.
func TestActionOf(t *testing.T) {
	for rec, want := range map[string]string{
		`{"eventSource":"sts.ztgate","eventName":"AssumeRole"}`:                             "sts:AssumeRole",
		`{"eventName":"CreateUser","eventSource":"iam.ztgate"}`:                             "iam:CreateUser",
		`{"eventSource":"gateway.ztgate","eventName":"GET"}`:                                "http:GET",
		`{"eventSource":"gateway.ztgate","eventName":"GET","ztgate":{"action":"http:GET"}}`: "http:GET",
		`{"eventSource":"signin.ztgate","eventName":"ConsoleLogin","ztgate":{"action":""}}`: "signin:ConsoleLogin",
		`{"eventName":"Bare"}`: "Bare",
		`{"eventSource":"sts.ztgate","eventName":"sts:Already"}`: "sts:Already",
	} {
		var e entry
		if !scanRecord([]byte(rec), &e) || string(e.fields[fAction]) != want {
			t.Errorf("scanRecord %s: %q, want %q", rec, e.fields[fAction], want)
		}
		j, err := recordJSON(1, json.RawMessage(rec))
		if err != nil || string(j.fields[fAction]) != want {
			t.Errorf("recordJSON %s: %q (%v), want %q", rec, j.fields[fAction], err, want)
		}
	}
}
