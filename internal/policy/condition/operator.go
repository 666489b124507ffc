package condition

import (
	"fmt"
	"strings"
)

type family uint8

const (
	famString family = iota
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

// order is the comparison a Numeric or Date operator makes.
type order uint8

const (
	eq order = iota
	lt
	le
	gt
	ge
)

func (o order) holds(c int) bool {
	switch o {
	case lt:
		return c < 0
	case le:
		return c <= 0
	case gt:
		return c > 0
	case ge:
		return c >= 0
	}
	return c == 0
}

// base is an operator without its set prefix and IfExists suffix.
type base struct {
	name string
	fam  family
	neg  bool  // negated: holds when no policy value matches
	ord  order // Numeric, Date
	fold bool  // String...IgnoreCase
	like bool  // String...Like: wildcards
}

var bases = []base{
	{name: "StringEquals", fam: famString},
	{name: "StringNotEquals", fam: famString, neg: true},
	{name: "StringEqualsIgnoreCase", fam: famString, fold: true},
	{name: "StringNotEqualsIgnoreCase", fam: famString, neg: true, fold: true},
	{name: "StringLike", fam: famString, like: true},
	{name: "StringNotLike", fam: famString, neg: true, like: true},
	{name: "NumericEquals", fam: famNumeric},
	{name: "NumericNotEquals", fam: famNumeric, neg: true},
	{name: "NumericLessThan", fam: famNumeric, ord: lt},
	{name: "NumericLessThanEquals", fam: famNumeric, ord: le},
	{name: "NumericGreaterThan", fam: famNumeric, ord: gt},
	{name: "NumericGreaterThanEquals", fam: famNumeric, ord: ge},
	{name: "DateEquals", fam: famDate},
	{name: "DateNotEquals", fam: famDate, neg: true},
	{name: "DateLessThan", fam: famDate, ord: lt},
	{name: "DateLessThanEquals", fam: famDate, ord: le},
	{name: "DateGreaterThan", fam: famDate, ord: gt},
	{name: "DateGreaterThanEquals", fam: famDate, ord: ge},
	{name: "Bool", fam: famBool},
	{name: "BinaryEquals", fam: famBinary},
	{name: "IpAddress", fam: famIP},
	{name: "NotIpAddress", fam: famIP, neg: true},
	{name: "ArnEquals", fam: famARN},
	{name: "ArnLike", fam: famARN},
	{name: "ArnNotEquals", fam: famARN, neg: true},
	{name: "ArnNotLike", fam: famARN, neg: true},
	{name: "Null", fam: famNull},
}

type setOp uint8

const (
	setNone setOp = iota
	setAny        // ForAnyValue:
	setAll        // ForAllValues:
)

const (
	prefixAny = "ForAnyValue"
	prefixAll = "ForAllValues"
	ifExists  = "IfExists"
)

// parsedOp is a parsed operator name.
type parsedOp struct {
	base     *base
	set      setOp
	ifExists bool
	name     string // canonical spelling
}

// parseOperator reads [ForAnyValue:|ForAllValues:]Base[IfExists], without
// regard to case.
func parseOperator(s string) (parsedOp, error) {
	var op parsedOp
	name := s
	if i := strings.IndexByte(name, ':'); i >= 0 {
		switch prefix := name[:i]; {
		case strings.EqualFold(prefix, prefixAny):
			op.set = setAny
		case strings.EqualFold(prefix, prefixAll):
			op.set = setAll
		default:
			return op, fmt.Errorf("%w %q: unknown set operator %q (want %s or %s)", ErrOperator, s, prefix, prefixAny, prefixAll)
		}
		name = name[i+1:]
	}
	b := lookupBase(name)
	if b == nil && len(name) > len(ifExists) && strings.EqualFold(name[len(name)-len(ifExists):], ifExists) {
		b = lookupBase(name[:len(name)-len(ifExists)])
		op.ifExists = true
	}
	switch {
	case b == nil:
		return op, fmt.Errorf("%w %q", ErrOperator, s)
	case b.fam == famNull && op.ifExists:
		return op, fmt.Errorf("%w %q: Null takes no IfExists", ErrOperator, s)
	}
	op.base = b
	var canon strings.Builder
	switch op.set {
	case setAny:
		canon.WriteString(prefixAny + ":")
	case setAll:
		canon.WriteString(prefixAll + ":")
	}
	canon.WriteString(b.name)
	if op.ifExists {
		canon.WriteString(ifExists)
	}
	op.name = canon.String()
	return op, nil
}

func lookupBase(name string) *base {
	for i := range bases {
		if strings.EqualFold(bases[i].name, name) {
			return &bases[i]
		}
	}
	return nil
}
