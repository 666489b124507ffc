package policy

import (
	"fmt"
	"strconv"
)

// Parse reads a policy document. It checks the document's shape: JSON
// syntax, known element names, and the type of every element (Statement an
// object or a list of objects, Action a string or a list of strings, ...).
// The rules about values are Validate's. On failure the error is an Errors,
// in document order, each with AWS's message "Syntax errors in policy.".
func Parse(data []byte) (*Document, error) {
	doc, errs := parse(data)
	if len(errs) > 0 {
		return nil, errs
	}
	return doc, nil
}

func parse(data []byte) (*Document, Errors) {
	if len(data) > MaxSize {
		return nil, Errors{{
			Pos: Pos{Line: 1, Col: 1},
			Msg: "Cannot exceed quota for PolicySize: " + strconv.Itoa(MaxSize),
		}}
	}
	v, err := readJSON(data)
	if err != nil {
		return nil, Errors{err}
	}
	var b builder
	doc := b.document(v)
	return doc, b.errs
}

// builder turns a JSON tree into a Document, noting every element of the
// wrong type or name and carrying on, so one run reports them all.
type builder struct {
	errs Errors
}

func (b *builder) fail(pos Pos, format string, args ...any) {
	b.errs = append(b.errs, &Error{Pos: pos, Msg: MsgSyntax, Detail: fmt.Sprintf(format, args...)})
}

func (b *builder) wrongType(v *jsonValue, element, want string) {
	b.fail(v.pos, "%s must be %s, not %s", element, want, v.kind)
}

func (b *builder) document(v *jsonValue) *Document {
	if v.kind != jsonObject {
		b.wrongType(v, "a policy document", "an object")
		return nil
	}
	doc := &Document{Pos: v.pos}
	for _, m := range v.members {
		switch m.key {
		case "Version":
			doc.Version, doc.VersionPos = b.str(m.value, "Version")
		case "Id":
			doc.ID, _ = b.str(m.value, "Id")
		case "Statement":
			doc.StatementPos = m.value.pos
			doc.Statements = b.statements(m.value)
		default:
			b.fail(m.keyPos, "unknown element %q", m.key)
		}
	}
	return doc
}

func (b *builder) str(v *jsonValue, element string) (string, Pos) {
	if v.kind != jsonString {
		b.wrongType(v, element, "a string")
		return "", Pos{}
	}
	return v.text, v.pos
}

func (b *builder) statements(v *jsonValue) []*Statement {
	switch v.kind {
	case jsonObject:
		return []*Statement{b.statement(v)}
	case jsonArray:
		out := make([]*Statement, 0, len(v.elems))
		for _, e := range v.elems {
			if e.kind != jsonObject {
				b.wrongType(e, "a statement", "an object")
				continue
			}
			out = append(out, b.statement(e))
		}
		return out
	}
	b.wrongType(v, "Statement", "an object or a list of objects")
	return nil
}

func (b *builder) statement(v *jsonValue) *Statement {
	st := &Statement{Pos: v.pos}
	for _, m := range v.members {
		switch m.key {
		case "Sid":
			st.Sid, st.SidPos = b.str(m.value, "Sid")
		case "Effect":
			var s string
			s, st.EffectPos = b.str(m.value, "Effect")
			st.Effect = Effect(s)
		case "Principal":
			st.Principal = b.principal(m.value, m.key)
		case "NotPrincipal":
			st.NotPrincipal = b.principal(m.value, m.key)
		case "Action":
			st.Action = b.strings(m.value, m.key, false)
		case "NotAction":
			st.NotAction = b.strings(m.value, m.key, false)
		case "Resource":
			st.Resource = b.strings(m.value, m.key, true)
		case "NotResource":
			st.NotResource = b.strings(m.value, m.key, true)
		case "Condition":
			st.Conditions = b.conditions(m.value)
		default:
			b.fail(m.keyPos, "unknown statement element %q", m.key)
		}
	}
	return st
}

// strings reads a string or a list of strings. The result is non-nil, so a
// present but empty list stays distinguishable from an absent element.
// AWS skips null in a list of resources (templates that drop an optional
// ARN leave one); skipNull does the same.
func (b *builder) strings(v *jsonValue, element string, skipNull bool) []Value {
	switch v.kind {
	case jsonString:
		return []Value{{S: v.text, Pos: v.pos}}
	case jsonArray:
		out := make([]Value, 0, len(v.elems))
		for _, e := range v.elems {
			switch {
			case e.kind == jsonString:
				out = append(out, Value{S: e.text, Pos: e.pos})
			case e.kind == jsonNull && skipNull:
			default:
				b.wrongType(e, "each "+element+" entry", "a string")
			}
		}
		return out
	}
	b.wrongType(v, element, "a string or a list of strings")
	return nil
}

func (b *builder) principal(v *jsonValue, element string) *Principal {
	p := &Principal{Pos: v.pos}
	switch v.kind {
	case jsonString:
		if v.text == "*" {
			p.Wildcard = true
			break
		}
		// A bare ARN is not AWS's grammar, but simulators accept it as
		// {"AWS": ARN}; keep it so, and let Validate reject it.
		p.Bare = true
		p.Entries = []PrincipalEntry{{Type: PrincipalAWS, TypePos: v.pos, Values: []Value{{S: v.text, Pos: v.pos}}}}
	case jsonObject:
		p.Entries = make([]PrincipalEntry, 0, len(v.members))
		for _, m := range v.members {
			p.Entries = append(p.Entries, PrincipalEntry{
				Type:    m.key,
				TypePos: m.keyPos,
				Values:  b.strings(m.value, element+" "+m.key, false),
			})
		}
	default:
		b.wrongType(v, element, `"*" or an object`)
		return nil
	}
	return p
}

// conditions flattens a Condition block into operator/key pairs. An
// operator with no keys leaves nothing behind, as it constrains nothing.
func (b *builder) conditions(v *jsonValue) []Condition {
	if v.kind != jsonObject {
		b.wrongType(v, "Condition", "an object")
		return nil
	}
	var out []Condition
	for _, op := range v.members {
		if op.value.kind != jsonObject {
			b.wrongType(op.value, "condition operator "+strconv.Quote(op.key), "an object")
			continue
		}
		for _, k := range op.value.members {
			c := Condition{Pos: k.keyPos, Operator: op.key, OpPos: op.keyPos, Key: k.key}
			c.Values = b.conditionValues(k.value, k.key)
			out = append(out, c)
		}
	}
	return out
}

func (b *builder) conditionValues(v *jsonValue, key string) []Value {
	scalar := func(e *jsonValue) bool {
		return e.kind == jsonString || e.kind == jsonNumber || e.kind == jsonBool
	}
	if scalar(v) {
		return []Value{{S: v.text, Pos: v.pos}}
	}
	if v.kind != jsonArray {
		b.wrongType(v, "condition key "+strconv.Quote(key), "a string, number, boolean or a list of them")
		return nil
	}
	out := make([]Value, 0, len(v.elems))
	for _, e := range v.elems {
		if !scalar(e) {
			b.wrongType(e, "each value of condition key "+strconv.Quote(key), "a string, number or boolean")
			continue
		}
		out = append(out, Value{S: e.text, Pos: e.pos})
	}
	return out
}
