package policy

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata")

// golden compares got with the golden file beside a test case, or rewrites
// it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func cases(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases in %s (%v)", dir, err)
	}
	return files
}

// TestParse parses each testdata/parse/*.json and compares the tree, with
// the position of every element, or the errors with theirs, to the golden
// file.
func TestParse(t *testing.T) {
	for _, file := range cases(t, "testdata/parse") {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(data)
			var got string
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("Parse error is %T, not Errors", err)
				}
				if doc != nil {
					t.Error("Parse returned a document with its errors")
				}
				got = errs.Error() + "\n"
				checkErrorPositions(t, data, errs)
			} else {
				got = dump(doc)
				if msg := checkPositions(data, doc); msg != "" {
					t.Error(msg)
				}
			}
			if strings.HasPrefix(name, "err-") != (err != nil) {
				t.Errorf("err- cases must fail and only they: error %v", err)
			}
			golden(t, strings.TrimSuffix(file, ".json")+".golden", got)
		})
	}
}

// TestCheck checks each testdata/check/KIND/*.json as that kind and compares
// the problems, one a line, to the golden file (empty for a clean policy).
func TestCheck(t *testing.T) {
	dirs, err := filepath.Glob("testdata/check/*")
	if err != nil || len(dirs) == 0 {
		t.Fatal("no testdata/check directories")
	}
	byName := map[string]Kind{}
	for k := Identity; k <= Session; k++ {
		byName[k.String()] = k
	}
	seen := map[Kind]bool{}
	for _, dir := range dirs {
		kind, ok := byName[filepath.Base(dir)]
		if !ok {
			t.Errorf("%s: not a kind", dir)
			continue
		}
		seen[kind] = true
		for _, file := range cases(t, dir) {
			name := kind.String() + "/" + strings.TrimSuffix(filepath.Base(file), ".json")
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				_, errs := Check(data, kind)
				var b strings.Builder
				for _, e := range errs {
					fmt.Fprintln(&b, e)
				}
				checkErrorPositions(t, data, errs)
				if strings.HasPrefix(filepath.Base(file), "ok") != (len(errs) == 0) {
					t.Errorf("ok* cases must be clean and only they: %v", errs)
				}
				golden(t, strings.TrimSuffix(file, ".json")+".golden", b.String())
			})
		}
	}
	for k := Identity; k <= Session; k++ {
		if !seen[k] {
			t.Errorf("no testdata/check/%s cases", k)
		}
	}
}

// dump writes a document as indented text with each element's position.
func dump(doc *Document) string {
	var b strings.Builder
	p := func(depth int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	values := func(depth int, name string, vs []Value) {
		if vs == nil {
			return
		}
		p(depth, "%s (%d)", name, len(vs))
		for _, v := range vs {
			p(depth+1, "%s %q", v.Pos, v.S)
		}
	}
	principal := func(name string, pr *Principal) {
		if pr == nil {
			return
		}
		if pr.Wildcard {
			p(1, "%s %s *", pr.Pos, name)
			return
		}
		p(1, "%s %s", pr.Pos, name)
		for _, e := range pr.Entries {
			values(2, e.TypePos.String()+" "+e.Type, e.Values)
		}
	}
	p(0, "%s document Version=%q@%s Id=%q statements@%s", doc.Pos, doc.Version, doc.VersionPos, doc.ID, doc.StatementPos)
	for _, st := range doc.Statements {
		p(0, "%s statement Sid=%q@%s Effect=%q@%s", st.Pos, st.Sid, st.SidPos, st.Effect, st.EffectPos)
		principal("Principal", st.Principal)
		principal("NotPrincipal", st.NotPrincipal)
		values(1, "Action", st.Action)
		values(1, "NotAction", st.NotAction)
		values(1, "Resource", st.Resource)
		values(1, "NotResource", st.NotResource)
		for _, c := range st.Conditions {
			values(1, fmt.Sprintf("%s %q / %s %q", c.OpPos, c.Operator, c.Pos, c.Key), c.Values)
		}
	}
	return b.String()
}

// lineStarts returns the offset of each line's first byte.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offset converts a position to a byte offset, or -1 when it lies outside
// the data (one past a line's last byte is inside: errors at end of input
// point there).
func offset(starts []int, size int, p Pos) int {
	if p.Line < 1 || p.Line > len(starts) || p.Col < 1 {
		return -1
	}
	end := size
	if p.Line < len(starts) {
		end = starts[p.Line] - 1
	}
	off := starts[p.Line-1] + p.Col - 1
	if off > end {
		return -1
	}
	return off
}

// checkPositions verifies that every element's position points at the
// first byte of its JSON text: '{' for objects, '"' for strings and keys,
// the literal's first byte for numbers and booleans.
func checkPositions(data []byte, doc *Document) string {
	starts := lineStarts(data)
	at := func(p Pos, what string, want ...byte) string {
		off := offset(starts, len(data), p)
		if off < 0 || off >= len(data) {
			return fmt.Sprintf("%s at %s: outside the document", what, p)
		}
		if bytes.IndexByte(want, data[off]) < 0 {
			return fmt.Sprintf("%s at %s: found %q, want one of %q", what, p, data[off], want)
		}
		return ""
	}
	var msgs []string
	check := func(p Pos, what string, want ...byte) {
		if m := at(p, what, want...); m != "" {
			msgs = append(msgs, m)
		}
	}
	// A condition value may be a number or boolean, kept as its literal
	// text, so it starts with a quote or with that text's first byte.
	value := func(v Value, what string) {
		want := []byte{'"'}
		if v.S != "" {
			want = append(want, v.S[0])
		}
		check(v.Pos, what, want...)
	}
	check(doc.Pos, "document", '{')
	if doc.Version != "" {
		check(doc.VersionPos, "Version", '"')
	}
	if doc.Statements != nil {
		check(doc.StatementPos, "Statement", '{', '[')
	}
	for _, st := range doc.Statements {
		check(st.Pos, "statement", '{')
		if st.SidPos != (Pos{}) {
			check(st.SidPos, "Sid", '"')
		}
		if st.EffectPos != (Pos{}) {
			check(st.EffectPos, "Effect", '"')
		}
		for _, pr := range []*Principal{st.Principal, st.NotPrincipal} {
			if pr == nil {
				continue
			}
			check(pr.Pos, "principal", '"', '{')
			for _, e := range pr.Entries {
				check(e.TypePos, "principal type", '"')
				for _, v := range e.Values {
					check(v.Pos, "principal", '"')
				}
			}
		}
		for _, vs := range [][]Value{st.Action, st.NotAction, st.Resource, st.NotResource} {
			for _, v := range vs {
				check(v.Pos, "action or resource", '"')
			}
		}
		for _, c := range st.Conditions {
			check(c.OpPos, "condition operator", '"')
			check(c.Pos, "condition key", '"')
			for _, v := range c.Values {
				value(v, "condition value")
			}
		}
	}
	return strings.Join(msgs, "\n")
}

// checkErrorPositions verifies that every problem points inside the
// document.
func checkErrorPositions(t *testing.T, data []byte, errs Errors) {
	t.Helper()
	starts := lineStarts(data)
	for _, e := range errs {
		if offset(starts, len(data), e.Pos) < 0 {
			t.Errorf("problem outside the document: %v", e)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	errs := Errors{
		{Pos: Pos{3, 7}, Msg: MsgSyntax, Detail: `unknown element "Extra"`},
		{Pos: Pos{12, 1}, Msg: MsgNoActions},
		{Msg: MsgVersion},
	}
	want := "3:7: Syntax errors in policy. (unknown element \"Extra\")\n" +
		"12:1: Policy statement must contain actions.\n" +
		"Policy document must be version 2012-10-17 or greater."
	if got := errs.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var e *Error
	if !errors.As(error(errs), &e) || e != errs[0] {
		t.Errorf("errors.As found %v, want the first problem", e)
	}
}

func TestKindString(t *testing.T) {
	want := []string{"identity", "resource", "trust", "boundary", "guardrail", "resource-guardrail", "session"}
	for k := Identity; k <= Session; k++ {
		if k.String() != want[k] {
			t.Errorf("Kind %d is %q, want %q", int(k), k, want[k])
		}
	}
	if s := Kind(42).String(); s != "Kind(42)" {
		t.Errorf("unknown kind is %q", s)
	}
}

func TestTooLarge(t *testing.T) {
	data := []byte(`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Sid": "` +
		strings.Repeat("a", MaxSize) + `"}}`)
	_, errs := Check(data, Identity)
	if len(errs) != 1 || errs[0].Msg != fmt.Sprintf("Cannot exceed quota for PolicySize: %d", MaxSize) {
		t.Errorf("got %v", errs)
	}
}

// Validate must cope with documents built in code, which have no
// positions and may have holes.
func TestValidateBuiltDocument(t *testing.T) {
	if errs := Validate(nil, Identity); len(errs) != 1 || errs[0].Msg != MsgSyntax {
		t.Errorf("nil document: %v", errs)
	}
	doc := &Document{
		Version: Version2012,
		Statements: []*Statement{
			nil,
			{Effect: Allow, Action: []Value{{S: "s3:GetObject"}}, Resource: []Value{{S: "*"}}},
		},
	}
	if errs := Validate(doc, Identity); errs != nil {
		t.Errorf("clean document: %v", errs)
	}
	doc.Statements[1].Effect = ""
	doc.Statements[1].Principal = &Principal{Wildcard: true}
	errs := Validate(doc, Identity)
	want := []string{MsgSyntax, MsgPrincipalNotAllowed}
	if len(errs) != len(want) {
		t.Fatalf("got %v, want %q", errs, want)
	}
	for i, e := range errs {
		if e.Msg != want[i] || e.Pos != (Pos{}) {
			t.Errorf("problem %d: %v, want %q without a position", i, e, want[i])
		}
	}
}

func TestLegacyDate(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2017-07-01T00:00:00Z", true},
		{"2016-12-13T21:20:37.593194+00:00", true},
		{"2016-12-13t2:00:00.593194+23", true},
		{"2019-07-01T13:20:15Z", true},
		{"01T", true},
		{"-292275054", true},
		{"0", true},
		{"9223372036854775807", true},
		{"2030-01-01", true},
		{"9223372036854775808", false},
		{"-292275055", false},
		{"sdfdsf", false},
		{"234-13", false},
		{"2016-12-32", false},
		{"2016-12-13-1", false},
		{"2016-12-13t24:00", false},
		{"2016-12-13t2:60", false},
		{"2016-12-13t2:00:00.593194+1", false},
		{"2016-12-13t2:00:00.1999999999+10:59", false},
		{"2016-12-13t2:00:00zz", false},
		{"2016-12-13t2:00:60", false},
		{"t", false},
		{"", false},
		{"true", false},
		{"1.5", false},
	} {
		if got := legacyDate(tc.in); got != tc.ok {
			t.Errorf("legacyDate(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestOperatorBase(t *testing.T) {
	for _, tc := range []struct {
		op, base string
	}{
		{"StringEquals", "StringEquals"},
		{"ForAllValues:StringEquals", "StringEquals"},
		{"ForAnyValue:StringEqualsIfExists", "StringEquals"},
		{"BoolIfExists", "Bool"},
		{"Null", "Null"},
		{"ForAllValues:Null", "Null"},
		{"NullIfExists", ""},
		{"ForAnyValue::StringEqualsIfExists", ""},
		{"ForAnyValue:ForAllValues:StringEquals", ""},
		{"StringEqualsIfExistsIfExists", ""},
		{"stringequals", ""},
		{"IfExists", ""},
		{"", ""},
	} {
		base, ok := operatorBase(tc.op)
		if base != tc.base || ok != (tc.base != "") {
			t.Errorf("operatorBase(%q) = %q, %v; want %q", tc.op, base, ok, tc.base)
		}
	}
}
