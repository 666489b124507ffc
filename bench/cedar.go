package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/ztgate/ztgate/internal/authz/workload"
)

// Cedar is cedar-go with one Cedar policy per IAM statement, permit for
// Allow and forbid for Deny: Cedar's own rule that any applicable forbid
// wins is IAM's explicit deny.
//
// The mapping, element by element:
//   - the user a policy is attached to: principal == User::"name";
//   - literal actions: action in [Action::"svc:name", ...]. IAM matches
//     actions without regard to case and Cedar compares entity ids
//     exactly, so actions are lowercased on both sides, in the policies
//     and by the host in the request;
//   - wildcard actions ("svc:Describe*"): Cedar has no pattern over
//     entity ids, so the host also passes the (lowercased) action name as
//     context.action and the policy says context.action like
//     "svc:describe*". A statement mixing literals and wildcards puts
//     them all in one when-clause disjunction;
//   - resource ARN patterns: resource.arn like "arn:aws:s3:::reports/*",
//     Cedar's * like IAM's crossing ':' and '/'; Resource "*" leaves the
//     resource unconstrained;
//   - IpAddress aws:SourceIp: context.sourceIp.isInRange(ip("cidr"));
//   - DateLessThan aws:CurrentTime: context.now < datetime("…"), Cedar's
//     datetime extension, folded to a constant when the policy compiles;
//   - aws:PrincipalTag/team and aws:ResourceTag/env: Cedar entity tags,
//     principal.getTag("team") and resource.getTag("env"), each guarded
//     by hasTag so that a missing tag fails the condition as in IAM.
type Cedar struct{ set *cedar.PolicySet }

var _ Engine = (*Cedar)(nil)

// BuildCedar writes each statement as a Cedar policy, parses it, and adds
// it to one policy set.
func BuildCedar(ps []workload.Policy) (Engine, error) {
	set := cedar.NewPolicySet()
	for _, p := range ps {
		for _, s := range p.Statements {
			text, err := CedarPolicy(p.Principal, s)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", p.Name, s.Sid, err)
			}
			var cp cedar.Policy
			if err := cp.UnmarshalCedar([]byte(text)); err != nil {
				return nil, fmt.Errorf("%s %s: %w\n%s", p.Name, s.Sid, err, text)
			}
			set.Add(cedar.PolicyID(p.Name+"/"+s.Sid), &cp)
		}
	}
	return &Cedar{set: set}, nil
}

// CedarPolicy returns a statement of user's as a Cedar policy.
func CedarPolicy(user string, s workload.Statement) (string, error) {
	var b strings.Builder
	if s.Allow {
		b.WriteString("permit (\n")
	} else {
		b.WriteString("forbid (\n")
	}
	fmt.Fprintf(&b, "  principal == User::%s,\n", strconv.Quote(user))

	var literals, wildcards []string
	anyAction := false
	for _, a := range s.Actions {
		a = strings.ToLower(a)
		switch {
		case a == "*":
			anyAction = true
		case strings.ContainsAny(a, "*?"):
			wildcards = append(wildcards, a)
		default:
			literals = append(literals, "Action::"+strconv.Quote(a))
		}
	}
	var conds []string
	switch {
	case anyAction:
		b.WriteString("  action,\n")
	case len(wildcards) == 0:
		fmt.Fprintf(&b, "  action in [%s],\n", strings.Join(literals, ", "))
	default:
		var or []string
		for _, a := range literals {
			or = append(or, "action == "+a)
		}
		for _, w := range wildcards {
			pat, err := cedarPattern(w)
			if err != nil {
				return "", err
			}
			or = append(or, "context.action like "+pat)
		}
		b.WriteString("  action,\n")
		conds = append(conds, "("+strings.Join(or, " || ")+")")
	}
	b.WriteString("  resource\n)")

	var or []string
	for _, r := range s.Resources {
		if r == "*" {
			or = nil
			break
		}
		pat, err := cedarPattern(r)
		if err != nil {
			return "", err
		}
		or = append(or, "resource.arn like "+pat)
	}
	if len(or) > 0 {
		conds = append(conds, "("+strings.Join(or, " || ")+")")
	}
	if s.SourceCIDR != "" {
		conds = append(conds, fmt.Sprintf("context.sourceIp.isInRange(ip(%s))", strconv.Quote(s.SourceCIDR)))
	}
	if !s.NotAfter.IsZero() {
		conds = append(conds, fmt.Sprintf("context.now < datetime(%s)", strconv.Quote(s.NotAfter.UTC().Format(time.RFC3339))))
	}
	if s.Team != "" {
		conds = append(conds, fmt.Sprintf(`principal.hasTag("team") && principal.getTag("team") == %s`, strconv.Quote(s.Team)))
	}
	if s.Environment != "" {
		conds = append(conds, fmt.Sprintf(`resource.hasTag("env") && resource.getTag("env") == %s`, strconv.Quote(s.Environment)))
	}
	if len(conds) > 0 {
		b.WriteString("\nwhen {\n  ")
		b.WriteString(strings.Join(conds, " &&\n  "))
		b.WriteString("\n}")
	}
	b.WriteString(";\n")
	return b.String(), nil
}

// cedarPattern quotes an IAM pattern for like. IAM's ? (any one
// character) has no Cedar equivalent.
func cedarPattern(p string) (string, error) {
	if strings.ContainsAny(p, `?"\`) {
		return "", fmt.Errorf("pattern %q not expressible with like", p)
	}
	return `"` + p + `"`, nil
}

// Prepare builds the request's entities (the user with its tags, the
// resource with its ARN and tags) and context.
func (c *Cedar) Prepare(r workload.Request) (Prepared, error) {
	user := cedar.NewEntityUID("User", cedar.String(r.Principal))
	res := cedar.NewEntityUID("Resource", cedar.String(r.Resource))
	addr, err := types.ParseIPAddr(r.SourceIP)
	if err != nil {
		return nil, err
	}
	action := strings.ToLower(r.Action)
	return &cedarRequest{
		set: c.set,
		entities: cedar.EntityMap{
			user: {UID: user, Tags: cedar.NewRecord(cedar.RecordMap{"team": cedar.String(r.Team)})},
			res: {
				UID:        res,
				Attributes: cedar.NewRecord(cedar.RecordMap{"arn": cedar.String(r.Resource)}),
				Tags:       cedar.NewRecord(cedar.RecordMap{"env": cedar.String(r.Environment)}),
			},
		},
		req: cedar.Request{
			Principal: user,
			Action:    cedar.NewEntityUID("Action", cedar.String(action)),
			Resource:  res,
			Context: cedar.NewRecord(cedar.RecordMap{
				"action":   cedar.String(action),
				"sourceIp": addr,
				"now":      cedar.NewDatetime(r.Time),
			}),
		},
	}, nil
}

type cedarRequest struct {
	set      *cedar.PolicySet
	entities cedar.EntityMap
	req      cedar.Request
}

func (r *cedarRequest) Allowed() (bool, error) {
	d, diag := r.set.IsAuthorized(r.entities, r.req)
	if len(diag.Errors) > 0 {
		// A policy that errs is skipped, as Cedar specifies; the
		// workload's never should, so one that does is a bug here.
		return false, fmt.Errorf("cedar: %s", diag.Errors[0].Message)
	}
	return d == cedar.Allow, nil
}
