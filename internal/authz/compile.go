package authz

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

// Policy is a compiled policy document: immutable, safe for concurrent
// use, and evaluated without allocating.
type Policy struct {
	// Name identifies the policy in decisions ("arn:zt:iam::…:policy/x",
	// "user/alice/inline/p1").
	Name       string
	Statements []Statement
}

// Statement is a compiled statement.
type Statement struct {
	Policy *Policy
	Index  int // position in the document, from 0
	Sid    string
	Allow  bool

	actions   []*wildcard.Pattern // nil: Action absent (NotAction or none)
	notAction bool
	anyAction bool // Action "*" (or NotAction that excludes nothing)

	resources   []*wildcard.Pattern
	notResource bool
	anyResource bool // Resource absent or "*"

	principal    *principalMatcher // nil: no Principal element
	notPrincipal bool

	conds []*condition.Condition
}

// Compile compiles a parsed document. It reports the first element that
// cannot be compiled (a bad pattern or condition value).
func Compile(name string, doc *policy.Document) (*Policy, error) {
	return NewCompiler().Compile(name, doc)
}

// Compiler compiles many policies, sharing the compiled form of every
// pattern and condition they repeat: policies written from templates
// repeat most of them, and sharing keeps a snapshot's memory close to the
// size of what is distinct. Compiled patterns and conditions are
// immutable, so sharing them is safe. A Compiler is not safe for
// concurrent use.
type Compiler struct {
	patterns   map[patternKey]*wildcard.Pattern
	conditions map[string]*condition.Condition
}

type patternKey struct {
	src string
	o   wildcard.Options
}

// NewCompiler returns a compiler with empty caches.
func NewCompiler() *Compiler {
	return &Compiler{patterns: map[patternKey]*wildcard.Pattern{}, conditions: map[string]*condition.Condition{}}
}

func (c *Compiler) pattern(s string, o wildcard.Options) (*wildcard.Pattern, error) {
	k := patternKey{s, o}
	if p, ok := c.patterns[k]; ok {
		return p, nil
	}
	p, err := wildcard.Compile(s, o)
	if err != nil {
		return nil, err
	}
	c.patterns[k] = p
	return p, nil
}

func (c *Compiler) condition(op, key string, vals []string, o condition.Options) (*condition.Condition, error) {
	// A key no operator, key or value can forge: lengths prefix each part.
	var b strings.Builder
	for _, part := range append([]string{op, key, fmt.Sprint(o.Vars), fmt.Sprint(o.Lenient)}, vals...) {
		fmt.Fprintf(&b, "%d:%s", len(part), part)
	}
	k := b.String()
	if cc, ok := c.conditions[k]; ok {
		return cc, nil
	}
	cc, err := condition.Compile(op, key, vals, o)
	if err != nil {
		return nil, err
	}
	c.conditions[k] = cc
	return cc, nil
}

// Compile compiles a parsed document, sharing what earlier policies
// compiled.
func (c *Compiler) Compile(name string, doc *policy.Document) (*Policy, error) {
	vars := doc.Version == policy.Version2012
	p := &Policy{Name: name, Statements: make([]Statement, 0, len(doc.Statements))}
	for i, st := range doc.Statements {
		s := Statement{Policy: p, Index: i, Sid: st.Sid, Allow: st.Effect == policy.Allow}
		var err error
		switch {
		case st.Action != nil:
			s.actions, s.anyAction, err = c.patternList(st.Action, wildcard.Options{Fold: true})
		case st.NotAction != nil:
			s.notAction = true
			s.actions, _, err = c.patternList(st.NotAction, wildcard.Options{Fold: true})
		}
		if err != nil {
			return nil, fmt.Errorf("statement %d: action: %w", i, err)
		}
		switch {
		case st.Resource != nil:
			s.resources, s.anyResource, err = c.patternList(st.Resource, wildcard.Options{Vars: vars})
		case st.NotResource != nil:
			s.notResource = true
			s.resources, _, err = c.patternList(st.NotResource, wildcard.Options{Vars: vars})
		default:
			s.anyResource = true
		}
		if err != nil {
			return nil, fmt.Errorf("statement %d: resource: %w", i, err)
		}
		switch {
		case st.Principal != nil:
			s.principal, err = compilePrincipal(st.Principal)
		case st.NotPrincipal != nil:
			s.notPrincipal = true
			s.principal, err = compilePrincipal(st.NotPrincipal)
		}
		if err != nil {
			return nil, fmt.Errorf("statement %d: principal: %w", i, err)
		}
		for _, cond := range st.Conditions {
			vals := make([]string, len(cond.Values))
			for j, v := range cond.Values {
				vals[j] = v.S
			}
			// Lenient: a value AWS accepts but cannot read makes a
			// condition that never matches, as AWS evaluates it.
			cc, err := c.condition(cond.Operator, cond.Key, vals, condition.Options{Vars: vars, Lenient: true})
			if err != nil {
				return nil, fmt.Errorf("statement %d: condition %s %s: %w", i, cond.Operator, cond.Key, err)
			}
			s.conds = append(s.conds, cc)
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

// CompileJSON parses, validates (as a policy of kind) and compiles a
// document.
func CompileJSON(name string, data []byte, kind policy.Kind) (*Policy, error) {
	doc, errs := policy.Check(data, kind)
	if len(errs) > 0 {
		return nil, errs
	}
	return Compile(name, doc)
}

func (c *Compiler) patternList(vs []policy.Value, o wildcard.Options) (ps []*wildcard.Pattern, any bool, err error) {
	ps = make([]*wildcard.Pattern, 0, len(vs))
	for _, v := range vs {
		// Not trimmed: "s3:GetObject " is another action, as in AWS.
		s := v.S
		if s == "*" {
			any = true
		}
		p, err := c.pattern(s, o)
		if err != nil {
			return nil, false, fmt.Errorf("%q: %w", v.S, err)
		}
		ps = append(ps, p)
	}
	return ps, any, nil
}

// matchAny reports whether s matches one of ps.
func matchAny(ps []*wildcard.Pattern, s string, ctx keys.Context) bool {
	for _, p := range ps {
		if p.Match(s, ctx) {
			return true
		}
	}
	return false
}

// principalMatcher matches a Principal element against a caller.
type principalMatcher struct {
	everyone bool     // "*" or {"AWS": "*"}
	accounts []string // 12-digit ids and …:root ARNs, as account ids
	arns     []string // exact user, role, session, federated ARNs
	roles    []string // role ARNs without path, which also match their sessions
	services []string
	spiffe   []*wildcard.Pattern
	patterns []*wildcard.Pattern // ARNs written with wildcards
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

func compilePrincipal(p *policy.Principal) (*principalMatcher, error) {
	m := &principalMatcher{everyone: p.Wildcard}
	for _, e := range p.Entries {
		for _, v := range e.Values {
			s := v.S
			switch e.Type {
			case policy.PrincipalAWS:
				switch {
				case s == "*":
					m.everyone = true
				case accountID.MatchString(s):
					m.accounts = append(m.accounts, s)
				case strings.ContainsAny(s, "*?"):
					pat, err := wildcard.Compile(s, wildcard.Options{})
					if err != nil {
						return nil, err
					}
					m.patterns = append(m.patterns, pat)
				default:
					pp := ParsePrincipal(s)
					switch pp.Kind {
					case AccountRoot:
						m.accounts = append(m.accounts, pp.Account)
					case Role:
						m.roles = append(m.roles, pp.RoleARN)
					default:
						m.arns = append(m.arns, s)
					}
				}
			case policy.PrincipalService:
				m.services = append(m.services, s)
			case policy.PrincipalFederated:
				m.arns = append(m.arns, s)
			case policy.PrincipalSPIFFE:
				pat, err := wildcard.Compile(s, wildcard.Options{})
				if err != nil {
					return nil, err
				}
				m.spiffe = append(m.spiffe, pat)
			case policy.PrincipalCanonicalUser:
				// Not modelled: matches no caller.
			}
		}
	}
	return m, nil
}

// grant says how a principal element matched a caller.
type grant uint8

const (
	noMatch     grant = iota
	viaAccount        // the caller's account: delegates to its identity policies
	viaEveryone       // "*"
	viaRole           // the caller's role (for a session, its role)
	direct            // the caller's own ARN (user, session, service…)
)

func (m *principalMatcher) match(p *Principal) grant {
	if m.everyone {
		return viaEveryone
	}
	if p.Kind == Anonymous {
		return noMatch
	}
	for _, a := range m.arns {
		if a == p.ARN {
			return direct
		}
	}
	if p.Kind == RoleSession || p.Kind == Role {
		for _, r := range m.roles {
			if r == p.RoleARN {
				return viaRole
			}
		}
	}
	switch p.Kind {
	case Service:
		for _, s := range m.services {
			if s == p.ARN {
				return direct
			}
		}
		return noMatch
	case Workload:
		for _, s := range m.spiffe {
			if s.Match(p.ARN, nil) {
				return direct
			}
		}
		return noMatch
	}
	for _, pat := range m.patterns {
		if pat.Match(p.ARN, nil) {
			return direct
		}
	}
	for _, a := range m.accounts {
		if a == p.Account {
			return viaAccount
		}
	}
	return noMatch
}
