package iamapi

import (
	"errors"
	"slices"
	"strings"

	"github.com/ztgate/ztgate/internal/iam"
)

// declares reports whether the action takes the parameter.
func (c *call) declares(name string) bool {
	return slices.ContainsFunc(c.op.params, func(p param) bool { return p.name == name })
}

// holder finds the user, group or role an inline-policy, attachment or
// boundary action is on and authorizes the action on its ARN.
func (c *call) holder() (iam.Holder, string, error) {
	switch {
	case c.declares("RoleName"):
		r, err := c.authRole(c.get("RoleName"))
		return iam.HolderRole, r.Name, err
	case c.declares("GroupName"):
		g, _, err := c.authGroup(c.get("GroupName"))
		return iam.HolderGroup, g.Name, err
	default:
		u, err := c.authUser(c.get("UserName"))
		return iam.HolderUser, u.Name, err
	}
}

func (c *call) putPolicy() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.PutPolicy(c.ctx, h, name, c.get("PolicyName"), c.get("PolicyDocument"))
}

func (c *call) getPolicyOf() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	pn := c.get("PolicyName")
	d, err := c.h.dir.GetInlinePolicy(c.ctx, h, name, pn)
	if err != nil {
		return nil, err
	}
	switch h {
	case iam.HolderRole:
		return rolePolicyResult{RoleName: name, PolicyName: pn, PolicyDocument: document(d)}, nil
	case iam.HolderGroup:
		return groupPolicyResult{GroupName: name, PolicyName: pn, PolicyDocument: document(d)}, nil
	}
	return userPolicyResult{UserName: name, PolicyName: pn, PolicyDocument: document(d)}, nil
}

func (c *call) deletePolicyOf() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeleteInlinePolicy(c.ctx, h, name, c.get("PolicyName"))
}

func (c *call) listPoliciesOf() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	names, err := c.h.dir.ListInlinePolicies(c.ctx, h, name)
	if err != nil {
		return nil, err
	}
	names, more, marker, err := page(c, names, func(s string) string { return s })
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	return policyNamesResult{PolicyNames: names, IsTruncated: more, Marker: marker}, nil
}

func (c *call) attachPolicy() (any, error) {
	arn := c.get("PolicyArn")
	c.setContext("iam:PolicyARN", arn)
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.AttachPolicy(c.ctx, h, name, arn)
}

func (c *call) detachPolicy() (any, error) {
	arn := c.get("PolicyArn")
	c.setContext("iam:PolicyARN", arn)
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DetachPolicy(c.ctx, h, name, arn)
}

// splitPolicyARN returns a managed policy ARN's path and name.
func splitPolicyARN(arn string) (path, name string) {
	_, rest, _ := strings.Cut(arn, ":policy")
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "/", rest
	}
	return rest[:i+1], rest[i+1:]
}

func (c *call) listAttached() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	arns, err := c.h.dir.ListAttachedPolicies(c.ctx, h, name)
	if err != nil {
		return nil, err
	}
	var ps []attachedPolicyXML
	for _, arn := range arns {
		path, pn := splitPolicyARN(arn)
		if prefix := c.get("PathPrefix"); prefix != "" && !strings.HasPrefix(path, prefix) {
			continue
		}
		ps = append(ps, attachedPolicyXML{PolicyName: pn, PolicyArn: arn})
	}
	ps, more, marker, err := page(c, ps, func(p attachedPolicyXML) string { return p.PolicyArn })
	if err != nil {
		return nil, err
	}
	if ps == nil {
		ps = []attachedPolicyXML{}
	}
	return attachedPoliciesResult{AttachedPolicies: ps, IsTruncated: more, Marker: marker}, nil
}

func (c *call) putBoundary() (any, error) {
	arn := c.get("PermissionsBoundary")
	c.setContext("iam:PermissionsBoundary", arn)
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.SetBoundary(c.ctx, h, name, arn)
}

func (c *call) deleteBoundary() (any, error) {
	h, name, err := c.holder()
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.SetBoundary(c.ctx, h, name, "")
}

// authPolicy finds the managed policy an action is on and authorizes the
// action on its ARN, as authUser does for users.
func (c *call) authPolicy(arn string) (iam.ManagedPolicy, error) {
	p, err := c.h.dir.GetPolicy(c.ctx, arn)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) {
		return p, err
	}
	if aerr := c.authorize(arn, typePolicy); aerr != nil {
		return p, aerr
	}
	return p, err
}

// usage counts, by policy ARN, the users, groups and roles a managed
// policy is attached to and those it bounds.
type usage struct{ attached, boundary map[string]int }

func (c *call) usage() (usage, error) {
	u := usage{attached: map[string]int{}, boundary: map[string]int{}}
	add := func(a iam.Attachments) {
		for _, arn := range a.Attached {
			u.attached[arn]++
		}
		if a.Boundary != "" {
			u.boundary[a.Boundary]++
		}
	}
	us, err := c.h.dir.ListUsers(c.ctx, "")
	if err != nil {
		return u, err
	}
	for _, x := range us {
		add(x.Attachments)
	}
	gs, err := c.h.dir.ListGroups(c.ctx, "")
	if err != nil {
		return u, err
	}
	for _, x := range gs {
		add(x.Attachments)
	}
	rs, err := c.h.dir.ListRoles(c.ctx, "")
	if err != nil {
		return u, err
	}
	for _, x := range rs {
		add(x.Attachments)
	}
	return u, nil
}

func (c *call) createPolicy() (any, error) {
	p := iam.ManagedPolicy{
		Name: c.get("PolicyName"), Account: c.h.dir.Account(), Path: c.get("Path"),
		Description: c.get("Description"), Document: c.get("PolicyDocument"),
	}
	if len(c.tags) > 0 {
		// Refused rather than dropped: a tag a condition relies on must
		// not silently be missing.
		return nil, validation("ztgate does not keep tags on managed policies.")
	}
	if err := c.authorize(p.ARN(), typePolicy); err != nil {
		return nil, err
	}
	p, err := c.h.dir.CreatePolicy(c.ctx, p)
	if err != nil {
		return nil, err
	}
	c.response = map[string]any{"policy": map[string]any{"policyName": p.Name, "policyId": p.ID, "arn": p.ARN(), "path": pathOf(p.Path)}}
	return policyResult{Policy: newPolicyXML(p, usage{}, false)}, nil
}

func (c *call) getPolicy() (any, error) {
	p, err := c.authPolicy(c.get("PolicyArn"))
	if err != nil {
		return nil, err
	}
	u, err := c.usage()
	if err != nil {
		return nil, err
	}
	return policyResult{Policy: newPolicyXML(p, u, true)}, nil
}

func (c *call) listPolicies() (any, error) {
	if err := c.authorize("*", ""); err != nil {
		return nil, err
	}
	if c.get("Scope") == "AWS" {
		return policiesResult{Policies: []policyXML{}}, nil // ztgate has no AWS-managed policies
	}
	ps, err := c.h.dir.ListPolicies(c.ctx, c.get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	u, err := c.usage()
	if err != nil {
		return nil, err
	}
	if c.get("OnlyAttached") == "true" {
		ps = slices.DeleteFunc(ps, func(p iam.ManagedPolicy) bool { return u.attached[p.ARN()] == 0 })
	}
	ps, more, marker, err := page(c, ps, func(p iam.ManagedPolicy) string { return p.Name })
	if err != nil {
		return nil, err
	}
	out := policiesResult{Policies: make([]policyXML, len(ps)), IsTruncated: more, Marker: marker}
	for i, p := range ps {
		out.Policies[i] = newPolicyXML(p, u, false)
	}
	return out, nil
}

func (c *call) deletePolicy() (any, error) {
	p, err := c.authPolicy(c.get("PolicyArn"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeletePolicy(c.ctx, p.ARN())
}

func (c *call) getPolicyVersion() (any, error) {
	arn := c.get("PolicyArn")
	p, err := c.authPolicy(arn)
	if err != nil {
		return nil, err
	}
	if v := c.get("VersionId"); v != version {
		return nil, noSuchEntity("Policy " + clip(arn) + " version " + clip(v) + " does not exist or is not attachable.")
	}
	return policyVersionResult{PolicyVersion: policyVersionXML{
		Document: document(p.Document), VersionID: version, IsDefaultVersion: true, CreateDate: timestamp(p.Updated),
	}}, nil
}

func (c *call) listPolicyVersions() (any, error) {
	p, err := c.authPolicy(c.get("PolicyArn"))
	if err != nil {
		return nil, err
	}
	return policyVersionsResult{Versions: []policyVersionXML{{VersionID: version, IsDefaultVersion: true, CreateDate: timestamp(p.Updated)}}}, nil
}
