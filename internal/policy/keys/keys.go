// Package keys defines the request context that policies are evaluated
// against: condition keys and the policy variables drawn from them, the
// interface through which the matchers read them without allocating, and
// the catalogue of keys ztgate sets (docs/policy.md is generated from it).
package keys

import "strings"

// Context supplies a request's condition-key values. Key names compare
// case-insensitively, as in AWS. Implementations must not allocate in
// Lookup: it is on the decision's hot path.
type Context interface {
	// Lookup returns the values of key, and false when the request does
	// not carry the key at all.
	Lookup(key string) (Values, bool)
}

// Values holds a key's value: one string, or a list for multivalued keys
// (aws:TagKeys, zt:DeviceGroups). A list may be empty. The zero Values is
// a single empty string.
type Values struct {
	one   string
	list  []string
	multi bool
}

// Single returns a single-valued Values.
func Single(s string) Values { return Values{one: s} }

// List returns a multivalued Values; it keeps ss without copying.
func List(ss []string) Values { return Values{list: ss, multi: true} }

// Multi reports whether the key is multivalued (even with one element).
func (v Values) Multi() bool { return v.multi }

// Len returns the number of values.
func (v Values) Len() int {
	if v.multi {
		return len(v.list)
	}
	return 1
}

// At returns value i.
func (v Values) At(i int) string {
	if v.multi {
		return v.list[i]
	}
	return v.one
}

// Map is a Context over a Go map, for tests and tools; keys are matched
// case-insensitively. It is not allocation-free: the decision path uses
// the request's own context type.
type Map map[string]Values

// Lookup implements Context.
func (m Map) Lookup(key string) (Values, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return Values{}, false
}

var _ Context = Map(nil)

// Pair is one key and its values.
type Pair struct {
	Key    string
	Values Values
}

// Pairs is a Context over a fixed list of keys, read without allocating:
// exact names first, then case-insensitively.
type Pairs []Pair

// Lookup implements Context.
func (p Pairs) Lookup(key string) (Values, bool) {
	for i := range p {
		if p[i].Key == key {
			return p[i].Values, true
		}
	}
	for i := range p {
		if strings.EqualFold(p[i].Key, key) {
			return p[i].Values, true
		}
	}
	return Values{}, false
}

var _ Context = Pairs(nil)
