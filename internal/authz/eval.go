package authz

import (
	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// Request is what is being decided: who, doing what, to which resource, in
// which context.
type Request struct {
	Principal Principal
	Action    string // "s3:GetObject", "http:GET"
	Resource  string // an ARN, or "*"
	// ResourceAccount owns the resource; empty means the account in the
	// resource's ARN, else the principal's.
	ResourceAccount string
	Context         keys.Context
}

// Policies are the policies that bear on one request, by the role each
// plays, each layer an indexed Set. A nil layer is absent; a present layer
// with no statements allows nothing (so a guardrail level with no policies
// denies everything).
type Policies struct {
	Identity           *Set   // the principal's own and its groups'
	Resource           *Set   // attached to the resource
	Boundary           *Set   // the principal's permissions boundary
	Session            *Set   // passed when the session was created
	Guardrails         []*Set // SCP-like: one set per organisation level; each must allow
	ResourceGuardrails []*Set // RCP-like: one set per level; each must allow
	Endpoint           *Set   // the network path's policy (VPC-endpoint-like)
	// ResourceRequired: the resource policy must allow even within the
	// resource's account — by naming the caller, or by naming its account,
	// which then needs an identity policy's allow too. AWS decides role
	// trust policies (and KMS key policies) so: an identity policy alone
	// never lets a principal assume a role.
	ResourceRequired bool
}

// Effect is the outcome of a decision.
type Effect uint8

// Outcomes. The zero value denies.
const (
	ImplicitDeny Effect = iota
	ExplicitDeny
	Allowed
)

func (e Effect) String() string {
	switch e {
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicitDeny"
	}
	return "implicitDeny"
}

// Layer names a role a policy plays, to say what blocked a request.
type Layer uint8

// Layers.
const (
	NoLayer Layer = iota
	LayerIdentity
	LayerResource
	LayerBoundary
	LayerSession
	LayerGuardrail
	LayerResourceGuardrail
	LayerEndpoint
)

func (l Layer) String() string {
	return [...]string{"", "identity", "resource", "boundary", "session", "guardrail", "resourceGuardrail", "endpoint"}[l]
}

// maxMatched bounds the statements a decision records; it keeps decisions
// free of allocation. Truncated says when more matched.
const maxMatched = 8

// Decision is the outcome of one request, with the statements that
// decided it: the denying statements for an explicit deny, the allowing
// ones for an allow. For an implicit deny, BlockedBy names the layer that
// did not allow (NoLayer when nothing allowed at all).
type Decision struct {
	Effect    Effect
	BlockedBy Layer
	matched   [maxMatched]*Statement
	n         int
	Truncated bool
}

// Matched returns the deciding statements.
func (d *Decision) Matched() []*Statement { return d.matched[:d.n] }

func (d *Decision) add(s *Statement) {
	if d.n == maxMatched {
		d.Truncated = true
		return
	}
	d.matched[d.n] = s
	d.n++
}

// evaluation carries one request through the layers.
type evaluation struct {
	req     *Request
	resAcct string
	d       *Decision
	bounded bool // the caller has a permissions boundary
}

// applies reports whether a statement covers the request (principal
// aside).
func (s *Statement) applies(r *Request) bool {
	if !s.anyAction || s.notAction {
		m := matchAny(s.actions, r.Action, r.Context)
		if m == s.notAction {
			return false
		}
	}
	if !s.anyResource || s.notResource {
		m := matchAny(s.resources, r.Resource, r.Context)
		if m == s.notResource {
			return false
		}
	}
	return len(s.conds) == 0 || condition.All(s.conds, r.Context)
}

// principalGrant matches the statement's principal element.
func (s *Statement) principalGrant(p *Principal) grant {
	if s.principal == nil {
		return noMatch
	}
	g := s.principal.match(p)
	if s.notPrincipal {
		if g == noMatch {
			return direct
		}
		return noMatch
	}
	return g
}

// scanResult is what one layer says: whether a statement denies, whether
// one allows, and for resource layers how the best allowing statement
// named the caller.
type scanResult struct {
	deny  bool
	allow bool
	grant grant
}

// layerAllows records the allowing statements of one layer.
type layerAllows struct {
	s    [maxMatched]*Statement
	n    int
	more bool // more allowed than s holds
}

// scan evaluates a layer's policies. Denying statements go straight into
// the decision; allowing ones into allows. Statements of resource layers
// must name the caller.
func (e *evaluation) scan(set *Set, checkPrincipal bool, allows *layerAllows) scanResult {
	var res scanResult
	if set == nil {
		return res
	}
	set.candidates(e.req.Action, func(s *Statement) bool {
		g := direct
		if checkPrincipal {
			g = s.principalGrant(&e.req.Principal)
			// AWS: a Deny with NotPrincipal always applies to a caller
			// bounded by a permissions boundary.
			if g == noMatch && !(s.notPrincipal && !s.Allow && e.bounded) {
				return true
			}
		}
		if !s.applies(e.req) {
			return true
		}
		if !s.Allow {
			res.deny = true
			e.d.add(s)
			return true
		}
		res.allow = true
		if g > res.grant {
			res.grant = g
		}
		if allows.n < maxMatched {
			allows.s[allows.n] = s
			allows.n++
		} else {
			allows.more = true
		}
		return true
	})
	return res
}

// Evaluate decides a request with AWS's policy evaluation logic:
//
//  1. An explicit deny in any policy that applies wins.
//  2. Every guardrail level (SCP-like, skipped for anonymous callers and
//     service principals), every resource-guardrail level (RCP-like) and
//     the endpoint policy, where present, must allow.
//  3. Within the resource's account, an allow in the resource policy
//     suffices, or an allow in the identity policies; either is bounded
//     by the session policies, and by the permissions boundary unless the
//     resource policy names the caller's own user or session ARN, or
//     everyone. A resource policy that names only the account delegates
//     to identity policies.
//  4. Across accounts, both the identity side (with boundary and session
//     policies) and the resource policy must allow.
//
// It does not allocate.
func Evaluate(r *Request, ps *Policies) Decision {
	var d Decision
	e := evaluation{req: r, d: &d, bounded: ps.Boundary != nil}
	e.resAcct = r.ResourceAccount
	if e.resAcct == "" {
		if e.resAcct = accountOfARN(r.Resource); e.resAcct == "" {
			e.resAcct = r.Principal.Account
		}
	}
	p := &r.Principal
	anon := p.Kind == Anonymous
	service := p.Kind == Service

	// Scan every layer once, remembering denies and allows.
	var allows [LayerEndpoint + 1]layerAllows
	var deny bool
	scanLayer := func(l Layer, ps *Set, checkPrincipal bool) scanResult {
		res := e.scan(ps, checkPrincipal, &allows[l])
		deny = deny || res.deny
		return res
	}
	var identity, boundary, session, endpoint scanResult
	if !anon {
		identity = scanLayer(LayerIdentity, ps.Identity, false)
		boundary = scanLayer(LayerBoundary, ps.Boundary, false)
		session = scanLayer(LayerSession, ps.Session, false)
	}
	resource := scanLayer(LayerResource, ps.Resource, true)
	endpoint = scanLayer(LayerEndpoint, ps.Endpoint, false)
	guardOK := true
	if !anon && !service {
		for _, level := range ps.Guardrails {
			if res := scanLayer(LayerGuardrail, level, false); !res.allow {
				guardOK = false
			}
		}
	}
	rguardOK := true
	for _, level := range ps.ResourceGuardrails {
		if res := scanLayer(LayerResourceGuardrail, level, true); !res.allow {
			rguardOK = false
		}
	}

	if deny {
		d.Effect = ExplicitDeny // the denying statements are recorded
		return d
	}
	block := func(l Layer) Decision {
		d.Effect, d.BlockedBy = ImplicitDeny, l
		return d
	}
	switch {
	case !guardOK:
		return block(LayerGuardrail)
	case !rguardOK:
		return block(LayerResourceGuardrail)
	case ps.Endpoint != nil && !endpoint.allow:
		return block(LayerEndpoint)
	}

	boundaryOK := ps.Boundary == nil || boundary.allow
	sessionOK := ps.Session == nil || session.allow
	resAllow := resource.allow && resource.grant != viaAccount
	allowWith := func(layers ...Layer) Decision {
		d.Effect = Allowed
		for _, l := range layers {
			for _, s := range allows[l].s[:allows[l].n] {
				d.add(s)
			}
			d.Truncated = d.Truncated || allows[l].more
		}
		return d
	}
	switch {
	case anon || service:
		if resAllow {
			return allowWith(LayerResource)
		}
		return block(LayerResource)
	case p.Account == e.resAcct || p.Kind == Workload:
		// Workloads belong to this deployment's trust domain, not to an
		// account: they are decided as callers from the resource's own.
		if ps.ResourceRequired && !resource.allow {
			return block(LayerResource)
		}
		if !resAllow && !identity.allow {
			return block(NoLayer)
		}
		if !sessionOK {
			return block(LayerSession)
		}
		// A resource policy naming the caller itself (user, session) or
		// everyone is not bounded by a permissions boundary; one naming
		// the caller's role is.
		unbounded := resAllow && (resource.grant == direct || resource.grant == viaEveryone)
		if !boundaryOK && !unbounded {
			return block(LayerBoundary)
		}
		if resAllow {
			return allowWith(LayerResource, LayerIdentity, LayerBoundary, LayerSession)
		}
		return allowWith(LayerIdentity, LayerBoundary, LayerSession)
	default:
		if !identity.allow {
			return block(LayerIdentity)
		}
		if !boundaryOK {
			return block(LayerBoundary)
		}
		if !sessionOK {
			return block(LayerSession)
		}
		if !resource.allow {
			return block(LayerResource)
		}
		return allowWith(LayerIdentity, LayerResource, LayerBoundary, LayerSession)
	}
}
