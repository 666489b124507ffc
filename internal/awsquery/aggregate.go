package awsquery

import (
	"sort"
	"strconv"
	"strings"
)

// element is one numbered element of a list or map: its bare value
// (name.member.N=v) and what lies beneath it (name.member.N.Field=v).
type element struct {
	bare  bool
	value string
	sub   Params
}

// elements reads name's numbered elements in wrapped form
// (name.<wrapper>.N) or flattened form (name.N), not both, and returns
// them with the form the client used: wrapper, or "" for flattened. It
// returns nil when neither form nor a bare name is given. A bare name with an
// empty value and no elements is how clients send an empty list: it
// yields an empty, non-nil slice.
func (p Params) elements(name, wrapper string) (els []element, form string, err error) {
	s := p.Sub(name)
	bare := p.find(name)
	if bare < 0 && len(s.fields) == 0 {
		return nil, "", nil
	}
	wlo, whi := s.under(wrapper)
	dlo, dhi := s.digits()
	var view Params
	switch {
	case whi > wlo && dhi > dlo:
		return nil, "", invalid(name, "has elements both as "+wrapper+".N and as N")
	case whi > wlo:
		view, form = Params{fields: s.fields[wlo:whi], cut: s.cut + len(wrapper) + 1}, wrapper
	default:
		view = Params{fields: s.fields[dlo:dhi], cut: s.cut}
	}
	if len(view.fields) != len(s.fields) {
		// Something under name in neither form, such as name.Foo.
		for i := range s.fields {
			if (i < wlo || i >= whi) && (i < dlo || i >= dhi) {
				return nil, "", invalid(name+"."+s.key(i), "is neither an element of "+clip(name)+" nor a known parameter")
			}
		}
	}
	if bare >= 0 {
		if p.fields[bare].value != "" {
			return nil, "", invalid(name, "has a value, but is a list: give its elements as "+name+"."+wrapper+".N")
		}
		if len(view.fields) > 0 {
			return nil, "", invalid(name, "is given both empty and with elements")
		}
		return []element{}, form, nil
	}
	// The names of one element sort together ("1" < "1.x" < "10"), so
	// each element is one run of the view. There are at most as many
	// elements as names.
	els = make([]element, 0, len(view.fields))
	for i := 0; i < len(view.fields); {
		k := view.key(i)
		digits, _, _ := strings.Cut(k, ".")
		n, ok := index(digits)
		if !ok {
			return nil, "", invalid(elementName(name, form, k), "has an index that is not a number from 1 to "+strconv.Itoa(MaxParams))
		}
		if n > len(els) {
			els = append(els, make([]element, n-len(els))...)
		}
		e, start := &els[n-1], i
		if k == digits {
			e.bare, e.value = true, view.fields[i].value
			i++
		}
		if lo, hi := view.under(digits); lo == i && hi > lo {
			e.sub = Params{fields: view.fields[lo:hi], cut: view.cut + len(digits) + 1}
			i = hi
		}
		if i == start { // cannot happen: k is "N" or starts "N."
			return nil, "", invalid(elementName(name, form, k), "cannot be read")
		}
	}
	for i := range els {
		if !els[i].bare && len(els[i].sub.fields) == 0 {
			return nil, "", invalid(elementName(name, form, strconv.Itoa(i+1)), "is missing: elements must be numbered 1 to "+strconv.Itoa(len(els))+" without gaps")
		}
	}
	return els, form, nil
}

// elementName is the name of element k of name as the client wrote it,
// for messages.
func elementName(name, form, k string) string {
	if form == "" {
		return name + "." + k
	}
	return name + "." + form + "." + k
}

// digits returns the range of names that start with a digit: they sort
// from "0" up to ":", the byte after '9'.
func (p Params) digits() (lo, hi int) {
	lo = sort.Search(len(p.fields), func(i int) bool { return p.key(i) >= "0" })
	hi = lo + sort.Search(len(p.fields)-lo, func(i int) bool { return p.key(lo+i) >= ":" })
	return lo, hi
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// index parses a list index: 1 to MaxParams, no sign, no leading zero.
func index(s string) (int, bool) {
	if s == "" || len(s) > 4 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= MaxParams
}

// List returns the list of strings name: name.member.1 to name.member.N,
// or in flattened form name.1 to name.N. A list given as a bare empty
// name (name=) is empty; an absent list is nil. A gap in the numbering,
// an element with fields beneath it or both forms at once is ErrInvalid.
func (p Params) List(name string) ([]string, error) {
	els, form, err := p.elements(name, "member")
	if err != nil || els == nil {
		return nil, err
	}
	out := make([]string, len(els))
	for i, e := range els {
		if !e.bare || len(e.sub.fields) > 0 {
			return nil, invalid(elementName(name, form, strconv.Itoa(i+1)), "is a structure in a list of strings")
		}
		out[i] = e.value
	}
	return out, nil
}

// Structs returns the list of structures name: for each N, the
// parameters under name.member.N (or name.N), with that prefix removed,
// so Structs("Tags")[0].Get("Key") is Tags.member.1.Key. Fields may nest.
// An element given as a bare value is ErrInvalid, as for List.
func (p Params) Structs(name string) ([]Params, error) {
	els, form, err := p.elements(name, "member")
	if err != nil || els == nil {
		return nil, err
	}
	out := make([]Params, len(els))
	for i, e := range els {
		if e.bare {
			return nil, invalid(elementName(name, form, strconv.Itoa(i+1)), "is a string in a list of structures")
		}
		out[i] = e.sub
	}
	return out, nil
}

// Map returns the map of strings name: name.entry.N.key and
// name.entry.N.value (or name.N.key and name.N.value). An entry without
// either, with other fields or repeating an earlier key is ErrInvalid.
// For maps whose values are structures or lists, or whose entries use
// other names than key and value, read the entries with
// Structs(name + ".entry") or, when flattened, Structs(name).
func (p Params) Map(name string) (map[string]string, error) {
	els, form, err := p.elements(name, "entry")
	if err != nil || els == nil {
		return nil, err
	}
	out := make(map[string]string, len(els))
	for i, e := range els {
		en := elementName(name, form, strconv.Itoa(i+1))
		if e.bare {
			return nil, invalid(en, "is a string, not a map entry")
		}
		if !e.sub.Has("key") {
			return nil, invalid(en+".key", "is missing")
		}
		if !e.sub.Has("value") {
			return nil, invalid(en+".value", "is missing")
		}
		if len(e.sub.fields) != 2 {
			for j := range e.sub.fields {
				if k := e.sub.key(j); k != "key" && k != "value" {
					return nil, invalid(en+"."+k, "is not part of a map entry")
				}
			}
		}
		k := e.sub.Get("key")
		if _, dup := out[k]; dup {
			return nil, invalid(en+".key", "repeats an earlier entry's key")
		}
		out[k] = e.sub.Get("value")
	}
	return out, nil
}
