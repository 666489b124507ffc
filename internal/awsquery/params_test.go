package awsquery_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/awsquery"
)

func mustParse(t testing.TB, body string) awsquery.Params {
	t.Helper()
	p, err := awsquery.Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse(%q): %v", body, err)
	}
	return p
}

// pairs returns every parameter of p, for comparing whole forms.
func pairs(p awsquery.Params) map[string]string {
	m := map[string]string{}
	for _, n := range p.Names() {
		m[n] = p.Get(n)
	}
	return m
}

func TestParse(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte('&')
			}
			fmt.Fprintf(&b, "P%d=v", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, body string
		want       map[string]string
		err        error  // sentinel, nil for success
		param      string // the *Error's Param
	}{
		{name: "empty", body: "", want: map[string]string{}},
		{name: "simple", body: "Action=GetCallerIdentity&Version=2011-06-15",
			want: map[string]string{"Action": "GetCallerIdentity", "Version": "2011-06-15"}},
		{name: "escapes", body: "Policy=%7B%22a%22%3A+1%7D&Name%2E1=x%2by",
			want: map[string]string{"Policy": `{"a": 1}`, "Name.1": "x+y"}},
		{name: "lower hex", body: "a=%c3%a9", want: map[string]string{"a": "é"}},
		{name: "no equals", body: "a&b=", want: map[string]string{"a": "", "b": ""}},
		{name: "value with equals", body: "t=a=b==", want: map[string]string{"t": "a=b=="}},
		{name: "empty pairs", body: "&a=1&&b=2&", want: map[string]string{"a": "1", "b": "2"}},
		{name: "semicolon is data", body: "a=1;b=2", want: map[string]string{"a": "1;b=2"}},
		{name: "at limit", body: many(awsquery.MaxParams), want: nil},
		{name: "over limit", body: many(awsquery.MaxParams + 1), err: awsquery.ErrMalformed},
		{name: "truncated escape", body: "a=%4", err: awsquery.ErrMalformed, param: "a"},
		{name: "lone percent", body: "a=%", err: awsquery.ErrMalformed, param: "a"},
		{name: "bad hex", body: "a=%zz", err: awsquery.ErrMalformed, param: "a"},
		{name: "bad escape in name", body: "a%G1=1", err: awsquery.ErrMalformed},
		{name: "empty name", body: "=x", err: awsquery.ErrMalformed},
		{name: "escaped empty name", body: "a=1&=", err: awsquery.ErrMalformed},
		{name: "duplicate", body: "a=1&b=2&a=3", err: awsquery.ErrMalformed, param: "a"},
		{name: "duplicate after decoding", body: "Tags.1=x&Tags%2E1=y", err: awsquery.ErrMalformed, param: "Tags.1"},
		{name: "duplicate empty", body: "a&a", err: awsquery.ErrMalformed, param: "a"},
		{name: "value not utf-8", body: "a=%ff", err: awsquery.ErrMalformed, param: "a"},
		{name: "name not utf-8", body: "%c3=1", err: awsquery.ErrMalformed},
		{name: "raw value not utf-8", body: "a=\xff", err: awsquery.ErrMalformed, param: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := awsquery.Parse([]byte(tc.body))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var e *awsquery.Error
				if !errors.As(err, &e) || e.Param != tc.param {
					t.Fatalf("err = %#v, want Param %q", err, tc.param)
				}
				if !strings.HasPrefix(err.Error(), "awsquery: ") {
					t.Errorf("message %q lacks the package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if len(p.Names()) != awsquery.MaxParams {
					t.Fatalf("%d params", len(p.Names()))
				}
				return
			}
			if got := pairs(p); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestErrorsDoNotEcho: an error names the parameter, clipped, and never
// repeats a value, which may be a token or an MFA code.
func TestErrorsDoNotEcho(t *testing.T) {
	long := strings.Repeat("N", 300)
	for _, body := range []string{
		"WebIdentityToken=SECRETSECRET%zz",
		"TokenCode=SECRETSECRET&TokenCode=SECRETSECRET",
		"SAMLAssertion=SECRETSECRET%ff",
		long + "=SECRETSECRET&" + long + "=1",
		long + "=SECRETSECRET%",
		"Tags.member.1=SECRETSECRET&Tags.member.3=SECRETSECRET",
		"Tags=SECRETSECRET",
	} {
		p, err := awsquery.Parse([]byte(body))
		if err == nil {
			_, err = p.List(strings.FieldsFunc(body, func(r rune) bool { return r == '.' || r == '=' })[0])
		}
		if err == nil {
			t.Fatalf("%.40q: no error", body)
		}
		msg := err.Error()
		if strings.Contains(msg, "SECRET") {
			t.Errorf("message echoes a value: %s", msg)
		}
		if strings.Contains(msg, strings.Repeat("N", awsquery.MaxEcho+1)) {
			t.Errorf("message echoes more than %d bytes of a name: %s", awsquery.MaxEcho, msg)
		}
	}
}

func TestGetHasSubNames(t *testing.T) {
	p := mustParse(t, "Action=AssumeRole&Nested.A=1&Nested.B.C=2&Nested=&NestedX.A=3&Nested-.A=4&Empty=")
	for _, tc := range []struct {
		name string
		has  bool
		get  string
	}{
		{"Action", true, "AssumeRole"},
		{"Empty", true, ""},
		{"Missing", false, ""},
		{"Nested.A", true, "1"},
		{"Nested.B", false, ""},
		{"nested.a", false, ""},
	} {
		if got := p.Has(tc.name); got != tc.has {
			t.Errorf("Has(%q) = %v", tc.name, got)
		}
		if got := p.Get(tc.name); got != tc.get {
			t.Errorf("Get(%q) = %q", tc.name, got)
		}
	}
	sub := p.Sub("Nested")
	if got, want := sub.Names(), []string{"A", "B.C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sub(Nested).Names() = %q, want %q", got, want)
	}
	if got := sub.Sub("B").Get("C"); got != "2" {
		t.Errorf("Sub(Nested).Sub(B).Get(C) = %q", got)
	}
	if got := p.Sub("Nested.B").Get("C"); got != "2" {
		t.Errorf("Sub(Nested.B).Get(C) = %q", got)
	}
	if got := p.Sub("Nope").Names(); len(got) != 0 {
		t.Errorf("Sub(Nope) = %q", got)
	}
	want := []string{"Action", "Empty", "Nested", "Nested-.A", "Nested.A", "Nested.B.C", "NestedX.A"}
	if got := p.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if p.Len() != len(want) {
		t.Errorf("Len() = %d", p.Len())
	}
	var zero awsquery.Params
	if zero.Has("a") || zero.Get("a") != "" || len(zero.Names()) != 0 || zero.Sub("a").Len() != 0 {
		t.Error("the zero Params is not empty")
	}
}

func TestList(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
		param      string // set when ErrInvalid is expected
	}{
		{name: "absent", body: "Other=1", want: nil},
		{name: "member", body: "L.member.1=a&L.member.2=b&L.member.3=c", want: []string{"a", "b", "c"}},
		{name: "flattened", body: "L.2=b&L.1=a", want: []string{"a", "b"}},
		{name: "empty", body: "L=", want: []string{}},
		{name: "empty strings", body: "L.member.1=&L.member.2=", want: []string{"", ""}},
		{name: "numeric order", body: func() string {
			var b []string
			for i := 1; i <= 12; i++ {
				b = append(b, "L.member."+strconv.Itoa(i)+"="+strconv.Itoa(i))
			}
			return strings.Join(b, "&")
		}(), want: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}},
		{name: "not confused by neighbours", body: "L.member.1=a&LL.member.2=b&L-.member.2=c", want: []string{"a"}},
		{name: "gap", body: "L.member.1=a&L.member.3=c", param: "L.member.2"},
		{name: "starts at 2", body: "L.member.2=b", param: "L.member.1"},
		{name: "zero", body: "L.member.0=a", param: "L.member.0"},
		{name: "leading zero", body: "L.member.1=a&L.member.02=b", param: "L.member.02"},
		{name: "sign", body: "L.member.+1=a", param: "L.member. 1"},
		{name: "too big", body: "L.member.1001=a", param: "L.member.1001"},
		{name: "huge", body: "L.member.99999999999999999999=a", param: "L.member.99999999999999999999"},
		{name: "not a number", body: "L.member.1x=a", param: "L.member.1x"},
		{name: "both forms", body: "L.member.1=a&L.1=b", param: "L"},
		{name: "bare with value", body: "L=a", param: "L"},
		{name: "bare empty and elements", body: "L=&L.member.1=a", param: "L"},
		{name: "stray field", body: "L.member.1=a&L.Foo=b", param: "L.Foo"},
		{name: "bare wrapper", body: "L.member=a", param: "L.member"},
		{name: "structure element", body: "L.member.1.Key=a", param: "L.member.1"},
		{name: "string and structure", body: "L.member.1=a&L.member.1.Key=b", param: "L.member.1"},
		{name: "empty field name", body: "L.member.1.=a", param: "L.member.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.body).List("L")
			checkInvalid(t, err, tc.param)
			if tc.param == "" && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// checkInvalid fails unless err is ErrInvalid naming param, or nil when
// param is "".
func checkInvalid(t *testing.T, err error, param string) {
	t.Helper()
	if param == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	var e *awsquery.Error
	if !errors.Is(err, awsquery.ErrInvalid) || !errors.As(err, &e) || e.Param != param {
		t.Fatalf("err = %v, want ErrInvalid naming %q", err, param)
	}
}

func TestStructs(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []map[string]string
		param      string
	}{
		{name: "absent", body: "", want: nil},
		{name: "tags", body: "T.member.1.Key=a&T.member.1.Value=1&T.member.2.Key=b&T.member.2.Value=",
			want: []map[string]string{{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}}},
		{name: "flattened", body: "T.1.arn=x&T.2.arn=y",
			want: []map[string]string{{"arn": "x"}, {"arn": "y"}}},
		{name: "nested", body: "T.member.1.A.B=x&T.member.1.L.member.1=y",
			want: []map[string]string{{"A.B": "x", "L.member.1": "y"}}},
		{name: "empty", body: "T=", want: []map[string]string{}},
		{name: "gap", body: "T.member.1.Key=a&T.member.3.Key=c", param: "T.member.2"},
		{name: "string element", body: "T.member.1=a", param: "T.member.1"},
		{name: "both forms", body: "T.member.1.Key=a&T.2.Key=b", param: "T"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.body).Structs("T")
			checkInvalid(t, err, tc.param)
			if tc.param != "" {
				return
			}
			if (got == nil) != (tc.want == nil) || len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if m := pairs(got[i]); !reflect.DeepEqual(m, tc.want[i]) {
					t.Errorf("element %d = %q, want %q", i+1, m, tc.want[i])
				}
			}
		})
	}
}

func TestMap(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]string
		param      string
	}{
		{name: "absent", body: "", want: nil},
		{name: "entries", body: "M.entry.1.key=a&M.entry.1.value=1&M.entry.2.key=b&M.entry.2.value=2",
			want: map[string]string{"a": "1", "b": "2"}},
		{name: "flattened", body: "M.1.key=a&M.1.value=1", want: map[string]string{"a": "1"}},
		{name: "empty", body: "M=", want: map[string]string{}},
		{name: "empty key and value", body: "M.entry.1.key=&M.entry.1.value=", want: map[string]string{"": ""}},
		{name: "missing value", body: "M.entry.1.key=a", param: "M.entry.1.value"},
		{name: "missing key", body: "M.entry.1.value=a", param: "M.entry.1.key"},
		{name: "extra field", body: "M.entry.1.key=a&M.entry.1.value=1&M.entry.1.x=2", param: "M.entry.1.x"},
		{name: "repeated key", body: "M.entry.1.key=a&M.entry.1.value=1&M.entry.2.key=a&M.entry.2.value=2", param: "M.entry.2.key"},
		{name: "gap", body: "M.entry.2.key=a&M.entry.2.value=1", param: "M.entry.1"},
		{name: "string entry", body: "M.entry.1=a", param: "M.entry.1"},
		{name: "member is not entry", body: "M.member.1.key=a&M.member.1.value=1", param: "M.member.1.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.body).Map("M")
			checkInvalid(t, err, tc.param)
			if tc.param == "" && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestPrintsNoValues: Params carries tokens and MFA codes, so no fmt verb
// and no log line may show a value.
func TestPrintsNoValues(t *testing.T) {
	p := mustParse(t, "Action=AssumeRoleWithWebIdentity&WebIdentityToken=SECRETTOKEN")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if s := fmt.Sprintf(verb, p); strings.Contains(s, "SECRET") || !strings.Contains(s, "WebIdentityToken") {
			t.Errorf("%s prints %s", verb, s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("request", "params", p)
	if strings.Contains(buf.String(), "SECRET") || !strings.Contains(buf.String(), "WebIdentityToken") {
		t.Errorf("log line: %s", buf.String())
	}
}
