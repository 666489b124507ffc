package condition

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

var (
	// ErrOperator classifies an unknown or malformed condition operator.
	ErrOperator = errors.New("unknown condition operator")
	// ErrValue classifies a policy value the operator cannot read: a bad
	// number, date, address, base64 or boolean, or a malformed policy
	// variable.
	ErrValue = errors.New("invalid condition value")
	// ErrKey classifies an empty condition key.
	ErrKey = errors.New("invalid condition key")
	// ErrUnreadable classifies, within ErrValue, what AWS accepts and
	// evaluates as a condition that never matches: a value the operator
	// cannot read, or no value at all (see Options.Lenient).
	ErrUnreadable = errors.New("never matches")
)

// unreadable is an ErrValue error that is also ErrUnreadable, its text
// unchanged.
type unreadable struct{ error }

func (u unreadable) Unwrap() []error { return []error{u.error, ErrUnreadable} }

// Options choose how policy values are read.
type Options struct {
	// Vars expands ${...} policy variables (policy version 2012-10-17).
	// Without it (2008-10-17) "${" is ordinary text.
	Vars bool
	// Lenient compiles what would fail with ErrUnreadable into a
	// condition that never matches, as AWS evaluates it (AWS accepts such
	// policies): false whatever the request, negated operators and
	// ...IfExists included.
	Lenient bool
}

// setThreshold is the number of plain StringEquals values from which a
// map lookup beats comparing them in turn.
const setThreshold = 8

// Condition is one compiled condition: an operator, a key and the policy's
// values. It is safe for concurrent use.
type Condition struct {
	name     string // the operator, spelled canonically
	key      string
	base     base
	set      setOp
	ifExists bool

	strs     []*wildcard.Pattern // String...
	strSet   map[string]struct{} // StringEquals and StringNotEquals with many plain values
	arns     []*wildcard.ARNPattern
	nums     []decimal
	dates    []time.Time
	bools    []boolValue
	never    bool // a value was unreadable (Options.Lenient): false always
	bins     [][]byte
	binRaw   []string // BinaryEquals values as written, for the common case of a request spelling them alike
	nets     []netip.Prefix
	nullWhen [2]bool // Null: nullWhen[1] if the key is absent, nullWhen[0] if present
}

// boolValue is a Bool policy value: a constant, or a pattern whose
// variables are read from the request.
type boolValue struct {
	v bool
	p *wildcard.Pattern
}

// Compile compiles a condition: operator as written in the policy
// ("ForAnyValue:StringLikeIfExists") applied to key, with the policy's
// values for that key.
func Compile(operator, key string, values []string, o Options) (*Condition, error) {
	op, err := parseOperator(operator)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%w: %s has an empty key", ErrKey, op.name)
	}
	c := &Condition{name: op.name, key: key, base: *op.base, set: op.set, ifExists: op.ifExists}
	if len(values) == 0 {
		if o.Lenient {
			c.never = true
			return c, nil
		}
		return nil, unreadable{fmt.Errorf("%w: %s on %q has no values", ErrValue, op.name, key)}
	}
	for _, v := range values {
		if err := c.add(v, o); err != nil {
			if o.Lenient && errors.Is(err, ErrUnreadable) {
				c.never = true
				continue
			}
			return nil, fmt.Errorf("%s on %q: %w", op.name, key, err)
		}
	}
	c.index()
	return c, nil
}

// add compiles one policy value.
func (c *Condition) add(v string, o Options) error {
	bad := func(what string) error { return unreadable{fmt.Errorf("%w: %q is not %s", ErrValue, v, what)} }
	switch c.base.fam {
	case famString:
		p, err := wildcard.Compile(v, wildcard.Options{Fold: c.base.fold, Vars: o.Vars, NoWildcards: !c.base.like})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrValue, err)
		}
		c.strs = append(c.strs, p)
	case famARN:
		a, err := wildcard.CompileARN(v, wildcard.Options{Vars: o.Vars})
		switch {
		case errors.Is(err, wildcard.ErrNotARN):
			a = nil // never matches, as in AWS, which accepts the policy
		case err != nil:
			return fmt.Errorf("%w: %w", ErrValue, err)
		}
		c.arns = append(c.arns, a)
	case famNumeric:
		d, ok := parseDecimal(v)
		if !ok {
			return bad("a number")
		}
		c.nums = append(c.nums, d)
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return bad("a date (ISO 8601 or epoch seconds)")
		}
		c.dates = append(c.dates, t)
	case famBool:
		p, err := wildcard.Compile(v, wildcard.Options{Fold: true, Vars: o.Vars, NoWildcards: true})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrValue, err)
		}
		if p.HasVars() {
			c.bools = append(c.bools, boolValue{p: p})
			break
		}
		b, ok := parseBool(v)
		if !ok {
			return bad("true or false")
		}
		c.bools = append(c.bools, boolValue{v: b})
	case famBinary:
		b, ok := decodeBase64(v)
		if !ok {
			return bad("base64")
		}
		c.bins = append(c.bins, b)
		c.binRaw = append(c.binRaw, v)
	case famIP:
		p, ok := parsePrefix(v)
		if !ok {
			return bad("an IP address or CIDR block")
		}
		c.nets = append(c.nets, p)
	case famNull:
		b, ok := parseBool(v)
		if !ok {
			return bad("true or false")
		}
		if b {
			c.nullWhen[1] = true
		} else {
			c.nullWhen[0] = true
		}
	}
	return nil
}

// index builds the map for long lists of plain StringEquals values.
func (c *Condition) index() {
	if c.base.fam != famString || c.base.fold || c.base.like || len(c.strs) < setThreshold {
		return
	}
	set := make(map[string]struct{}, len(c.strs))
	for _, p := range c.strs {
		lit, ok := p.Literal()
		if !ok {
			return
		}
		set[lit] = struct{}{}
	}
	c.strSet = set
}

// Key returns the condition key, as written in the policy.
func (c *Condition) Key() string { return c.key }

// Operator returns the operator in its canonical spelling
// ("ForAnyValue:StringLikeIfExists").
func (c *Condition) Operator() string { return c.name }

// Eval reports whether the request satisfies the condition. It does not
// allocate. A nil ctx is a request without keys.
func (c *Condition) Eval(ctx keys.Context) bool {
	if c.never {
		return false
	}
	var v keys.Values
	present := false
	if ctx != nil {
		v, present = ctx.Lookup(c.key)
	}
	if c.base.fam == famNull {
		if present {
			return c.nullWhen[0]
		}
		return c.nullWhen[1]
	}
	if !present {
		switch {
		case c.ifExists:
			return true
		case c.set == setAll:
			return true
		case c.set == setAny:
			return false
		}
		return c.base.neg
	}
	switch c.set {
	case setAny:
		for i := range v.Len() {
			if c.holds(v.At(i), ctx) {
				return true
			}
		}
		return false
	case setAll:
		for i := range v.Len() {
			if !c.holds(v.At(i), ctx) {
				return false
			}
		}
		return true
	}
	if v.Multi() {
		return false
	}
	return c.holds(v.At(0), ctx)
}

// All reports whether the request satisfies every condition: the
// conditions of one statement's Condition block, AND-ed across operators
// and keys. An empty block holds.
func All(conds []*Condition, ctx keys.Context) bool {
	for _, c := range conds {
		if !c.Eval(ctx) {
			return false
		}
	}
	return true
}

// holds applies the base operator to one request value: for a positive
// operator, some policy value matches; for a negated one, every policy
// value gives a verdict and none matches.
func (c *Condition) holds(s string, ctx keys.Context) bool {
	neg := c.base.neg
	switch c.base.fam {
	case famString:
		if c.strSet != nil {
			_, hit := c.strSet[s]
			return hit != neg
		}
		for _, p := range c.strs {
			m, ok := p.Test(s, ctx)
			if !ok && neg {
				return false
			}
			if m {
				return !neg
			}
		}
		return neg
	case famARN:
		for _, a := range c.arns {
			if a == nil {
				if neg {
					return false
				}
				continue
			}
			m, ok := a.Test(s, ctx)
			if !ok && neg {
				return false
			}
			if m {
				return !neg
			}
		}
		return neg
	case famNumeric:
		d, ok := parseDecimal(s)
		if !ok {
			return false
		}
		for _, n := range c.nums {
			if c.base.ord.holds(d.cmp(n)) {
				return !neg
			}
		}
		return neg
	case famDate:
		t, ok := parseDate(s)
		if !ok {
			return false
		}
		for _, d := range c.dates {
			if c.base.ord.holds(t.Compare(d)) {
				return !neg
			}
		}
		return neg
	case famBool:
		b, ok := parseBool(s)
		if !ok {
			return false
		}
		for _, bv := range c.bools {
			if bv.p == nil && bv.v == b || bv.p != nil && bv.p.Match(s, ctx) {
				return true
			}
		}
		return false
	case famBinary:
		for i, want := range c.bins {
			if s == c.binRaw[i] || equalBase64(s, want) {
				return true
			}
		}
		return false
	case famIP:
		ip, zoned, ok := parseAddr(s)
		if !ok {
			return false
		}
		if !zoned {
			for _, p := range c.nets {
				if p.Contains(ip) {
					return !neg
				}
			}
		}
		return neg
	}
	return false
}
