package wildcard

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// refVar finds a policy variable the way the documentation writes it,
// independently of the compiler: ${name} or ${name, 'default'}.
var refVar = regexp.MustCompile(`^\$\{[ \t]*([^,}'${*?]*?)[ \t]*(?:,[ \t]*'([^']*)'[ \t]*)?\}`)

// reference translates a pattern into an anchored regular expression,
// variables already substituted from ctx. ok is false when a variable does
// not resolve.
func reference(pat string, o Options, ctx keys.Context) (re *regexp.Regexp, ok bool) {
	var b strings.Builder
	b.WriteString(`(?s)`)
	if o.Fold {
		b.WriteString(`(?i)`)
	}
	b.WriteString(`^`)
	for i := 0; i < len(pat); {
		rest := pat[i:]
		switch {
		case o.Vars && strings.HasPrefix(rest, "${*}"), o.Vars && strings.HasPrefix(rest, "${?}"), o.Vars && strings.HasPrefix(rest, "${$}"):
			b.WriteString(regexp.QuoteMeta(rest[2:3]))
			i += 4
			continue
		case o.Vars && strings.HasPrefix(rest, "${"):
			m := refVar.FindStringSubmatchIndex(rest)
			if m == nil {
				return nil, false
			}
			name := rest[m[2]:m[3]]
			val, found := "", false
			if v, ok := ctx.Lookup(name); ok && !v.Multi() {
				val, found = v.At(0), true
			} else if m[4] >= 0 {
				val, found = rest[m[4]:m[5]], true
			}
			if !found {
				return nil, false
			}
			b.WriteString(regexp.QuoteMeta(val))
			i += m[1]
			continue
		case rest[0] == '*' && !o.NoWildcards:
			b.WriteString(`.*`)
		case rest[0] == '?' && !o.NoWildcards:
			b.WriteString(`.`)
		default:
			_, n := utf8.DecodeRuneInString(rest)
			b.WriteString(regexp.QuoteMeta(rest[:n]))
			i += n
			continue
		}
		i++
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String()), true
}

func FuzzPattern(f *testing.F) {
	for _, s := range []struct {
		pat, val, user string
		mode           uint8
	}{
		{"s3:Get*", "s3:GetObject", "alice", 1},
		{"home/${aws:username}/*", "home/alice/x", "alice", 1},
		{"*a*b?c*", "xaxbyc", "", 1},
		{"${aws:username, 'guest'}", "guest", "", 1},
		{"a${*}b${?}${$}", "a*b?$", "", 1},
		{"S3:GET*", "s3:getobject", "", 3},
		{"home/${aws:username}", "home/${aws:username}", "", 0},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "", 5},
		{"${aws:username}*", "a*b", "a*", 1},
	} {
		f.Add(s.pat, s.val, s.user, s.mode)
	}
	f.Fuzz(func(t *testing.T, pat, val, user string, mode uint8) {
		o := Options{Vars: mode&1 != 0, Fold: mode&2 != 0, NoWildcards: mode&8 != 0}
		ctx := keys.Map{
			"aws:username":    keys.Single(user),
			"zt:DeviceGroups": keys.List([]string{user, "x"}),
		}
		p, err := Compile(pat, o)
		if mode&4 != 0 {
			// The ARN matcher: never panics, and agrees with matching
			// each part by itself.
			a, err := CompileARN(pat, o)
			if err != nil {
				if !errors.Is(err, ErrNotARN) && !errors.Is(err, ErrVariable) {
					t.Fatalf("CompileARN(%q): unclassified error %v", pat, err)
				}
				return
			}
			got := a.Match(val, ctx)
			parts, isARN := splitARN(val)
			want := isARN
			for k := range parts {
				want = want && a.parts[k].Match(parts[k], ctx)
			}
			if got != want {
				t.Fatalf("CompileARN(%q).Match(%q) = %v, parts say %v", pat, val, got, want)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrVariable) {
				t.Fatalf("Compile(%q): unclassified error %v", pat, err)
			}
			return
		}
		got, ok := p.Test(val, ctx)
		if again, _ := p.Test(val, ctx); again != got {
			t.Fatalf("Match(%q, %q) is not deterministic", pat, val)
		}
		if lit, isLit := p.Literal(); isLit && !o.Fold && got != (val == lit) {
			t.Fatalf("literal %q: Match(%q) = %v", lit, val, got)
		}
		if got && !o.Fold && !strings.HasPrefix(val, p.Prefix()) {
			t.Fatalf("%q matches %q but not its prefix %q", pat, val, p.Prefix())
		}
		if !utf8.ValidString(pat) || !utf8.ValidString(val) || !utf8.ValidString(user) {
			return
		}
		re, refOK := reference(pat, o, ctx)
		if refOK != ok {
			t.Fatalf("Compile(%q, %+v).Test(%q): resolved %v, reference says %v", pat, o, val, ok, refOK)
		}
		if !ok {
			if got {
				t.Fatalf("unresolved %q matched %q", pat, val)
			}
			return
		}
		if want := re.MatchString(val); got != want {
			t.Fatalf("Compile(%q, %+v).Match(%q) = %v, reference %s says %v", pat, o, val, got, re, want)
		}
	})
}
