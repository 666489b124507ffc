package wildcard

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// ErrNotARN classifies an ARN pattern that does not have the six parts of
// arn:partition:service:region:account-id:resource.
var ErrNotARN = errors.New("not an ARN")

// arnParts is the number of colon-separated parts of an ARN.
const arnParts = 6

// ARNPattern is a compiled ARN pattern, matched part by part as the
// ArnLike and ArnEquals condition operators do. It is safe for concurrent
// use.
type ARNPattern struct {
	src   string
	parts [arnParts]*Pattern
	vars  bool
}

// CompileARN compiles an ARN pattern. It fails with ErrNotARN when s has
// fewer than six colon-separated parts, and with ErrVariable when a policy
// variable is malformed.
func CompileARN(s string, o Options) (*ARNPattern, error) {
	var raw [arnParts]string
	n, start := 0, 0
	for i := 0; i < len(s); {
		if o.Vars && strings.HasPrefix(s[i:], "${") {
			// A colon inside a variable (${aws:username}) does not
			// separate parts.
			_, k, err := parseVar(s[i:])
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", s, err)
			}
			i += k
			continue
		}
		if s[i] == ':' && n < arnParts-1 {
			raw[n] = s[start:i]
			n++
			start = i + 1
		}
		i++
	}
	if n < arnParts-1 {
		return nil, fmt.Errorf("pattern %q: %w", s, ErrNotARN)
	}
	raw[arnParts-1] = s[start:]
	a := &ARNPattern{src: s}
	for k, r := range raw {
		p, err := Compile(r, o)
		if err != nil {
			return nil, err
		}
		a.parts[k] = p
		a.vars = a.vars || p.HasVars()
	}
	return a, nil
}

// String returns the pattern as written.
func (a *ARNPattern) String() string { return a.src }

// HasVars reports whether the pattern holds policy variables.
func (a *ARNPattern) HasVars() bool { return a.vars }

// Match reports whether the ARN s matches the pattern. A value without
// six parts matches nothing. It does not allocate.
func (a *ARNPattern) Match(s string, ctx keys.Context) bool {
	m, _ := a.Test(s, ctx)
	return m
}

// Test is Match that also reports whether there was a verdict: ok is false
// when s is not an ARN or a variable did not resolve.
func (a *ARNPattern) Test(s string, ctx keys.Context) (matched, ok bool) {
	v, isARN := splitARN(s)
	if !isARN {
		return false, false
	}
	for k, p := range a.parts {
		m, ok := p.Test(v[k], ctx)
		if !ok {
			return false, false
		}
		if !m {
			// The verdict is "no match" only if the remaining parts'
			// variables resolve.
			for _, q := range a.parts[k+1:] {
				if !q.resolves(ctx) {
					return false, false
				}
			}
			return false, true
		}
	}
	return true, true
}

// splitARN splits s at its first five colons.
func splitARN(s string) (parts [arnParts]string, ok bool) {
	for k := range arnParts - 1 {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return parts, false
		}
		parts[k], s = s[:i], s[i+1:]
	}
	parts[arnParts-1] = s
	return parts, true
}
