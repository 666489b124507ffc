package iamapi

import (
	"errors"

	"github.com/ztgate/ztgate/internal/iam"
)

// authGroup finds the group an action is on, with its members, and
// authorizes the action on its ARN, as authUser does for users.
func (c *call) authGroup(name string) (iam.Group, []iam.User, error) {
	g, members, err := c.h.dir.GetGroup(c.ctx, name)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) {
		return g, nil, err
	}
	if err != nil {
		g = iam.Group{Name: name, Account: c.h.dir.Account()}
	}
	if aerr := c.authorize(g.ARN(), typeGroup); aerr != nil {
		return g, nil, aerr
	}
	return g, members, err
}

func (c *call) createGroup() (any, error) {
	g := iam.Group{Name: c.get("GroupName"), Account: c.h.dir.Account(), Path: c.get("Path")}
	if err := c.authorize(g.ARN(), typeGroup); err != nil {
		return nil, err
	}
	g, err := c.h.dir.AddGroup(c.ctx, g)
	if err != nil {
		return nil, err
	}
	c.response = map[string]any{"group": map[string]any{"groupName": g.Name, "groupId": g.ID, "arn": g.ARN(), "path": pathOf(g.Path)}}
	return groupResult{Group: newGroupXML(g)}, nil
}

func (c *call) getGroup() (any, error) {
	g, members, err := c.authGroup(c.get("GroupName"))
	if err != nil {
		return nil, err
	}
	members, more, marker, err := page(c, members, func(u iam.User) string { return u.Name })
	if err != nil {
		return nil, err
	}
	out := getGroupResult{Group: newGroupXML(g), Users: make([]userXML, len(members)), IsTruncated: more, Marker: marker}
	for i, u := range members {
		out.Users[i] = newUserXML(u, false)
	}
	return out, nil
}

func (c *call) listGroups() (any, error) {
	if err := c.authorize("*", ""); err != nil {
		return nil, err
	}
	gs, err := c.h.dir.ListGroups(c.ctx, c.get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	return pageGroups(c, gs)
}

func pageGroups(c *call, gs []iam.Group) (any, error) {
	gs, more, marker, err := page(c, gs, func(g iam.Group) string { return g.Name })
	if err != nil {
		return nil, err
	}
	out := groupsResult{Groups: make([]groupXML, len(gs)), IsTruncated: more, Marker: marker}
	for i, g := range gs {
		out.Groups[i] = newGroupXML(g)
	}
	return out, nil
}

func (c *call) deleteGroup() (any, error) {
	g, _, err := c.authGroup(c.get("GroupName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeleteGroup(c.ctx, g.Name)
}

func (c *call) addUserToGroup() (any, error) {
	g, _, err := c.authGroup(c.get("GroupName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.AddUserToGroup(c.ctx, g.Name, c.get("UserName"))
}

func (c *call) removeUserFromGroup() (any, error) {
	g, _, err := c.authGroup(c.get("GroupName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.RemoveUserFromGroup(c.ctx, g.Name, c.get("UserName"))
}
