package iamapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/ztgate/ztgate/internal/iam"
)

// authRole finds the role an action is on and authorizes the action on
// its ARN, as authUser does for users.
func (c *call) authRole(name string) (iam.Role, error) {
	r, err := c.h.dir.GetRole(c.ctx, name)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) {
		return r, err
	}
	if err != nil {
		r = iam.Role{Name: name, Account: c.h.dir.Account()}
	}
	c.setResourceTags(r.Tags)
	if aerr := c.authorize(r.ARN(), typeRole); aerr != nil {
		return r, aerr
	}
	return r, err
}

// seconds reads a duration in seconds (checked by validate).
func (c *call) seconds(name string) time.Duration {
	n, _ := strconv.ParseInt(c.get(name), 10, 64)
	return time.Duration(n) * time.Second
}

func (c *call) createRole() (any, error) {
	r := iam.Role{
		Name: c.get("RoleName"), Account: c.h.dir.Account(), Path: c.get("Path"), Description: c.get("Description"),
		TrustPolicy: c.get("AssumeRolePolicyDocument"), MaxSessionDuration: c.seconds("MaxSessionDuration"), Tags: c.tags,
	}
	r.Boundary = c.get("PermissionsBoundary")
	c.setRequestTags(c.tags)
	if r.Boundary != "" {
		c.setContext("iam:PermissionsBoundary", r.Boundary)
	}
	if err := c.authorize(r.ARN(), typeRole); err != nil {
		return nil, err
	}
	r, err := c.h.dir.AddRole(c.ctx, r)
	if err != nil {
		return nil, err
	}
	c.response = map[string]any{"role": map[string]any{"roleName": r.Name, "roleId": r.ID, "arn": r.ARN(), "path": pathOf(r.Path)}}
	return roleResult{Role: newRoleXML(r, true)}, nil
}

func (c *call) getRole() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return roleResult{Role: newRoleXML(r, true)}, nil
}

func (c *call) listRoles() (any, error) {
	if err := c.authorize("*", ""); err != nil {
		return nil, err
	}
	rs, err := c.h.dir.ListRoles(c.ctx, c.get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	rs, more, marker, err := page(c, rs, func(r iam.Role) string { return r.Name })
	if err != nil {
		return nil, err
	}
	out := rolesResult{Roles: make([]roleXML, len(rs)), IsTruncated: more, Marker: marker}
	for i, r := range rs {
		out.Roles[i] = newRoleXML(r, false)
	}
	return out, nil
}

func (c *call) deleteRole() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeleteRole(c.ctx, r.Name)
}

func (c *call) updateRole() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	var desc *string
	if c.params.Has("Description") {
		d := c.get("Description")
		desc = &d
	}
	if err := c.h.dir.UpdateRole(c.ctx, r.Name, desc, c.seconds("MaxSessionDuration")); err != nil {
		return nil, err
	}
	return struct{}{}, nil // AWS answers with an empty UpdateRoleResult
}

func (c *call) updateRoleDescription() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	d := c.get("Description")
	if err := c.h.dir.UpdateRole(c.ctx, r.Name, &d, 0); err != nil {
		return nil, err
	}
	r, err = c.h.dir.GetRole(c.ctx, r.Name)
	if err != nil {
		return nil, err
	}
	return roleResult{Role: newRoleXML(r, true)}, nil
}

func (c *call) updateAssumeRolePolicy() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.UpdateAssumeRolePolicy(c.ctx, r.Name, c.get("PolicyDocument"))
}

func (c *call) tagRole() (any, error) {
	c.setRequestTags(c.tags)
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.TagRole(c.ctx, r.Name, c.tags)
}

func (c *call) untagRole() (any, error) {
	ks := c.lists["TagKeys"]
	c.setTagKeys(ks)
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.UntagRole(c.ctx, r.Name, ks)
}

func (c *call) listRoleTags() (any, error) {
	r, err := c.authRole(c.get("RoleName"))
	if err != nil {
		return nil, err
	}
	return pageTags(c, r.Tags)
}
