package policy

import (
	"errors"

	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

// MsgUnevaluable is ztgate's message for a policy AWS accepts but ztgate
// refuses to evaluate (see Assess); AWS has no wording for it.
const MsgUnevaluable = "The policy has a value ztgate cannot evaluate."

// MsgNeverMatches is ztgate's warning for a condition AWS accepts and
// evaluates as never matching (see Assess).
const MsgNeverMatches = "The condition never matches."

// Assess reports, of a document Validate accepts as AWS IAM does, what
// ztgate refuses to evaluate (errs: a malformed policy variable, ${} or a
// default not in single quotes), and the conditions that never match
// (warns): a value the operator cannot read (a number, date, address,
// base64 or boolean that is not one, a Null that is neither true nor
// false), or a key with no values. AWS accepts those and evaluates the
// condition as false, so that an Allow it guards grants nothing and a
// Deny it guards is silently void; ztgate evaluates it alike, and "policy
// validate" warns of it.
func Assess(doc *Document) (errs, warns Errors) {
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
			strict := condition.Options{Vars: vars}
			_, err := condition.Compile(c.Operator, c.Key, vals, strict)
			if err == nil || errors.Is(err, condition.ErrOperator) {
				continue // unknown operators are Validate's to report
			}
			// Each value on its own: a value ztgate cannot evaluate is a
			// problem wherever it stands, even after one that only makes
			// the condition never match.
			var never error
			neverPos := or(c.Pos, st.Pos)
			hard := false
			for i, v := range c.Values {
				_, e := condition.Compile(c.Operator, c.Key, vals[i:i+1], strict)
				switch {
				case e == nil:
				case !errors.Is(e, condition.ErrUnreadable):
					add(&errs, MsgUnevaluable, or(v.Pos, or(c.Pos, st.Pos)), e)
					hard = true
				case never == nil:
					never, neverPos = e, or(v.Pos, neverPos)
				}
				if hard {
					break
				}
			}
			switch {
			case hard:
			case never != nil:
				add(&warns, MsgNeverMatches, neverPos, never)
			case errors.Is(err, condition.ErrUnreadable): // no values at all
				add(&warns, MsgNeverMatches, or(c.Pos, st.Pos), err)
			default:
				add(&errs, MsgUnevaluable, or(c.Pos, st.Pos), err)
			}
		}
	}
	return errs, warns
}

// CheckEvaluable is Check, then Assess's errors when Check finds nothing:
// what ztgate accepts to store and enforce.
func CheckEvaluable(data []byte, kind Kind) (*Document, Errors) {
	doc, errs := Check(data, kind)
	if len(errs) > 0 {
		return doc, errs
	}
	errs, _ = Assess(doc)
	return doc, errs
}
