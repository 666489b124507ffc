package condition

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

func single(s string) keys.Values   { return keys.Single(s) }
func list(ss ...string) keys.Values { return keys.List(ss) }
func vals(ss ...string) []string    { return ss }

// ctxOf builds a request context from key, value pairs.
func ctxOf(kv ...any) keys.Map {
	m := keys.Map{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(keys.Values)
	}
	return m
}

type evalCase struct {
	name   string
	op     string
	key    string
	values []string
	ctx    keys.Map
	want   bool
	v2008  bool // policy version 2008-10-17: no variables
}

func runEval(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = "zt:Key"
			}
			c, err := Compile(tt.op, key, tt.values, Options{Vars: !tt.v2008})
			if err != nil {
				t.Fatalf("Compile(%q, %q, %q): %v", tt.op, key, tt.values, err)
			}
			if got := c.Eval(tt.ctx); got != tt.want {
				t.Errorf("%s %s %q against %v = %v, want %v", tt.op, key, tt.values, tt.ctx, got, tt.want)
			}
		})
	}
}

func TestMissingKey(t *testing.T) {
	none := keys.Map{}
	var tests []evalCase
	// Every positive operator is false on a missing key, every negated
	// one true, and with IfExists both are true.
	for _, b := range bases {
		if b.fam == famNull {
			continue
		}
		v := sampleValue(b.fam)
		tests = append(tests,
			evalCase{name: b.name, op: b.name, values: vals(v), ctx: none, want: b.neg},
			evalCase{name: b.name + "IfExists", op: b.name + "IfExists", values: vals(v), ctx: none, want: true},
			evalCase{name: "ForAnyValue:" + b.name, op: "ForAnyValue:" + b.name, values: vals(v), ctx: none, want: false},
			evalCase{name: "ForAllValues:" + b.name, op: "ForAllValues:" + b.name, values: vals(v), ctx: none, want: true},
			evalCase{name: "ForAnyValue:" + b.name + "IfExists", op: "ForAnyValue:" + b.name + "IfExists", values: vals(v), ctx: none, want: true},
		)
	}
	tests = append(tests, evalCase{name: "nil context", op: "StringNotEquals", values: vals("a"), ctx: nil, want: true})
	runEval(t, tests)
}

func sampleValue(f family) string {
	switch f {
	case famNumeric:
		return "1"
	case famDate:
		return "2024-01-01"
	case famBool:
		return "true"
	case famBinary:
		return "QQ=="
	case famIP:
		return "10.0.0.0/8"
	case famARN:
		return "arn:aws:s3:::b"
	}
	return "a"
}

func TestNull(t *testing.T) {
	runEval(t, []evalCase{
		{name: "true on absent", op: "Null", values: vals("true"), ctx: keys.Map{}, want: true},
		{name: "true on present", op: "Null", values: vals("true"), ctx: ctxOf("zt:Key", single("x")), want: false},
		{name: "false on absent", op: "Null", values: vals("false"), ctx: keys.Map{}, want: false},
		{name: "false on present", op: "Null", values: vals("false"), ctx: ctxOf("zt:Key", single("x")), want: true},
		{name: "false on present empty", op: "Null", values: vals("false"), ctx: ctxOf("zt:Key", single("")), want: true},
		{name: "false on present empty list", op: "Null", values: vals("false"), ctx: ctxOf("zt:Key", list()), want: true},
		{name: "case", op: "Null", values: vals("TRUE"), ctx: keys.Map{}, want: true},
		{name: "either", op: "Null", values: vals("true", "false"), ctx: ctxOf("zt:Key", single("x")), want: true},
		{name: "set prefix ignored", op: "ForAllValues:Null", values: vals("true"), ctx: keys.Map{}, want: true},
		{name: "set prefix ignored any", op: "ForAnyValue:Null", values: vals("true"), ctx: keys.Map{}, want: true},
		{name: "key case", key: "AWS:TokenIssueTime", op: "Null", values: vals("false"), ctx: ctxOf("aws:tokenissuetime", single("x")), want: true},
	})
}

func TestSetOperators(t *testing.T) {
	tags := ctxOf("aws:TagKeys", list("env", "team"))
	one := ctxOf("aws:TagKeys", list("env"))
	empty := ctxOf("aws:TagKeys", list())
	scalar := ctxOf("aws:TagKeys", single("env"))
	k := "aws:TagKeys"
	runEval(t, []evalCase{
		{name: "any one matches", key: k, op: "ForAnyValue:StringEquals", values: vals("team", "owner"), ctx: tags, want: true},
		{name: "any none matches", key: k, op: "ForAnyValue:StringEquals", values: vals("owner"), ctx: tags, want: false},
		{name: "any empty set", key: k, op: "ForAnyValue:StringEquals", values: vals("env"), ctx: empty, want: false},
		{name: "any scalar is a set of one", key: k, op: "ForAnyValue:StringEquals", values: vals("env"), ctx: scalar, want: true},
		{name: "all match", key: k, op: "ForAllValues:StringEquals", values: vals("env", "team", "owner"), ctx: tags, want: true},
		{name: "all but one", key: k, op: "ForAllValues:StringEquals", values: vals("env"), ctx: tags, want: false},
		{name: "all empty set", key: k, op: "ForAllValues:StringEquals", values: vals("env"), ctx: empty, want: true},
		{name: "all scalar", key: k, op: "ForAllValues:StringEquals", values: vals("env"), ctx: scalar, want: true},
		{name: "all like", key: k, op: "ForAllValues:StringLike", values: vals("e*", "t*"), ctx: tags, want: true},
		{name: "all like one fails", key: k, op: "ForAllValues:StringLike", values: vals("e*"), ctx: tags, want: false},
		{name: "any not equals", key: k, op: "ForAnyValue:StringNotEquals", values: vals("env"), ctx: tags, want: true},
		{name: "any not equals all excluded", key: k, op: "ForAnyValue:StringNotEquals", values: vals("env", "team"), ctx: tags, want: false},
		{name: "all not equals", key: k, op: "ForAllValues:StringNotEquals", values: vals("owner"), ctx: tags, want: true},
		{name: "all not equals one hit", key: k, op: "ForAllValues:StringNotEquals", values: vals("team"), ctx: tags, want: false},
		{name: "all not like nor", key: k, op: "ForAllValues:StringNotLike", values: vals("x*", "t*"), ctx: one, want: true},
		{name: "set case insensitive op", key: k, op: "foranyvalue:stringequals", values: vals("team"), ctx: tags, want: true},
		{name: "numeric any", key: "zt:Ports", op: "ForAnyValue:NumericLessThan", values: vals("1024"), ctx: ctxOf("zt:Ports", list("8080", "443")), want: true},
		{name: "numeric all", key: "zt:Ports", op: "ForAllValues:NumericLessThan", values: vals("1024"), ctx: ctxOf("zt:Ports", list("8080", "443")), want: false},
		{name: "ip all", key: "zt:Hops", op: "ForAllValues:IpAddress", values: vals("10.0.0.0/8", "2001:db8::/32"), ctx: ctxOf("zt:Hops", list("10.1.2.3", "2001:db8::1")), want: true},
		{name: "arn any", key: "zt:Roles", op: "ForAnyValue:ArnLike", values: vals("arn:aws:iam::*:role/admin"), ctx: ctxOf("zt:Roles", list("arn:aws:iam::1:role/dev", "arn:aws:iam::1:role/admin")), want: true},
		{name: "all with bad value", key: "zt:Ports", op: "ForAllValues:NumericLessThan", values: vals("1024"), ctx: ctxOf("zt:Ports", list("80", "eighty")), want: false},
		{name: "IfExists present", key: k, op: "ForAnyValue:StringEqualsIfExists", values: vals("x"), ctx: tags, want: false},
	})
}

func TestSingleOperatorOnMultivaluedKey(t *testing.T) {
	multi := ctxOf("zt:Key", list("a"))
	runEval(t, []evalCase{
		{name: "positive", op: "StringEquals", values: vals("a"), ctx: multi, want: false},
		{name: "negated", op: "StringNotEquals", values: vals("b"), ctx: multi, want: false},
		{name: "IfExists", op: "StringEqualsIfExists", values: vals("a"), ctx: multi, want: false},
	})
}

func TestNegation(t *testing.T) {
	c := ctxOf("zt:Key", single("b"))
	runEval(t, []evalCase{
		{name: "nor of values", op: "StringNotEquals", values: vals("a", "c"), ctx: c, want: true},
		{name: "nor hit", op: "StringNotEquals", values: vals("a", "b"), ctx: c, want: false},
		{name: "unresolved variable is no verdict", op: "StringNotEquals", values: vals("a", "${aws:nope}"), ctx: c, want: false},
		{name: "default resolves", op: "StringNotEquals", values: vals("a", "${aws:nope, 'c'}"), ctx: c, want: true},
		{name: "not like", op: "StringNotLike", values: vals("a*", "c*"), ctx: c, want: true},
		{name: "not like hit", op: "StringNotLike", values: vals("a*", "?"), ctx: c, want: false},
		{name: "not equals ignore case", op: "StringNotEqualsIgnoreCase", values: vals("B"), ctx: c, want: false},
		{name: "numeric not equals", op: "NumericNotEquals", values: vals("1", "2"), ctx: ctxOf("zt:Key", single("3")), want: true},
		{name: "numeric not equals bad request", op: "NumericNotEquals", values: vals("1"), ctx: ctxOf("zt:Key", single("x")), want: false},
		{name: "date not equals", op: "DateNotEquals", values: vals("2024-01-01"), ctx: ctxOf("zt:Key", single("2024-01-02")), want: true},
		{name: "not ip", op: "NotIpAddress", values: vals("10.0.0.0/8"), ctx: ctxOf("zt:Key", single("192.0.2.1")), want: true},
		{name: "not ip bad request", op: "NotIpAddress", values: vals("10.0.0.0/8"), ctx: ctxOf("zt:Key", single("x")), want: false},
		{name: "arn not like", op: "ArnNotLike", values: vals("arn:aws:iam::1:*"), ctx: ctxOf("zt:Key", single("arn:aws:iam::2:root")), want: true},
		{name: "arn not equals is not like", op: "ArnNotEquals", values: vals("arn:aws:iam::*:root"), ctx: ctxOf("zt:Key", single("arn:aws:iam::2:root")), want: false},
		{name: "arn not like bad policy arn", op: "ArnNotLike", values: vals("*"), ctx: ctxOf("zt:Key", single("arn:aws:iam::2:root")), want: false},
		{name: "arn not like unresolved", op: "ArnNotLike", values: vals("arn:aws:iam::${aws:nope}:root"), ctx: ctxOf("zt:Key", single("arn:aws:iam::2:root")), want: false},
	})
}

func TestStrings(t *testing.T) {
	u := func(v string) keys.Map {
		return ctxOf("zt:Key", single(v), "aws:username", single("alice"), "aws:userid", single("AID*"),
			"zt:Groups", list("a", "b"))
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf("value-%d", i)
	}
	runEval(t, []evalCase{
		{name: "equals", op: "StringEquals", values: vals("x", "alice"), ctx: u("alice"), want: true},
		{name: "equals has no wildcards", op: "StringEquals", values: vals("al*"), ctx: u("alice"), want: false},
		{name: "equals star is literal", op: "StringEquals", values: vals("al*"), ctx: u("al*"), want: true},
		{name: "equals variable", op: "StringEquals", values: vals("${aws:username}"), ctx: u("alice"), want: true},
		{name: "equals variable key case", op: "StringEquals", values: vals("${AWS:USERNAME}"), ctx: u("alice"), want: true},
		{name: "equals multivalued variable", op: "StringEquals", values: vals("${zt:Groups}"), ctx: u("a"), want: false},
		{name: "equals default", op: "StringEquals", values: vals("${aws:nope, 'guest'}"), ctx: u("guest"), want: true},
		{name: "equals special", op: "StringEquals", values: vals("a${*}${?}${$}"), ctx: u("a*?$"), want: true},
		{name: "equals 2008 literal", op: "StringEquals", values: vals("${aws:username}"), ctx: u("${aws:username}"), want: true, v2008: true},
		{name: "equals 2008 not expanded", op: "StringEquals", values: vals("${aws:username}"), ctx: u("alice"), want: false, v2008: true},
		{name: "ignore case", op: "StringEqualsIgnoreCase", values: vals("ALICE"), ctx: u("alice"), want: true},
		{name: "ignore case variable", op: "StringEqualsIgnoreCase", values: vals("X-${aws:username}"), ctx: u("x-ALICE"), want: true},
		{name: "ignore case unicode", op: "StringEqualsIgnoreCase", values: vals("ÉCOLE"), ctx: u("école"), want: true},
		{name: "like", op: "StringLike", values: vals("home/${aws:username}/*"), ctx: u("home/alice/a/b"), want: true},
		{name: "like other user", op: "StringLike", values: vals("home/${aws:username}/*"), ctx: u("home/bob/a"), want: false},
		{name: "like variable value is literal", op: "StringLike", values: vals("${aws:userid}"), ctx: u("AIDXYZ"), want: false},
		{name: "like variable value star", op: "StringLike", values: vals("${aws:userid}"), ctx: u("AID*"), want: true},
		{name: "like 2008 wildcard in braces", op: "StringLike", values: vals("${*}"), ctx: u("${x}"), want: true, v2008: true},
		{name: "like empty value", op: "StringLike", values: vals(""), ctx: u(""), want: true},
		{name: "equals many", op: "StringEquals", values: many, ctx: u("value-17"), want: true},
		{name: "equals many miss", op: "StringEquals", values: many, ctx: u("value-20"), want: false},
		{name: "not equals many", op: "StringNotEquals", values: many, ctx: u("value-20"), want: true},
		{name: "not equals many hit", op: "StringNotEquals", values: many, ctx: u("value-3"), want: false},
		{name: "equals many with variable", op: "StringEquals", values: append(vals("${aws:username}"), many...), ctx: u("alice"), want: true},
	})
}

func TestNumbers(t *testing.T) {
	n := func(v string) keys.Map { return ctxOf("zt:Key", single(v)) }
	runEval(t, []evalCase{
		{name: "equal decimals", op: "NumericEquals", values: vals("10"), ctx: n("10.000"), want: true},
		{name: "leading zeros", op: "NumericEquals", values: vals("007"), ctx: n("7"), want: true},
		{name: "plus sign", op: "NumericEquals", values: vals("+7"), ctx: n("7"), want: true},
		{name: "negative zero", op: "NumericEquals", values: vals("-0"), ctx: n("0.0"), want: true},
		{name: "point forms", op: "NumericEquals", values: vals(".5"), ctx: n("0.50"), want: true},
		{name: "trailing point", op: "NumericEquals", values: vals("5."), ctx: n("5"), want: true},
		{name: "exact beyond float64", op: "NumericEquals", values: vals("9007199254740993"), ctx: n("9007199254740992"), want: false},
		{name: "long integers", op: "NumericLessThan", values: vals("123456789012345678901234567890"), ctx: n("123456789012345678901234567889"), want: true},
		{name: "negatives", op: "NumericLessThan", values: vals("-1"), ctx: n("-2"), want: true},
		{name: "negative vs positive", op: "NumericGreaterThan", values: vals("-1"), ctx: n("0"), want: true},
		{name: "fractions", op: "NumericGreaterThan", values: vals("0.25"), ctx: n("0.3"), want: true},
		{name: "fractions less", op: "NumericLessThan", values: vals("0.3"), ctx: n("0.25"), want: true},
		{name: "negative fractions", op: "NumericLessThan", values: vals("-0.25"), ctx: n("-0.3"), want: true},
		{name: "le equal", op: "NumericLessThanEquals", values: vals("3600"), ctx: n("3600"), want: true},
		{name: "ge", op: "NumericGreaterThanEquals", values: vals("10", "20"), ctx: n("15"), want: true},
		{name: "exponent is not a number", op: "NumericEquals", values: vals("1000"), ctx: n("1e3"), want: false},
		{name: "empty is not a number", op: "NumericEquals", values: vals("0"), ctx: n(""), want: false},
		{name: "spaces", op: "NumericEquals", values: vals("1"), ctx: n(" 1"), want: false},
	})
}

func TestDates(t *testing.T) {
	d := func(v string) keys.Map { return ctxOf("aws:CurrentTime", single(v)) }
	k := "aws:CurrentTime"
	runEval(t, []evalCase{
		{name: "date and date-time", key: k, op: "DateEquals", values: vals("2024-01-01"), ctx: d("2024-01-01T00:00:00Z"), want: true},
		{name: "month", key: k, op: "DateEquals", values: vals("2024-02"), ctx: d("2024-02-01T00:00:00Z"), want: true},
		{name: "epoch seconds", key: k, op: "DateEquals", values: vals("1704067200"), ctx: d("2024-01-01T00:00:00Z"), want: true},
		{name: "epoch milliseconds", key: k, op: "DateEquals", values: vals("1704067200000"), ctx: d("1704067200"), want: true},
		{name: "epoch zero", key: k, op: "DateEquals", values: vals("0"), ctx: d("1970-01-01T00:00:00Z"), want: true},
		{name: "negative epoch", key: k, op: "DateEquals", values: vals("-86400"), ctx: d("1969-12-31"), want: true},
		{name: "offset", key: k, op: "DateEquals", values: vals("2024-01-01T02:00:00+02:00"), ctx: d("2024-01-01T00:00:00Z"), want: true},
		{name: "offset compact", key: k, op: "DateEquals", values: vals("2023-12-31T19:00:00-0500"), ctx: d("2024-01-01T00:00:00Z"), want: true},
		{name: "offset hours", key: k, op: "DateEquals", values: vals("2024-01-01T05:30:00+05"), ctx: d("2024-01-01T00:30:00Z"), want: true},
		{name: "minutes only", key: k, op: "DateEquals", values: vals("2024-01-01T10:15Z"), ctx: d("2024-01-01T10:15:00Z"), want: true},
		{name: "no zone is UTC", key: k, op: "DateEquals", values: vals("2024-01-01T10:15:00"), ctx: d("2024-01-01T10:15:00Z"), want: true},
		{name: "fraction", key: k, op: "DateLessThan", values: vals("2024-01-01T00:00:00.5Z"), ctx: d("2024-01-01T00:00:00.499999999Z"), want: true},
		{name: "fraction equal", key: k, op: "DateEquals", values: vals("2024-01-01T00:00:00.5Z"), ctx: d("2024-01-01T00:00:00.500000000000Z"), want: true},
		{name: "lower case", key: k, op: "DateEquals", values: vals("2024-01-01t00:00:00z"), ctx: d("2024-01-01"), want: true},
		{name: "greater", key: k, op: "DateGreaterThan", values: vals("2020-01-01T00:00:01Z"), ctx: d("2026-11-29T16:00:00Z"), want: true},
		{name: "less equals", key: k, op: "DateLessThanEquals", values: vals("2024-01-01"), ctx: d("1704067200"), want: true},
		{name: "greater equals", key: k, op: "DateGreaterThanEquals", values: vals("2024-01-01"), ctx: d("1704067199"), want: false},
		{name: "leap day", key: k, op: "DateEquals", values: vals("2024-02-29"), ctx: d("2024-02-29T00:00:00Z"), want: true},
		{name: "no leap day", key: k, op: "DateEquals", values: vals("2024-03-01"), ctx: d("2023-02-29"), want: false},
		{name: "not a date", key: k, op: "DateLessThan", values: vals("2024-01-01"), ctx: d("yesterday"), want: false},
		{name: "float epoch", key: k, op: "DateLessThan", values: vals("2024-01-01"), ctx: d("1.5"), want: false},
	})
}

func TestBool(t *testing.T) {
	b := func(v string) keys.Map {
		return ctxOf("aws:SecureTransport", single(v), "zt:Want", single("TRUE"), "zt:Odd", single("yes"))
	}
	k := "aws:SecureTransport"
	runEval(t, []evalCase{
		{name: "true", key: k, op: "Bool", values: vals("true"), ctx: b("true"), want: true},
		{name: "false", key: k, op: "Bool", values: vals("false"), ctx: b("true"), want: false},
		{name: "case", key: k, op: "Bool", values: vals("False"), ctx: b("FALSE"), want: true},
		{name: "variable", key: k, op: "Bool", values: vals("${zt:Want}"), ctx: b("true"), want: true},
		{name: "variable not a bool", key: k, op: "Bool", values: vals("${zt:Odd}"), ctx: b("yes"), want: false},
		{name: "variable missing", key: k, op: "Bool", values: vals("${zt:Nope}"), ctx: b("true"), want: false},
		{name: "variable default", key: k, op: "Bool", values: vals("${zt:Nope, 'true'}"), ctx: b("true"), want: true},
		{name: "request not a bool", key: k, op: "Bool", values: vals("true"), ctx: b("1"), want: false},
		{name: "2008 literal", key: k, op: "BoolIfExists", values: vals("false"), ctx: b("false"), want: true, v2008: true},
	})
}

func TestBinary(t *testing.T) {
	b := func(v string) keys.Map { return ctxOf("zt:Key", single(v)) }
	runEval(t, []evalCase{
		{name: "same", op: "BinaryEquals", values: vals("QmluYXJ5VmFsdWVJbkJhc2U2NA=="), ctx: b("QmluYXJ5VmFsdWVJbkJhc2U2NA=="), want: true},
		{name: "unpadded request", op: "BinaryEquals", values: vals("QmluYXJ5VmFsdWVJbkJhc2U2NA=="), ctx: b("QmluYXJ5VmFsdWVJbkJhc2U2NA"), want: true},
		{name: "unpadded policy", op: "BinaryEquals", values: vals("QQ"), ctx: b("QQ=="), want: true},
		{name: "different", op: "BinaryEquals", values: vals("QQ=="), ctx: b("Qg=="), want: false},
		{name: "longer", op: "BinaryEquals", values: vals("QQ=="), ctx: b("QUI="), want: false},
		{name: "shorter", op: "BinaryEquals", values: vals("QUJD"), ctx: b("QUI="), want: false},
		{name: "padding inside", op: "BinaryEquals", values: vals("QUE="), ctx: b("QQ==QQ=="), want: false},
		{name: "not base64", op: "BinaryEquals", values: vals("QQ=="), ctx: b("Q!=="), want: false},
		{name: "empty", op: "BinaryEquals", values: vals(""), ctx: b(""), want: true},
		{name: "one character", op: "BinaryEquals", values: vals("QUJD"), ctx: b("QUJDR"), want: false},
	})
}

func TestIP(t *testing.T) {
	ip := func(v string) keys.Map { return ctxOf("aws:SourceIp", single(v)) }
	k := "aws:SourceIp"
	runEval(t, []evalCase{
		{name: "v4 block", key: k, op: "IpAddress", values: vals("203.0.113.0/24"), ctx: ip("203.0.113.7"), want: true},
		{name: "v4 outside", key: k, op: "IpAddress", values: vals("203.0.113.0/24"), ctx: ip("203.0.114.7"), want: false},
		{name: "v4 address is /32", key: k, op: "IpAddress", values: vals("203.0.113.7"), ctx: ip("203.0.113.7"), want: true},
		{name: "v4 host bits masked", key: k, op: "IpAddress", values: vals("203.0.113.7/24"), ctx: ip("203.0.113.9"), want: true},
		{name: "v4 /0", key: k, op: "IpAddress", values: vals("0.0.0.0/0"), ctx: ip("198.51.100.1"), want: true},
		{name: "v6 block", key: k, op: "IpAddress", values: vals("2001:DB8:1234:5678::/64"), ctx: ip("2001:db8:1234:5678:abcd::1"), want: true},
		{name: "v6 outside", key: k, op: "IpAddress", values: vals("2001:db8:1234:5678::/64"), ctx: ip("2001:db8:1234:5679::1"), want: false},
		{name: "v6 address is /128", key: k, op: "IpAddress", values: vals("2001:db8::1"), ctx: ip("2001:0db8:0000::0001"), want: true},
		{name: "v6 embedded v4", key: k, op: "IpAddress", values: vals("64:ff9b::/96"), ctx: ip("64:ff9b::192.0.2.1"), want: true},
		{name: "v6 ::/0", key: k, op: "IpAddress", values: vals("::/0"), ctx: ip("::1"), want: true},
		{name: "mixed list", key: k, op: "IpAddress", values: vals("203.0.113.0/24", "2001:db8::/32"), ctx: ip("2001:db8::7"), want: true},
		{name: "families never mix", key: k, op: "IpAddress", values: vals("::/0"), ctx: ip("192.0.2.1"), want: false},
		{name: "mapped v6 is v6", key: k, op: "IpAddress", values: vals("192.0.2.0/24"), ctx: ip("::ffff:192.0.2.1"), want: false},
		{name: "zone never inside", key: k, op: "IpAddress", values: vals("fe80::/10"), ctx: ip("fe80::1%eth0"), want: false},
		{name: "zone is not inside", key: k, op: "NotIpAddress", values: vals("fe80::/10"), ctx: ip("fe80::1%eth0"), want: true},
		{name: "not v6", key: k, op: "NotIpAddress", values: vals("2001:db8::/32"), ctx: ip("2001:db9::1"), want: true},
		{name: "leading zero v4 invalid", key: k, op: "IpAddress", values: vals("10.0.0.0/8"), ctx: ip("010.0.0.1"), want: false},
		{name: "with port invalid", key: k, op: "IpAddress", values: vals("10.0.0.0/8"), ctx: ip("10.0.0.1:443"), want: false},
	})
}

func TestARN(t *testing.T) {
	a := func(v string) keys.Map {
		return ctxOf("aws:SourceArn", single(v), "aws:PrincipalAccount", single("111122223333"))
	}
	k := "aws:SourceArn"
	runEval(t, []evalCase{
		{name: "equals", key: k, op: "ArnEquals", values: vals("arn:aws:sns:us-east-1:111122223333:topic"), ctx: a("arn:aws:sns:us-east-1:111122223333:topic"), want: true},
		{name: "equals takes wildcards", key: k, op: "ArnEquals", values: vals("arn:aws:sns:*:111122223333:*"), ctx: a("arn:aws:sns:us-east-1:111122223333:topic"), want: true},
		{name: "part by part", key: k, op: "ArnLike", values: vals("arn:aws:someservice:*:111122223333:finance/*"),
			ctx: a("arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"), want: false},
		{name: "string like crosses parts", key: k, op: "StringLike", values: vals("arn:aws:someservice:*:111122223333:finance/*"),
			ctx: a("arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"), want: true},
		{name: "variable account", key: k, op: "ArnLike", values: vals("arn:aws:sqs:*:${aws:PrincipalAccount}:*"), ctx: a("arn:aws:sqs:eu-west-1:111122223333:q"), want: true},
		{name: "not an arn request", key: k, op: "ArnLike", values: vals("arn:*:*:*:*:*"), ctx: a("bucket"), want: false},
		{name: "not an arn policy value", key: k, op: "ArnLike", values: vals("*", "arn:aws:s3:::b"), ctx: a("arn:aws:s3:::b"), want: true},
	})
}

func TestOperatorNames(t *testing.T) {
	for _, tt := range []struct{ in, canon, value string }{
		{"StringEquals", "StringEquals", "a"},
		{"stringequals", "StringEquals", "a"},
		{"StringLikeIfExists", "StringLikeIfExists", "a*"},
		{"ForAnyValue:StringLike", "ForAnyValue:StringLike", "a*"},
		{"forallvalues:stringnotequalsignorecaseifexists", "ForAllValues:StringNotEqualsIgnoreCaseIfExists", "a"},
		{"ForAllValues:ArnNotLikeIfExists", "ForAllValues:ArnNotLikeIfExists", "arn:aws:s3:::b"},
		{"NotIpAddressIfExists", "NotIpAddressIfExists", "10.0.0.0/8"},
		{"DateGreaterThanEqualsIfExists", "DateGreaterThanEqualsIfExists", "2024-01-01"},
		{"Null", "Null", "true"},
	} {
		c, err := Compile(tt.in, "aws:Key", vals(tt.value), Options{Vars: true})
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.in, err)
			continue
		}
		if c.Operator() != tt.canon || c.Key() != "aws:Key" {
			t.Errorf("Compile(%q): Operator %q Key %q, want %q aws:Key", tt.in, c.Operator(), c.Key(), tt.canon)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		op     string
		key    string
		values []string
		want   error
	}{
		{"StringEqualz", "k", vals("a"), ErrOperator},
		{"ForSomeValues:StringEquals", "k", vals("a"), ErrOperator},
		{"ForAnyValue:", "k", vals("a"), ErrOperator},
		{"NullIfExists", "k", vals("true"), ErrOperator},
		{"IfExists", "k", vals("a"), ErrOperator},
		{"", "k", vals("a"), ErrOperator},
		{"StringEquals", "", vals("a"), ErrKey},
		{"StringEquals", "k", nil, ErrValue},
		{"StringEquals", "k", vals("${aws:username"), ErrValue},
		{"StringLike", "k", vals("${aws:username, guest}"), ErrValue},
		{"ArnLike", "k", vals("arn:aws:s3:::${}"), ErrValue},
		{"NumericEquals", "k", vals("1", "ten"), ErrValue},
		{"NumericEquals", "k", vals("${aws:MultiFactorAuthAge}"), ErrValue},
		{"NumericLessThan", "k", vals("1e3"), ErrValue},
		{"DateLessThan", "k", vals("2024-13-01"), ErrValue},
		{"DateLessThan", "k", vals("2024-04-31"), ErrValue},
		{"DateLessThan", "k", vals("2024-01-01T24:00:00Z"), ErrValue},
		{"DateLessThan", "k", vals("2024-01-01T00:00:00+24:00"), ErrValue},
		{"DateLessThan", "k", vals("2024-01-01T00:00:00.Z"), ErrValue},
		{"DateLessThan", "k", vals("2024"), nil}, // an epoch
		{"DateLessThan", "k", vals("${aws:CurrentTime}"), ErrValue},
		{"Bool", "k", vals("yes"), ErrValue},
		{"Bool", "k", vals("${aws:SecureTransport"), ErrValue},
		{"BinaryEquals", "k", vals("not base64!"), ErrValue},
		{"IpAddress", "k", vals("10.0.0.0/33"), ErrValue},
		{"IpAddress", "k", vals("123456789012"), ErrValue},
		{"IpAddress", "k", vals("fe80::1%eth0"), ErrValue},
		{"NotIpAddress", "k", vals("10.0.0.1/8", "::1/129"), ErrValue},
		{"Null", "k", vals("maybe"), ErrValue},
		{"ArnLike", "k", vals("*"), nil}, // accepted, matches nothing
	} {
		_, err := Compile(tt.op, tt.key, tt.values, Options{Vars: true})
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Compile(%q, %q, %q) = %v, want %v", tt.op, tt.key, tt.values, err, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Compile("NumericLessThan", "s3:max-keys", vals("10", "ten"), Options{})
	const want = `NumericLessThan on "s3:max-keys": invalid condition value: "ten" is not a number`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Compile("StringEqualz", "k", vals("a"), Options{})
	if err == nil || err.Error() != `unknown condition operator "StringEqualz"` {
		t.Errorf("error = %v", err)
	}
}

func TestAll(t *testing.T) {
	mfa := mustCompile(t, "Bool", "aws:MultiFactorAuthPresent", "true")
	net := mustCompile(t, "IpAddress", "aws:SourceIp", "10.0.0.0/8")
	ctx := ctxOf("aws:MultiFactorAuthPresent", single("true"), "aws:SourceIp", single("10.1.1.1"))
	if !All([]*Condition{mfa, net}, ctx) {
		t.Error("All = false, want true")
	}
	ctx["aws:SourceIp"] = single("192.0.2.1")
	if All([]*Condition{mfa, net}, ctx) {
		t.Error("All = true with one condition false")
	}
	if !All(nil, ctx) {
		t.Error("an empty block must hold")
	}
}

func mustCompile(t testing.TB, op, key string, values ...string) *Condition {
	t.Helper()
	c, err := Compile(op, key, values, Options{Vars: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Compiled conditions are shared by every request in flight; run with
// -race.
func TestConcurrentEval(t *testing.T) {
	var conds []*Condition
	for _, tt := range allocCases {
		c, err := Compile(tt.op, tt.key, tt.values, Options{Vars: true})
		if err != nil {
			t.Fatal(err)
		}
		conds = append(conds, c)
	}
	want := make([]bool, len(conds))
	for i, c := range conds {
		want[i] = c.Eval(hotCtx)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				for i, c := range conds {
					if c.Eval(hotCtx) != want[i] {
						t.Errorf("%s %s: result changed under concurrency", c.Operator(), c.Key())
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
