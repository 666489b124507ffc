package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is where a policy is used, which decides the rules it must follow.
type Kind int

// The kinds of policy.
const (
	// Identity is attached to a user, group or role. It names no principal.
	Identity Kind = iota
	// Resource is attached to a resource. Each statement names a Principal
	// or NotPrincipal.
	Resource
	// Trust is a role's trust policy: a resource policy on the role whose
	// actions are sts:* and which names no resources.
	Trust
	// Boundary is a permissions boundary; its rules are Identity's.
	Boundary
	// Guardrail limits the identities of an account or organizational unit,
	// like an AWS service control policy (SCP). It names no principal.
	Guardrail
	// ResourceGuardrail limits the resources of an account or organizational
	// unit, like an AWS resource control policy (RCP). Its Principal is "*".
	ResourceGuardrail
	// Session is passed when a role's session is created; its rules are
	// Identity's.
	Session
)

var kindNames = [...]string{
	Identity:          "identity",
	Resource:          "resource",
	Trust:             "trust",
	Boundary:          "boundary",
	Guardrail:         "guardrail",
	ResourceGuardrail: "resource-guardrail",
	Session:           "session",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

type principalRule uint8

const (
	principalForbidden principalRule = iota
	principalRequired
	principalWildcard
)

// rules are what distinguishes the kinds.
type rules struct {
	oldVersions bool // 2008-10-17, or no Version, is accepted
	principal   principalRule
	trust       bool // sts actions only, no resources
	freeSid     bool // Sid is any text, as in resource policies
	noNotAction bool
}

func rulesFor(k Kind) rules {
	switch k {
	case Resource:
		// Resource policies keep the 2008 version AWS services still
		// accept, and services such as S3 and KMS allow any Sid text.
		return rules{oldVersions: true, principal: principalRequired, freeSid: true}
	case Trust:
		return rules{oldVersions: true, principal: principalRequired, trust: true}
	case ResourceGuardrail:
		return rules{principal: principalWildcard, noNotAction: true}
	}
	// Identity, Boundary, Guardrail, Session, and any unknown kind: the
	// strictest rules.
	return rules{principal: principalForbidden}
}

// Ranks order the problems as AWS IAM checks them, so that the first
// reported is the one AWS answers with; within a rank, document order.
const (
	rankSyntax = iota
	rankVersion
	rankLegacy
	rankSid
	rankActions
	rankResourceFormat
	// Legacy-parsing failures AWS does not reach, because a resource format
	// error came before them in its order of checking.
	rankResourceLegacyLate
	rankActionFormat
	rankResources
	rankKind
)

type problem struct {
	rank int
	err  *Error
}

type validator struct {
	rules rules
	probs []problem
}

func (v *validator) add(rank int, pos Pos, msg, detail string) {
	v.probs = append(v.probs, problem{rank, &Error{Pos: pos, Msg: msg, Detail: detail}})
}

// Check parses and validates a document. The document is nil when it does
// not parse; then the problems are Parse's.
func Check(data []byte, kind Kind) (*Document, Errors) {
	doc, errs := parse(data)
	if len(errs) > 0 {
		return nil, errs
	}
	return doc, Validate(doc, kind)
}

// Validate checks a document against the rules of its kind and returns
// every problem found, the one AWS IAM would report first; nil when there
// are none.
func Validate(doc *Document, kind Kind) Errors {
	if doc == nil {
		return Errors{{Msg: MsgSyntax, Detail: "no policy document"}}
	}
	v := &validator{rules: rulesFor(kind)}
	v.document(doc)
	if len(v.probs) == 0 {
		return nil
	}
	slices.SortStableFunc(v.probs, func(a, b problem) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		if a.err.Pos.Line != b.err.Pos.Line {
			return a.err.Pos.Line - b.err.Pos.Line
		}
		return a.err.Pos.Col - b.err.Pos.Col
	})
	out := make(Errors, len(v.probs))
	for i, p := range v.probs {
		out[i] = p.err
	}
	return out
}

// or returns p, or fallback when p is unknown.
func or(p, fallback Pos) Pos {
	if p == (Pos{}) {
		return fallback
	}
	return p
}

func (v *validator) document(doc *Document) {
	switch doc.Version {
	case Version2012:
	case Version2008, "":
		if !v.rules.oldVersions {
			v.add(rankVersion, or(doc.VersionPos, doc.Pos), MsgVersion, "")
		}
	default:
		v.add(rankSyntax, or(doc.VersionPos, doc.Pos), MsgSyntax,
			fmt.Sprintf("Version must be %q or %q, not %q", Version2012, Version2008, doc.Version))
	}

	statements := slices.DeleteFunc(slices.Clone(doc.Statements), func(st *Statement) bool { return st == nil })
	if len(statements) == 0 {
		detail := "no Statement"
		if doc.Statements != nil {
			detail = "Statement lists no statements"
		}
		v.add(rankSyntax, or(doc.StatementPos, doc.Pos), MsgSyntax, detail)
		return
	}

	sids := map[string]bool{}
	for _, st := range statements {
		v.statement(st, sids)
	}
	if !v.rules.trust {
		v.resourceFormats(statements)
	}
}

func (v *validator) statement(st *Statement, sids map[string]bool) {
	v.effect(st)
	both := func(a, b bool, x, y string) {
		if a && b {
			v.add(rankSyntax, st.Pos, MsgSyntax, fmt.Sprintf("a statement has both %s and %s", x, y))
		}
	}
	both(st.Action != nil, st.NotAction != nil, "Action", "NotAction")
	both(st.Resource != nil, st.NotResource != nil, "Resource", "NotResource")
	both(st.Principal != nil, st.NotPrincipal != nil, "Principal", "NotPrincipal")

	v.conditions(st)

	if st.Sid != "" {
		if !v.rules.freeSid && !alphanumeric(st.Sid) {
			v.add(rankSid, or(st.SidPos, st.Pos), MsgSidAlphanumeric, "")
		}
		if sids[st.Sid] {
			v.add(rankSid, or(st.SidPos, st.Pos), MsgSidUnique, fmt.Sprintf("Sid %q is used twice", st.Sid))
		}
		sids[st.Sid] = true
	}

	actions := st.Action
	if actions == nil {
		actions = st.NotAction
	}
	if len(actions) == 0 {
		v.add(rankActions, st.Pos, MsgNoActions, "")
	}
	for _, a := range st.Action {
		v.action(a)
	}
	for _, a := range st.NotAction {
		v.action(a)
	}

	resources := st.Resource
	if resources == nil {
		resources = st.NotResource
	}
	if v.rules.trust {
		if st.Resource != nil || st.NotResource != nil {
			pos := st.Pos
			if len(resources) > 0 {
				pos = or(resources[0].Pos, st.Pos)
			}
			v.add(rankKind, pos, MsgTrustResource, "")
		}
	} else if len(resources) == 0 {
		v.add(rankResources, st.Pos, MsgNoResources, "")
	}

	v.kindRules(st)
}

func (v *validator) effect(st *Statement) {
	switch {
	case st.Effect == Allow || st.Effect == Deny:
	case strings.EqualFold(string(st.Effect), string(Allow)):
		v.add(rankLegacy, or(st.EffectPos, st.Pos), MsgLegacy, fmt.Sprintf("Effect %q must be written %q", st.Effect, Allow))
	case strings.EqualFold(string(st.Effect), string(Deny)):
		v.add(rankLegacy, or(st.EffectPos, st.Pos), MsgLegacy, fmt.Sprintf("Effect %q must be written %q", st.Effect, Deny))
	case st.Effect == "" && st.EffectPos == (Pos{}):
		v.add(rankSyntax, st.Pos, MsgSyntax, "a statement has no Effect")
	default:
		v.add(rankSyntax, or(st.EffectPos, st.Pos), MsgSyntax, fmt.Sprintf("Effect must be %q or %q, not %q", Allow, Deny, st.Effect))
	}
}

func (v *validator) conditions(st *Statement) {
	unknown := map[string]bool{} // report an unknown operator once, not once per key
	for _, c := range st.Conditions {
		base, ok := operatorBase(c.Operator)
		if !ok {
			if !unknown[c.Operator] {
				unknown[c.Operator] = true
				v.add(rankSyntax, or(c.OpPos, st.Pos), MsgSyntax, fmt.Sprintf("unknown condition operator %q", c.Operator))
			}
			continue
		}
		if strings.HasPrefix(base, "Date") {
			for _, val := range c.Values {
				if !legacyDate(val.S) {
					v.add(rankLegacy, or(val.Pos, or(c.Pos, st.Pos)), MsgLegacy, fmt.Sprintf("%q is neither a date nor a time stamp", val.S))
				}
			}
		}
	}
}

func (v *validator) action(a Value) {
	if msg, detail := actionProblem(a.S); msg != "" {
		v.add(rankActionFormat, a.Pos, msg, detail)
	}
	if v.rules.trust && !stsAction(a.S) {
		v.add(rankKind, a.Pos, MsgTrustActions, "")
	}
}

// resourceFormats checks every resource ARN. AWS checks the format of each
// statement's Resource, then each statement's NotResource; an ARN that fails
// legacy parsing is reported as such only while no format error has been
// found, and format errors are reported late (after missing actions). The
// same order is kept here so the first problem is AWS's.
func (v *validator) resourceFormats(statements []*Statement) {
	formatSeen := false
	for _, not := range []bool{false, true} {
		for _, st := range statements {
			vals := st.Resource
			if not {
				vals = st.NotResource
			}
			bad := make([]bool, len(vals))
			for i, r := range vals {
				if msg, detail := resourceProblem(r.S); msg != "" {
					v.add(rankResourceFormat, or(r.Pos, st.Pos), msg, detail)
					bad[i], formatSeen = true, true
				}
			}
			rank := rankLegacy
			if formatSeen {
				rank = rankResourceLegacyLate
			}
			for i, r := range vals {
				if detail := legacyResourceProblem(r.S); !bad[i] && detail != "" {
					v.add(rank, or(r.Pos, st.Pos), MsgLegacy, detail)
				}
			}
		}
	}
}

func (v *validator) kindRules(st *Statement) {
	switch v.rules.principal {
	case principalForbidden:
		for _, p := range []*Principal{st.Principal, st.NotPrincipal} {
			if p != nil {
				v.add(rankKind, or(p.Pos, st.Pos), MsgPrincipalNotAllowed, "")
			}
		}
	case principalRequired:
		if st.Principal == nil && st.NotPrincipal == nil {
			v.add(rankKind, st.Pos, MsgPrincipalMissing, "")
		}
		v.principal(st.Principal, st.Pos)
		v.principal(st.NotPrincipal, st.Pos)
	case principalWildcard:
		switch {
		case st.NotPrincipal != nil:
			v.add(rankKind, or(st.NotPrincipal.Pos, st.Pos), "Has prohibited field NotPrincipal.", "")
		case st.Principal == nil:
			v.add(rankKind, st.Pos, MsgPrincipalMissing, "")
		case !st.Principal.Wildcard:
			v.add(rankKind, or(st.Principal.Pos, st.Pos), `Principal must be "*" in a resource guardrail.`, "")
		}
	}
	if v.rules.noNotAction && st.NotAction != nil {
		v.add(rankKind, st.Pos, "Has prohibited field NotAction.", "")
	}
	if v.rules.trust && st.NotAction != nil {
		v.add(rankKind, st.Pos, MsgTrustActions, "NotAction is not allowed in a trust policy")
	}
}

func (v *validator) principal(p *Principal, stPos Pos) {
	if p == nil || p.Wildcard {
		return
	}
	if p.Bare {
		v.add(rankSyntax, or(p.Pos, stPos), MsgSyntax, fmt.Sprintf(`a principal must be "*" or an object, not the string %q`, p.Entries[0].Values[0].S))
		return
	}
	if len(p.Entries) == 0 {
		v.add(rankSyntax, or(p.Pos, stPos), MsgSyntax, "the principal element names no principals")
		return
	}
	for _, e := range p.Entries {
		if !slices.Contains(principalTypes, e.Type) {
			v.add(rankSyntax, or(e.TypePos, or(p.Pos, stPos)), MsgSyntax, fmt.Sprintf("unknown principal type %q", e.Type))
			continue
		}
		if len(e.Values) == 0 {
			v.add(rankSyntax, or(e.TypePos, or(p.Pos, stPos)), MsgSyntax, fmt.Sprintf("principal type %q lists no principals", e.Type))
		}
		for _, val := range e.Values {
			if !principalValueOK(e.Type, val.S) {
				v.add(rankKind, or(val.Pos, or(p.Pos, stPos)),
					fmt.Sprintf("Invalid principal in policy: %q:%q", e.Type, val.S), "")
			}
		}
	}
}

func alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}
