package wildcard

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// matcher matches one value against a pattern. It lives on the caller's
// stack; vals holds the resolved variables.
//
// The request context travels beside the matcher, not in it: escape
// analysis does not tell a struct's fields apart, and the context, passed
// to an interface method, would drag the stack buffer behind vals to the
// heap with it.
type matcher struct {
	p    *Pattern
	vals []string
}

// resolveVars resolves p's variables into vals (the first len(vals) of
// them; the rest are checked and looked up again when met).
func (p *Pattern) resolveVars(vals []string, ctx keys.Context) bool {
	for i := range p.toks {
		t := &p.toks[i]
		if t.kind != tVar {
			continue
		}
		v, ok := resolve(ctx, t)
		if !ok {
			return false
		}
		if t.ord < len(vals) {
			vals[t.ord] = v
		}
	}
	return true
}

// text returns the text of a literal or (resolved) variable token.
func (m *matcher) text(t *token, ctx keys.Context) string {
	if t.kind == tLit {
		return t.text
	}
	if t.ord < len(m.vals) {
		return m.vals[t.ord]
	}
	v, _ := resolve(ctx, t)
	return v
}

// match matches s against the whole pattern.
//
// The pattern is a sequence of segments separated by stars. The first
// segment, unless the pattern starts with a star, must match at the start;
// the last, unless it ends with one, at the end; each segment in between
// is matched at its leftmost place after the previous one. Leftmost is
// enough: a segment's end moves right with its start, so the earliest
// match leaves the most room for the rest. No backtracking, O(len(s) ×
// len(pattern)) at worst.
func (m *matcher) match(s string, ctx keys.Context) bool {
	p := m.p
	segs := p.segs
	if len(segs) == 0 {
		// "" or "*"
		return !p.head || len(s) == 0
	}
	pos, first := 0, 0
	if p.head {
		end, ok := m.at(segs[0], s, 0, ctx)
		if !ok {
			return false
		}
		if len(segs) == 1 && p.tail {
			return end == len(s)
		}
		pos, first = end, 1
	}
	last := len(segs)
	if p.tail {
		last--
	}
	for k := first; k < last; k++ {
		end, ok := m.find(segs[k], s, pos, ctx)
		if !ok {
			return false
		}
		pos = end
	}
	if !p.tail {
		return true
	}
	return m.atEnd(segs[last], s, pos, ctx)
}

// at matches segment g at s[j:] and returns where the match ends.
func (m *matcher) at(g seg, s string, j int, ctx keys.Context) (int, bool) {
	for i := g.lo; i < g.hi; i++ {
		t := &m.p.toks[i]
		if t.kind == tOne {
			if j >= len(s) {
				return 0, false
			}
			_, n := utf8.DecodeRuneInString(s[j:])
			j += n
			continue
		}
		txt := m.text(t, ctx)
		if m.p.fold {
			n, ok := foldPrefix(s[j:], txt)
			if !ok {
				return 0, false
			}
			j += n
			continue
		}
		if !strings.HasPrefix(s[j:], txt) {
			return 0, false
		}
		j += len(txt)
	}
	return j, true
}

// find matches segment g at the leftmost character position from j on.
func (m *matcher) find(g seg, s string, j int, ctx keys.Context) (int, bool) {
	if g.plain {
		// A segment of valid UTF-8 literals can only match at a
		// character boundary, so a byte search finds the candidates.
		first := m.p.toks[g.lo].text
		for j <= len(s) {
			k := strings.Index(s[j:], first)
			if k < 0 {
				return 0, false
			}
			if end, ok := m.at(g, s, j+k, ctx); ok {
				return end, true
			}
			j += k + 1
		}
		return 0, false
	}
	c0 := m.first(g)
	for {
		if mayStart(c0, s, j) {
			if end, ok := m.at(g, s, j, ctx); ok {
				return end, true
			}
		}
		if j >= len(s) {
			return 0, false
		}
		_, n := utf8.DecodeRuneInString(s[j:])
		j += n
	}
}

// atEnd matches segment g so that it ends exactly at the end of s,
// starting at j or later.
func (m *matcher) atEnd(g seg, s string, j int, ctx keys.Context) bool {
	if g.plain {
		start := len(s) - g.n
		if start < j {
			return false
		}
		end, ok := m.at(g, s, start, ctx)
		return ok && end == len(s)
	}
	c0 := m.first(g)
	for {
		if mayStart(c0, s, j) {
			if end, ok := m.at(g, s, j, ctx); ok && end == len(s) {
				return true
			}
		}
		if j >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[j:])
		j += n
	}
}

// first returns the lower-cased first byte of segment g when it starts
// with ASCII text, and 0 when it does not.
func (m *matcher) first(g seg) byte {
	if t := &m.p.toks[g.lo]; t.kind == tLit && t.text[0] < utf8.RuneSelf {
		return lower(t.text[0])
	}
	return 0
}

// mayStart reports whether a segment whose first byte is c0 (see first)
// can match at s[j:]: an ASCII byte must equal c0 up to case, and a
// non-ASCII byte might still fold to it (the Kelvin sign folds to 'k').
func mayStart(c0 byte, s string, j int) bool {
	return c0 == 0 || j < len(s) && (s[j] >= utf8.RuneSelf || lower(s[j]) == c0)
}

// foldPrefix reports whether s starts with t up to case, character by
// character, and how many bytes of s that takes (folding can change a
// character's length: 'k' and the Kelvin sign).
func foldPrefix(s, t string) (int, bool) {
	i, j := 0, 0
	for j < len(t) {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], t[j]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if a != b && lower(a) != lower(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		r1, n1 := utf8.DecodeRuneInString(s[i:])
		r2, n2 := utf8.DecodeRuneInString(t[j:])
		if !runeFold(r1, n1, r2, n2, a, b) {
			return 0, false
		}
		i += n1
		j += n2
	}
	return i, true
}

func equalFold(s, t string) bool {
	n, ok := foldPrefix(s, t)
	return ok && n == len(s)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// runeFold reports whether two decoded characters are equal under simple
// folding. A byte that is not UTF-8 equals only the same byte.
func runeFold(r1 rune, n1 int, r2 rune, n2 int, b1, b2 byte) bool {
	bad1 := r1 == utf8.RuneError && n1 == 1
	bad2 := r2 == utf8.RuneError && n2 == 1
	if bad1 || bad2 {
		return bad1 && bad2 && b1 == b2
	}
	if r1 == r2 {
		return true
	}
	if r2 < r1 {
		r1, r2 = r2, r1
	}
	r := unicode.SimpleFold(r1)
	for r != r1 && r < r2 {
		r = unicode.SimpleFold(r)
	}
	return r == r2
}
