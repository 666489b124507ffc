package wildcard

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// ErrVariable classifies a malformed policy variable: "${" without its
// "}", an empty name, or a default that is not single-quoted.
var ErrVariable = errors.New("malformed policy variable")

// Options choose how a pattern is read.
type Options struct {
	// Fold matches case-insensitively (Unicode simple folding), as for
	// actions and the ...IgnoreCase condition operators.
	Fold bool
	// Vars expands ${...} policy variables (policy version 2012-10-17).
	// Without it (2008-10-17) "${" is ordinary text.
	Vars bool
	// NoWildcards makes '*' and '?' ordinary characters, for operators
	// that compare whole strings (StringEquals, Bool) but still expand
	// policy variables.
	NoWildcards bool
}

type tokKind uint8

const (
	tLit  tokKind = iota // text, matched as written
	tVar                 // policy variable, matched as text once resolved
	tOne                 // '?'
	tStar                // '*'
)

type token struct {
	kind   tokKind
	text   string // tLit: the text; tVar: the key
	def    string // tVar: default value
	hasDef bool
	ord    int  // tVar: index among the pattern's variables
	utf8   bool // tLit: text is valid UTF-8 (see find)
}

// seg is a run of tokens between stars.
type seg struct {
	lo, hi int
	// plain: only valid-UTF-8 literals, so that when the pattern does
	// not fold its byte length is known and a match can start only at a
	// character boundary.
	plain bool
	n     int // plain: byte length
}

type shape uint8

const (
	shapeGeneral shape = iota
	shapeLiteral       // no wildcards, no variables: lit
	shapePrefix        // lit + "*"
	shapeSuffix        // "*" + lit
	shapeAny           // "*"
)

// Pattern is a compiled pattern. It is safe for concurrent use.
type Pattern struct {
	src   string
	fold  bool
	toks  []token
	segs  []seg
	head  bool // the first segment is anchored at the start of the value
	tail  bool // the last segment is anchored at the end of the value
	nvars int
	shape shape
	lit   string // shapeLiteral, shapePrefix, shapeSuffix: the text
	pre   string // plain text before the first wildcard or variable
}

// Compile compiles the pattern s. It fails only on a malformed policy
// variable (ErrVariable), and only with Options.Vars.
func Compile(s string, o Options) (*Pattern, error) {
	p := &Pattern{src: s, fold: o.Fold}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t := lit.String()
			p.toks = append(p.toks, token{kind: tLit, text: t, utf8: utf8.ValidString(t)})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '*' && !o.NoWildcards:
			flush()
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != tStar {
				p.toks = append(p.toks, token{kind: tStar})
			}
			i++
		case c == '?' && !o.NoWildcards:
			flush()
			p.toks = append(p.toks, token{kind: tOne})
			i++
		case c == '$' && o.Vars && strings.HasPrefix(s[i:], "${"):
			v, n, err := parseVar(s[i:])
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", s, err)
			}
			if v.special != 0 {
				lit.WriteByte(v.special)
			} else {
				flush()
				p.toks = append(p.toks, token{kind: tVar, text: v.name, def: v.def, hasDef: v.hasDef, ord: p.nvars})
				p.nvars++
			}
			i += n
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	p.layout()
	return p, nil
}

// MustCompile is Compile for patterns known to be valid; it panics on
// error. For tests and fixed tables.
func MustCompile(s string, o Options) *Pattern {
	p, err := Compile(s, o)
	if err != nil {
		panic(err)
	}
	return p
}

func (p *Pattern) layout() {
	t := p.toks
	for i := range t {
		if t[i].kind != tLit {
			break
		}
		p.pre += t[i].text
	}
	p.head = len(t) == 0 || t[0].kind != tStar
	p.tail = len(t) == 0 || t[len(t)-1].kind != tStar
	for lo := 0; lo < len(t); {
		if t[lo].kind == tStar {
			lo++
			continue
		}
		hi := lo
		sg := seg{lo: lo, plain: !p.fold}
		for ; hi < len(t) && t[hi].kind != tStar; hi++ {
			if t[hi].kind != tLit || !t[hi].utf8 {
				sg.plain = false
			}
			sg.n += len(t[hi].text)
		}
		sg.hi = hi
		p.segs = append(p.segs, sg)
		lo = hi
	}
	switch {
	case len(t) == 0:
		p.shape = shapeLiteral
	case len(t) == 1 && t[0].kind == tLit:
		p.shape, p.lit = shapeLiteral, t[0].text
	case len(t) == 1 && t[0].kind == tStar:
		p.shape = shapeAny
	case len(t) == 2 && t[0].kind == tLit && t[1].kind == tStar:
		p.shape, p.lit = shapePrefix, t[0].text
	case len(t) == 2 && t[0].kind == tStar && t[1].kind == tLit && t[1].utf8 && !p.fold:
		p.shape, p.lit = shapeSuffix, t[1].text
	}
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// Literal returns the text the pattern matches when it has neither
// wildcards nor variables (with ${*} and friends already read as their
// characters). With Options.Fold the text matches case-insensitively.
func (p *Pattern) Literal() (string, bool) {
	if p.shape == shapeLiteral {
		return p.lit, true
	}
	return "", false
}

// Prefix returns the plain text that every matching value starts with:
// the pattern's text before its first wildcard or variable (the whole
// text of a literal pattern). With Options.Fold it is a prefix up to case.
func (p *Pattern) Prefix() string { return p.pre }

// HasVars reports whether the pattern holds policy variables, whose
// values come from the request.
func (p *Pattern) HasVars() bool { return p.nvars > 0 }

// Match reports whether s matches the pattern, variables taken from ctx.
// It does not allocate. ctx may be nil when the pattern has no variables
// (with variables, a nil ctx resolves only defaults).
func (p *Pattern) Match(s string, ctx keys.Context) bool {
	m, _ := p.Test(s, ctx)
	return m
}

// Test is Match that also reports whether there was a verdict: ok is false
// when a variable did not resolve, and then matched is false too. Negated
// condition operators need the difference: a value that cannot be
// compared satisfies neither StringLike nor StringNotLike.
func (p *Pattern) Test(s string, ctx keys.Context) (matched, ok bool) {
	switch p.shape {
	case shapeLiteral:
		if p.fold {
			return equalFold(s, p.lit), true
		}
		return s == p.lit, true
	case shapePrefix:
		if p.fold {
			_, m := foldPrefix(s, p.lit)
			return m, true
		}
		return strings.HasPrefix(s, p.lit), true
	case shapeSuffix:
		return strings.HasSuffix(s, p.lit), true
	case shapeAny:
		return true, true
	}
	if p.nvars == 0 {
		m := matcher{p: p}
		return m.match(s, nil), true
	}
	// Variables are resolved once, up front, into a buffer on the stack;
	// the rare pattern with more variables than the buffer holds looks
	// the rest up again each time it meets them.
	var buf [8]string
	m := matcher{p: p, vals: buf[:min(p.nvars, len(buf))]}
	if !p.resolveVars(m.vals, ctx) {
		return false, false
	}
	return m.match(s, ctx), true
}

// resolves reports whether every variable of p resolves in ctx.
func (p *Pattern) resolves(ctx keys.Context) bool {
	if p.nvars == 0 {
		return true
	}
	for i := range p.toks {
		if t := &p.toks[i]; t.kind == tVar {
			if _, ok := resolve(ctx, t); !ok {
				return false
			}
		}
	}
	return true
}

// resolve returns the value of a variable token.
func resolve(ctx keys.Context, t *token) (string, bool) {
	if ctx != nil {
		if v, ok := ctx.Lookup(t.text); ok && !v.Multi() {
			return v.At(0), true
		}
	}
	if t.hasDef {
		return t.def, true
	}
	return "", false
}

type varSpec struct {
	name    string
	def     string
	hasDef  bool
	special byte // '*', '?' or '$' for ${*} ${?} ${$}
}

// parseVar reads the variable at the start of s, which begins with "${",
// and returns it with the number of bytes it spans.
func parseVar(s string) (varSpec, int, error) {
	var v varSpec
	j := 2
	for j < len(s) && s[j] != '}' && s[j] != ',' {
		j++
	}
	if j == len(s) {
		return v, 0, fmt.Errorf("%w: %q has no closing '}'", ErrVariable, s)
	}
	raw := s[2:j]
	if s[j] == '}' && len(raw) == 1 && (raw[0] == '*' || raw[0] == '?' || raw[0] == '$') {
		v.special = raw[0]
		return v, j + 1, nil
	}
	v.name = strings.Trim(raw, " \t")
	if v.name == "" {
		return v, 0, fmt.Errorf("%w: %q has no name", ErrVariable, s[:j+1])
	}
	if strings.ContainsAny(v.name, "${'*?") {
		return v, 0, fmt.Errorf("%w: %q: invalid character in name", ErrVariable, s[:j+1])
	}
	if s[j] == '}' {
		return v, j + 1, nil
	}
	k := skipSpace(s, j+1)
	if k == len(s) || s[k] != '\'' {
		return v, 0, fmt.Errorf("%w: %q: default value must be single-quoted", ErrVariable, s)
	}
	end := strings.IndexByte(s[k+1:], '\'')
	if end < 0 {
		return v, 0, fmt.Errorf("%w: %q: default value has no closing quote", ErrVariable, s)
	}
	v.def, v.hasDef = s[k+1:k+1+end], true
	k = skipSpace(s, k+1+end+1)
	if k == len(s) || s[k] != '}' {
		return v, 0, fmt.Errorf("%w: %q: expected '}' after the default value", ErrVariable, s)
	}
	return v, k + 1, nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
