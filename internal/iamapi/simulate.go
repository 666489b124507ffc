package iamapi

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

// Source policy types, as AWS's simulator names them.
const (
	sourceInput   = "IAM Policy" // a policy given in the request
	sourceManaged = "user-managed"
	sourceRes     = "resource"
)

// denyAllDoc stands in for a stored policy that no longer compiles, as in
// the node's snapshot: a simulation must not show an allow the node would
// not give.
const denyAllDoc = `{"Version":"2012-10-17","Statement":[{"Sid":"UnreadablePolicy","Effect":"Deny","Action":"*","Resource":"*"}]}`

// maxEvaluations bounds the decisions one simulation makes, so that one
// request cannot ask for a quarter of a million.
const maxEvaluations = 1000

// simulation gathers the policies of one simulate call by the layer they
// play, each remembered with what the response calls it.
type simulation struct {
	c                            *call
	identity, boundary, resource []*authz.Policy
	hasBoundary                  bool
	sources                      map[string]simSource // by compiled policy name
}

type simSource struct {
	id, typ string
	doc     *policy.Document // nil for a stand-in
}

// add compiles one policy into a layer. A document from the request that
// does not validate is refused; a stored one is replaced by a deny-all.
func (s *simulation) add(layer *[]*authz.Policy, name, id, typ, text string, kind policy.Kind, input bool) error {
	doc, errs := policy.CheckEvaluable([]byte(text), kind)
	var p *authz.Policy
	var err error
	if len(errs) > 0 {
		err = errs[0]
	} else {
		p, err = authz.Compile(name, doc)
	}
	if err != nil {
		if input {
			return fmt.Errorf("%w: %s: %s", iam.ErrMalformedPolicy, id, err.Error())
		}
		s.c.h.log.Error("iam: a stored policy does not compile; simulating it as a deny-all", "policy", name, "err", err)
		if p, err = authz.CompileJSON(name, []byte(denyAllDoc), policy.Identity); err != nil {
			return err
		}
		doc = nil
	}
	*layer = append(*layer, p)
	if _, ok := s.sources[name]; !ok {
		s.sources[name] = simSource{id: id, typ: typ, doc: doc}
	}
	return nil
}

// addManaged adds a stored managed policy by ARN; one that is gone is a
// deny-all, as the snapshot has it.
func (s *simulation) addManaged(layer *[]*authz.Policy, arn string) error {
	p, err := s.c.h.dir.GetPolicy(s.c.ctx, arn)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		_, name := splitPolicyARN(arn)
		return s.add(layer, arn, name, sourceManaged, "", policy.Identity, false)
	}
	if err != nil {
		return err
	}
	return s.add(layer, arn, p.Name, sourceManaged, p.Document, policy.Identity, false)
}

// addStored adds an entity's inline and attached policies.
func (s *simulation) addStored(h iam.Holder, holder, typ string, a iam.Attachments) error {
	for _, pn := range slices.Sorted(maps.Keys(a.Inline)) {
		if err := s.add(&s.identity, iam.InlineName(h, holder, pn), pn, typ, a.Inline[pn], policy.Identity, false); err != nil {
			return err
		}
	}
	for _, arn := range a.Attached {
		if err := s.addManaged(&s.identity, arn); err != nil {
			return err
		}
	}
	return nil
}

// addInputs adds the policies the request gives.
func (s *simulation) addInputs() error {
	for i, d := range s.c.lists["PolicyInputList"] {
		id := fmt.Sprintf("PolicyInputList.%d", i+1)
		if err := s.add(&s.identity, id, id, sourceInput, d, policy.Identity, true); err != nil {
			return err
		}
	}
	if bs := s.c.lists["PermissionsBoundaryPolicyInputList"]; len(bs) > 0 {
		// Given boundaries replace the principal's own, as on AWS.
		s.boundary, s.hasBoundary = nil, true
		for i, d := range bs {
			id := fmt.Sprintf("PermissionsBoundaryPolicyInputList.%d", i+1)
			if err := s.add(&s.boundary, id, id, sourceInput, d, policy.Boundary, true); err != nil {
				return err
			}
		}
	}
	if s.c.params.Has("ResourcePolicy") {
		if err := s.add(&s.resource, "ResourcePolicy", "ResourcePolicy", sourceRes, s.c.get("ResourcePolicy"), policy.Resource, true); err != nil {
			return err
		}
	}
	return nil
}

func (c *call) simulatePrincipal() (any, error) {
	src := c.get("PolicySourceArn")
	p := authz.ParsePrincipal(src)
	typ := typeUser
	isGroup := strings.Contains(src, ":group/")
	switch {
	case isGroup:
		typ = typeGroup
	case p.Kind == authz.Role:
		typ = typeRole
	case p.Kind != authz.User:
		return nil, validation("PolicySourceArn must be the ARN of a user, group or role.")
	}
	if err := c.authorize(src, typ); err != nil {
		return nil, err
	}
	s := &simulation{c: c, sources: map[string]simSource{}}
	caller := c.get("CallerArn")
	switch {
	case isGroup:
		i := strings.LastIndexByte(src, '/')
		g, _, err := c.h.dir.GetGroup(c.ctx, src[i+1:])
		if err == nil && g.ARN() != src {
			err = noSuchEntity("The group with name " + g.Name + " cannot be found.")
		}
		if err != nil {
			return nil, err
		}
		if err := s.addStored(iam.HolderGroup, g.Name, "group", g.Attachments); err != nil {
			return nil, err
		}
	case p.Kind == authz.Role:
		r, err := c.h.dir.RoleByARN(c.ctx, src)
		if err != nil {
			return nil, err
		}
		if err := s.addStored(iam.HolderRole, r.Name, "role", r.Attachments); err != nil {
			return nil, err
		}
		if err := s.addBoundary(r.Boundary); err != nil {
			return nil, err
		}
		if caller == "" {
			caller = src
		}
	default:
		u, err := c.h.dir.GetUser(c.ctx, p.Name)
		if err == nil && u.ARN() != src {
			err = noSuchEntity("The user with name " + u.Name + " cannot be found.")
		}
		if err != nil {
			return nil, err
		}
		if err := s.addStored(iam.HolderUser, u.Name, "user", u.Attachments); err != nil {
			return nil, err
		}
		for _, gn := range u.Groups {
			g, _, err := c.h.dir.GetGroup(c.ctx, gn)
			if errors.Is(err, iam.ErrNoSuchEntity) {
				continue // as in the snapshot: a group that is gone gives nothing
			}
			if err != nil {
				return nil, err
			}
			if err := s.addStored(iam.HolderGroup, g.Name, "group", g.Attachments); err != nil {
				return nil, err
			}
		}
		if err := s.addBoundary(u.Boundary); err != nil {
			return nil, err
		}
		if caller == "" {
			caller = src
		}
	}
	if err := s.addInputs(); err != nil {
		return nil, err
	}
	return s.run(caller)
}

func (s *simulation) addBoundary(arn string) error {
	if arn == "" {
		return nil
	}
	s.hasBoundary = true
	return s.addManaged(&s.boundary, arn)
}

func (c *call) simulateCustom() (any, error) {
	if err := c.authorize("*", ""); err != nil {
		return nil, err
	}
	s := &simulation{c: c, sources: map[string]simSource{}}
	if err := s.addInputs(); err != nil {
		return nil, err
	}
	return s.run(c.get("CallerArn"))
}

// run decides every action on every resource.
func (s *simulation) run(callerARN string) (any, error) {
	c := s.c
	if len(s.resource) > 0 && callerARN == "" {
		return nil, validation("CallerArn is required with a ResourcePolicy when PolicySourceArn is not a user or role: a resource policy's Principal needs a caller to match.")
	}
	var ctx authz.Context
	for _, e := range c.entries {
		if strings.HasSuffix(e.Type, "List") || len(e.Values) != 1 {
			ctx.Set(e.Name, keys.List(e.Values))
		} else {
			ctx.SetString(e.Name, e.Values[0])
		}
	}
	var principal authz.Principal
	if callerARN != "" {
		principal = authz.ParsePrincipal(callerARN)
		ctx.SetDefaults(principal, c.h.clock())
	} else {
		// No caller: identity policies alone decide, and no key about
		// the caller is made up.
		principal = authz.Principal{Kind: authz.User, Partition: iam.Partition, Account: c.h.dir.Account()}
		ctx.SetDefaults(authz.Principal{Kind: authz.Anonymous}, c.h.clock())
	}
	owner := c.get("ResourceOwner")
	if strings.HasPrefix(owner, "arn:") {
		if parts := strings.SplitN(owner, ":", 6); len(parts) == 6 {
			owner = parts[4]
		}
	}
	ps := authz.Policies{Identity: authz.NewSet(s.identity...)}
	if s.hasBoundary {
		ps.Boundary = authz.NewSet(s.boundary...)
	}
	if len(s.resource) > 0 {
		ps.Resource = authz.NewSet(s.resource...)
	}
	resources := c.lists["ResourceArns"]
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	if n := len(c.lists["ActionNames"]) * len(resources); n > maxEvaluations {
		return nil, validation(fmt.Sprintf("A simulation may decide at most %d action and resource pairs; this one asks for %d.", maxEvaluations, n))
	}
	type indexed struct {
		i int
		r evaluationXML
	}
	var all []indexed
	for _, action := range c.lists["ActionNames"] {
		missing := s.missing(action, &ctx)
		for _, res := range resources {
			req := &authz.Request{Principal: principal, Action: action, Resource: res, ResourceAccount: owner, Context: &ctx}
			d := authz.Evaluate(req, &ps)
			r := evaluationXML{
				EvalActionName: action, EvalResourceName: res, EvalDecision: d.Effect.String(),
				MatchedStatements: []statementXML{}, MissingContextValues: missing,
			}
			for _, st := range d.Matched() {
				// A policy that is both attached and the boundary allows
				// in both layers: name its statement once.
				if x := s.statement(st); !slices.ContainsFunc(r.MatchedStatements, func(y statementXML) bool { return sameStatement(x, y) }) {
					r.MatchedStatements = append(r.MatchedStatements, x)
				}
			}
			if s.hasBoundary {
				r.PermissionsBoundaryDecisionDetail = &boundaryDetailXML{
					AllowedByPermissionsBoundary: !(d.Effect == authz.ImplicitDeny && d.BlockedBy == authz.LayerBoundary),
				}
			}
			all = append(all, indexed{len(all), r})
		}
	}
	all, more, marker, err := page(c, all, func(x indexed) string { return fmt.Sprintf("%06d", x.i) })
	if err != nil {
		return nil, err
	}
	results := make([]evaluationXML, len(all))
	for i, x := range all {
		results[i] = x.r
	}
	return simulationResult{EvaluationResults: results, IsTruncated: more, Marker: marker}, nil
}

// statement names a matched statement as AWS's simulator does.
func (s *simulation) statement(st *authz.Statement) statementXML {
	src := s.sources[st.Policy.Name]
	x := statementXML{SourcePolicyID: src.id, SourcePolicyType: src.typ}
	if src.doc != nil && st.Index >= 0 && st.Index < len(src.doc.Statements) {
		pos := src.doc.Statements[st.Index].Pos
		x.StartPosition = &positionXML{Line: pos.Line, Column: pos.Col}
	}
	return x
}

func sameStatement(a, b statementXML) bool {
	return a.SourcePolicyID == b.SourcePolicyID && a.SourcePolicyType == b.SourcePolicyType &&
		(a.StartPosition == nil) == (b.StartPosition == nil) && (a.StartPosition == nil || *a.StartPosition == *b.StartPosition)
}

// missing lists the condition keys that statements about action use and
// the request's context does not give, in the order first used: the
// decision may change once they are given.
func (s *simulation) missing(action string, ctx *authz.Context) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(s.sources)) {
		doc := s.sources[name].doc
		if doc == nil {
			continue
		}
		for _, st := range doc.Statements {
			if !aboutAction(st, action) {
				continue
			}
			for _, cond := range st.Conditions {
				k := strings.ToLower(cond.Key)
				if _, ok := ctx.Lookup(cond.Key); ok || seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, cond.Key)
			}
		}
	}
	return out
}

// aboutAction reports whether a statement's Action or NotAction covers
// action.
func aboutAction(st *policy.Statement, action string) bool {
	match := func(vs []policy.Value) bool {
		for _, v := range vs {
			p, err := wildcard.Compile(v.S, wildcard.Options{Fold: true})
			if err == nil && p.Match(action, nil) {
				return true
			}
		}
		return false
	}
	if st.Action != nil {
		return match(st.Action)
	}
	if st.NotAction != nil {
		return !match(st.NotAction)
	}
	return false
}
