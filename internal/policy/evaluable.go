package policy

import (
	"errors"

	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

// MsgUnevaluable is ztgate's message for a policy AWS accepts but ztgate
// refuses to evaluate (see Evaluable); AWS has no wording for it.
const MsgUnevaluable = "The policy has a value ztgate cannot evaluate."

// MsgNeverMatches is ztgate's warning for a condition AWS accepts and
// evaluates as never matching (see NeverMatching).
const MsgNeverMatches = "The condition never matches."

// Evaluable reports what Validate accepts, as AWS IAM does, but ztgate
// refuses to evaluate: a malformed policy variable (${}, a default not in
// single quotes). nil when there is nothing to report.
func Evaluable(doc *Document) Errors {
	errs, _ := evaluable(doc)
	return errs
}

// NeverMatching reports the conditions of doc that never match: a value
// the operator cannot read (a number, date, address, base64 or boolean
// that is not one, a Null that is neither true nor false), or a key with
// no values. AWS accepts such a policy and evaluates the condition as
// false, so that an Allow it guards grants nothing and a Deny it guards
// is silently void; ztgate evaluates it alike, and "policy validate"
// warns of it.
func NeverMatching(doc *Document) Errors {
	_, warns := evaluable(doc)
	return warns
}

func evaluable(doc *Document) (errs, warns Errors) {
	if doc == nil {
		return nil, nil
	}
	vars := doc.Version == Version2012
	add := func(to *Errors, msg string, pos Pos, err error) {
		*to = append(*to, &Error{Pos: pos, Msg: msg, Detail: err.Error()})
	}
	patterns := func(vals []Value, o wildcard.Options, stPos Pos) {
		for _, v := range vals {
			if _, err := wildcard.Compile(v.S, o); err != nil {
				add(&errs, MsgUnevaluable, or(v.Pos, stPos), err)
			}
		}
	}
	for _, st := range doc.Statements {
		if st == nil {
			continue
		}
		patterns(st.Action, wildcard.Options{Fold: true}, st.Pos)
		patterns(st.NotAction, wildcard.Options{Fold: true}, st.Pos)
		patterns(st.Resource, wildcard.Options{Vars: vars}, st.Pos)
		patterns(st.NotResource, wildcard.Options{Vars: vars}, st.Pos)
		for _, c := range st.Conditions {
			vals := make([]string, len(c.Values))
			for i, v := range c.Values {
				vals[i] = v.S
			}
			_, err := condition.Compile(c.Operator, c.Key, vals, condition.Options{Vars: vars})
			if err == nil || errors.Is(err, condition.ErrOperator) {
				continue // unknown operators are Validate's to report
			}
			pos := or(c.Pos, st.Pos)
			for i, v := range c.Values {
				if _, err := condition.Compile(c.Operator, c.Key, vals[i:i+1], condition.Options{Vars: vars}); err != nil {
					pos = or(v.Pos, pos)
					break
				}
			}
			if errors.Is(err, condition.ErrUnreadable) {
				add(&warns, MsgNeverMatches, pos, err)
			} else {
				add(&errs, MsgUnevaluable, pos, err)
			}
		}
	}
	return errs, warns
}

// CheckEvaluable is Check, then Evaluable when Check finds nothing: what
// ztgate accepts to store and enforce.
func CheckEvaluable(data []byte, kind Kind) (*Document, Errors) {
	doc, errs := Check(data, kind)
	if len(errs) > 0 {
		return doc, errs
	}
	return doc, Evaluable(doc)
}
