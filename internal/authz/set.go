package authz

import "strings"

// Set is a group of compiled policies playing one role (a principal's
// identity policies, one guardrail level), indexed by action so that a
// decision looks only at statements that can apply to its action. A Set
// is immutable once built.
type Set struct {
	Policies []*Policy
	exact    map[string][]*Statement // by lower-case action, for literal actions
	service  map[string][]*Statement // by lower-case service prefix, for "svc:Get*"
	rest     []*Statement            // NotAction, "*" and other patterns
	size     int
}

// NewSet indexes policies. A nil or empty list gives an empty, non-nil
// set: a layer that is present and allows nothing.
func NewSet(policies ...*Policy) *Set {
	s := &Set{Policies: policies, exact: map[string][]*Statement{}, service: map[string][]*Statement{}}
	for _, p := range policies {
		for i := range p.Statements {
			st := &p.Statements[i]
			s.size++
			s.index(st)
		}
	}
	return s
}

// Len returns the number of statements.
func (s *Set) Len() int { return s.size }

func (s *Set) index(st *Statement) {
	if st.notAction || st.anyAction || len(st.actions) == 0 {
		s.rest = append(s.rest, st)
		return
	}
	// Each key once per statement, even if two patterns share it.
	var exact, service []string
	for _, p := range st.actions {
		if lit, ok := p.Literal(); ok {
			exact = appendOnce(exact, strings.ToLower(lit))
			continue
		}
		pre := p.Prefix()
		svc, _, ok := strings.Cut(pre, ":")
		if !ok || svc == "" {
			s.rest = append(s.rest, st)
			return
		}
		service = appendOnce(service, strings.ToLower(svc))
	}
	for _, k := range exact {
		s.exact[k] = append(s.exact[k], st)
	}
	for _, k := range service {
		s.service[k] = append(s.service[k], st)
	}
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// maxIndexedAction bounds the actions looked up in the index; longer
// ones (never seen in practice) fall back to every statement.
const maxIndexedAction = 128

// candidates calls fn with each statement that may apply to action, each
// once, until fn returns false. It does not allocate.
func (s *Set) candidates(action string, fn func(*Statement) bool) {
	if len(action) > maxIndexedAction {
		for _, p := range s.Policies {
			for i := range p.Statements {
				if !fn(&p.Statements[i]) {
					return
				}
			}
		}
		return
	}
	var buf [maxIndexedAction]byte
	lower := buf[:len(action)]
	svcLen := -1
	for i := 0; i < len(action); i++ {
		c := action[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == ':' && svcLen < 0 {
			svcLen = i
		}
		lower[i] = c
	}
	exact := s.exact[string(lower)]
	var service []*Statement
	if svcLen > 0 {
		service = s.service[string(lower[:svcLen])]
	}
	for _, st := range exact {
		if !fn(st) {
			return
		}
	}
	for _, st := range service {
		// A statement with both kinds of action is in both lists.
		if inList(exact, st) {
			continue
		}
		if !fn(st) {
			return
		}
	}
	for _, st := range s.rest {
		if !fn(st) {
			return
		}
	}
}

func inList(list []*Statement, st *Statement) bool {
	for _, x := range list {
		if x == st {
			return true
		}
	}
	return false
}
