package policy

import (
	"errors"

	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

// MsgUnevaluable is ztgate's message for a policy AWS accepts but ztgate
// refuses to evaluate (see Evaluable); AWS has no wording for it.
const MsgUnevaluable = "The policy has a value ztgate cannot evaluate."

// Evaluable reports what Validate accepts, as AWS IAM does, but ztgate
// refuses to evaluate: a condition value its operator cannot read (a
// number, date, address, base64 or boolean that is not one, a Null that
// is neither true nor false), a condition key with no values, and a
// malformed policy variable. AWS takes such a condition as one that never
// matches, so that a Deny it guards is silently void; ztgate refuses the
// policy instead, where it is written. nil when there is nothing to
// report.
func Evaluable(doc *Document) Errors {
	if doc == nil {
		return nil
	}
	vars := doc.Version == Version2012
	var out Errors
	add := func(pos Pos, err error) {
		out = append(out, &Error{Pos: pos, Msg: MsgUnevaluable, Detail: err.Error()})
	}
	patterns := func(vals []Value, o wildcard.Options, stPos Pos) {
		for _, v := range vals {
			if _, err := wildcard.Compile(v.S, o); err != nil {
				add(or(v.Pos, stPos), err)
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
			add(pos, err)
		}
	}
	return out
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
