package wildcard

import (
	"errors"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// reqCtx is the request context the tables match against.
var reqCtx = keys.Map{
	"aws:username":          keys.Single("alice"),
	"aws:PrincipalTag/team": keys.Single("blue"),
	"zt:DeviceId":           keys.Single("d-42"),
	"aws:userid":            keys.Single("AIDA*?"),
	"zt:DeviceGroups":       keys.List([]string{"laptops"}),
	"zt:Empty":              keys.Single(""),
	"zt:Colon":              keys.Single("a:b"),
}

var (
	v12     = Options{Vars: true}
	v08     = Options{}
	fold    = Options{Fold: true, Vars: true}
	literal = Options{Vars: true, NoWildcards: true}
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		opt     Options
		value   string
		want    bool
	}{
		{"empty matches empty", "", v12, "", true},
		{"empty matches nothing else", "", v12, "a", false},
		{"literal", "s3:GetObject", v12, "s3:GetObject", true},
		{"literal is case sensitive", "s3:GetObject", v12, "s3:getobject", false},
		{"literal longer", "abc", v12, "abcd", false},
		{"star alone", "*", v12, "", true},
		{"star alone any", "*", v12, "arn:aws:s3:::b/k", true},
		{"star crosses colon and slash", "arn:*", v12, "arn:aws:s3:::bucket/key", true},
		{"prefix", "s3:Get*", v12, "s3:GetObjectAcl", true},
		{"prefix none", "s3:Get*", v12, "s3:PutObject", false},
		{"prefix matches itself", "s3:Get*", v12, "s3:Get", true},
		{"suffix", "*Object", v12, "s3:GetObject", true},
		{"suffix none", "*Object", v12, "s3:GetObjects", false},
		{"inner star", "a*c", v12, "abbbc", true},
		{"inner star empty", "a*c", v12, "ac", true},
		{"inner star no end", "a*c", v12, "acb", false},
		{"two stars", "*a*b*", v12, "xxaxxbxx", true},
		{"two stars order", "*a*b*", v12, "xxbxxaxx", false},
		{"star backtrack", "*ab*abc", v12, "abababc", true},
		{"star overlap", "a*aa", v12, "aa", false},
		{"star overlap ok", "a*aa", v12, "aaa", true},
		{"consecutive stars", "a**b", v12, "ab", true},
		{"question", "a?c", v12, "abc", true},
		{"question needs one", "a?c", v12, "ac", false},
		{"question is one rune", "jos?", v12, "josé", true},
		{"question not two runes", "jos?", v12, "joséé", false},
		{"questions", "test???value", v12, "test123value", true},
		{"question star", "?*", v12, "", false},
		{"question star one", "?*", v12, "x", true},
		{"star question at end", "*?", v12, "ab", true},
		{"middle question segment", "*a?c*", v12, "xxabcxx", true},
		{"fold literal", "S3:getobject", fold, "s3:GetObject", true},
		{"fold prefix", "S3:GET*", fold, "s3:GetObject", true},
		{"fold general", "s3:*OBJECT", fold, "s3:GetObject", true},
		{"fold kelvin", "k*", fold, "\u212aelvin", true},
		{"fold sigma", "*σ", fold, "ΣΣ", true},
		{"fold suffix question", "*?T", fold, "at", true},
		{"var", "home/${aws:username}/*", v12, "home/alice/x", true},
		{"var other user", "home/${aws:username}/*", v12, "home/bob/x", false},
		{"var key case", "home/${AWS:UserName}", v12, "home/alice", true},
		{"var tag", "${aws:PrincipalTag/team}-*", v12, "blue-1", true},
		{"var zt", "dev/${zt:DeviceId}", v12, "dev/d-42", true},
		{"var spaces in braces", "${ aws:username }", v12, "alice", true},
		{"var value is literal", "${aws:userid}", v12, "AIDA*?", true},
		{"var value star is not wildcard", "${aws:userid}", v12, "AIDAxy", false},
		{"var value then star", "${aws:userid}*", v12, "AIDA*?tail", true},
		{"var fold", "HOME/${aws:username}", fold, "home/ALICE", true},
		{"var empty value", "x${zt:Empty}y", v12, "xy", true},
		{"var with colon", "${zt:Colon}", v12, "a:b", true},
		{"missing var matches nothing", "home/${aws:nope}", v12, "home/", false},
		{"missing var star matches nothing", "*${aws:nope}*", v12, "anything", false},
		{"multivalued var matches nothing", "${zt:DeviceGroups}", v12, "laptops", false},
		{"default used when missing", "${aws:nope, 'guest'}", v12, "guest", true},
		{"default no spaces", "${aws:nope,'guest'}", v12, "guest", true},
		{"default spaces", "${aws:nope ,  'guest' }", v12, "guest", true},
		{"default not used when present", "${aws:username, 'guest'}", v12, "guest", false},
		{"default present value", "${aws:username, 'guest'}", v12, "alice", true},
		{"default for multivalued", "${zt:DeviceGroups, 'none'}", v12, "none", true},
		{"empty default", "a${aws:nope, ''}b", v12, "ab", true},
		{"default holds braces", "${aws:nope, 'a}b'}", v12, "a}b", true},
		{"default is literal", "${aws:nope, 'a*'}", v12, "abc", false},
		{"special star", "a${*}b", v12, "a*b", true},
		{"special star literal", "a${*}b", v12, "axb", false},
		{"special question", "a${?}", v12, "a?", true},
		{"special question literal", "a${?}", v12, "ab", false},
		{"special dollar", "${$}{x}", v12, "${x}", true},
		{"specials then star", "${*}*", v12, "*abc", true},
		{"2008 variable is text", "home/${aws:username}", v08, "home/${aws:username}", true},
		{"2008 variable not expanded", "home/${aws:username}", v08, "home/alice", false},
		{"2008 star in braces is wildcard", "${*}", v08, "${anything}", true},
		{"2008 unterminated is fine", "a${b", v08, "a${b", true},
		{"dollar without brace", "a$b", v12, "a$b", true},
		{"no wildcards star", "a*", literal, "a*", true},
		{"no wildcards star literal", "a*", literal, "abc", false},
		{"no wildcards question", "a?", literal, "ab", false},
		{"no wildcards var", "u/${aws:username}", literal, "u/alice", true},
		{"no wildcards fold", "TRUE", Options{Fold: true, NoWildcards: true}, "true", true},
		{"invalid utf8 literal", "a\xffb", v12, "a\xffb", true},
		{"invalid utf8 question", "a?b", v12, "a\xffb", true},
		{"invalid utf8 fold distinct", "a\xfe", fold, "a\xff", false},
		{"invalid utf8 fold same", "A\xfe*", fold, "a\xfeb", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.pattern, tt.opt)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.pattern, err)
			}
			if got := p.Match(tt.value, reqCtx); got != tt.want {
				t.Errorf("Compile(%q, %+v).Match(%q) = %v, want %v", tt.pattern, tt.opt, tt.value, got, tt.want)
			}
		})
	}
}

func TestTest(t *testing.T) {
	tests := []struct {
		pattern, value string
		matched, ok    bool
	}{
		{"a*", "ab", true, true},
		{"a*", "b", false, true},
		{"${aws:username}", "alice", true, true},
		{"${aws:username}", "bob", false, true},
		{"${aws:nope}", "", false, false},
		{"x${aws:nope}", "y", false, false},
		{"${zt:DeviceGroups}", "laptops", false, false},
		{"${aws:nope, 'd'}", "e", false, true},
	}
	for _, tt := range tests {
		p := MustCompile(tt.pattern, v12)
		m, ok := p.Test(tt.value, reqCtx)
		if m != tt.matched || ok != tt.ok {
			t.Errorf("%q.Test(%q) = %v, %v; want %v, %v", tt.pattern, tt.value, m, ok, tt.matched, tt.ok)
		}
	}
}

func TestNilContext(t *testing.T) {
	if !MustCompile("a*", v12).Match("abc", nil) {
		t.Error("a pattern without variables must match with a nil context")
	}
	if MustCompile("${aws:username}", v12).Match("", nil) {
		t.Error("an unresolved variable must match nothing")
	}
	if !MustCompile("${aws:username, 'guest'}", v12).Match("guest", nil) {
		t.Error("the default must apply with a nil context")
	}
}

func TestManyVariables(t *testing.T) {
	// More variables than the matcher's stack buffer holds.
	pat := strings.Repeat("${aws:username}-", 12) + "${zt:DeviceId}"
	val := strings.Repeat("alice-", 12) + "d-42"
	p := MustCompile(pat, v12)
	if !p.Match(val, reqCtx) {
		t.Errorf("%q does not match %q", pat, val)
	}
	if p.Match(strings.Replace(val, "d-42", "d-43", 1), reqCtx) {
		t.Error("matched a wrong device")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, s := range []string{
		"${aws:username",
		"a${",
		"${}",
		"${ }",
		"${, 'x'}",
		"${aws:username, guest}",
		"${aws:username, 'guest}",
		"${aws:username, 'guest' x}",
		"${aws:username, 'guest'",
		"${a{b}",
		"${a$b}",
		"${a*}",
		"${ * }",
	} {
		_, err := Compile(s, v12)
		if !errors.Is(err, ErrVariable) {
			t.Errorf("Compile(%q) = %v, want ErrVariable", s, err)
		}
		if _, err := Compile(s, v08); err != nil {
			t.Errorf("Compile(%q) for 2008-10-17 = %v, want nil", s, err)
		}
	}
}

func TestHelpers(t *testing.T) {
	tests := []struct {
		pattern string
		opt     Options
		lit     string
		isLit   bool
		prefix  string
		vars    bool
	}{
		{"s3:GetObject", v12, "s3:GetObject", true, "s3:GetObject", false},
		{"", v12, "", true, "", false},
		{"s3:Get*", v12, "", false, "s3:Get", false},
		{"*", v12, "", false, "", false},
		{"a?b", v12, "", false, "a", false},
		{"home/${aws:username}/*", v12, "", false, "home/", true},
		{"a${*}b", v12, "a*b", true, "a*b", false},
		{"a${*}b*", v12, "", false, "a*b", false},
		{"a${$}${?}", v12, "a$?", true, "a$?", false},
		{"home/${aws:username}", v08, "home/${aws:username}", true, "home/${aws:username}", false},
		{"a*b", literal, "a*b", true, "a*b", false},
		{"x${aws:nope, 'd'}", v12, "", false, "x", true},
	}
	for _, tt := range tests {
		p := MustCompile(tt.pattern, tt.opt)
		if lit, ok := p.Literal(); lit != tt.lit || ok != tt.isLit {
			t.Errorf("%q.Literal() = %q, %v; want %q, %v", tt.pattern, lit, ok, tt.lit, tt.isLit)
		}
		if got := p.Prefix(); got != tt.prefix {
			t.Errorf("%q.Prefix() = %q, want %q", tt.pattern, got, tt.prefix)
		}
		if got := p.HasVars(); got != tt.vars {
			t.Errorf("%q.HasVars() = %v, want %v", tt.pattern, got, tt.vars)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile did not panic on a malformed variable")
		}
	}()
	MustCompile("${", v12)
}
