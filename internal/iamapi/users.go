package iamapi

import (
	"context"
	"errors"
	"slices"

	"github.com/ztgate/ztgate/internal/iam"
)

// authUser finds the user an action is on and authorizes the action on
// its ARN. A user that does not exist is authorized under the ARN its
// name would have at the root path, so that a caller without permission
// learns nothing of which users exist; NoSuchEntity comes after.
func (c *call) authUser(name string) (iam.User, error) {
	u, err := c.h.dir.GetUser(c.ctx, name)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) {
		return u, err
	}
	if err != nil {
		u = iam.User{Name: name, Account: c.h.dir.Account()}
	}
	c.setResourceTags(u.Tags)
	if aerr := c.authorize(u.ARN(), typeUser); aerr != nil {
		return u, aerr
	}
	return u, err
}

// userName is the UserName parameter, or the caller's own user when it is
// absent, as AWS reads it for GetUser and the access-key actions.
func (c *call) userName() (string, error) {
	if c.params.Has("UserName") {
		return c.get("UserName"), nil
	}
	if c.caller.UserName == "" {
		return "", errNotUser
	}
	return c.caller.UserName, nil
}

func describeUser(u iam.User) map[string]any {
	return map[string]any{"user": map[string]any{"userName": u.Name, "userId": u.ID, "arn": u.ARN(), "path": pathOf(u.Path)}}
}

func (c *call) createUser() (any, error) {
	u := iam.User{Name: c.get("UserName"), Account: c.h.dir.Account(), Path: c.get("Path"), Tags: c.tags}
	u.Boundary = c.get("PermissionsBoundary")
	c.setRequestTags(c.tags)
	if u.Boundary != "" {
		c.setContext("iam:PermissionsBoundary", u.Boundary)
	}
	if err := c.authorize(u.ARN(), typeUser); err != nil {
		return nil, err
	}
	u, err := c.h.dir.AddUser(c.ctx, u)
	if err != nil {
		return nil, err
	}
	c.response = describeUser(u)
	return userResult{User: newUserXML(u, true)}, nil
}

func (c *call) getUser() (any, error) {
	name, err := c.userName()
	if err != nil {
		return nil, err
	}
	u, err := c.authUser(name)
	if err != nil {
		return nil, err
	}
	return userResult{User: newUserXML(u, true)}, nil
}

func (c *call) listUsers() (any, error) {
	if err := c.authorize("*", ""); err != nil {
		return nil, err
	}
	us, err := c.h.dir.ListUsers(c.ctx, c.get("PathPrefix"))
	if err != nil {
		return nil, err
	}
	us, more, marker, err := page(c, us, func(u iam.User) string { return u.Name })
	if err != nil {
		return nil, err
	}
	out := usersResult{Users: make([]userXML, len(us)), IsTruncated: more, Marker: marker}
	for i, u := range us {
		out.Users[i] = newUserXML(u, false)
	}
	return out, nil
}

func (c *call) deleteUser() (any, error) {
	u, err := c.authUser(c.get("UserName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeleteUser(c.ctx, u.Name)
}

func (c *call) tagUser() (any, error) {
	c.setRequestTags(c.tags)
	u, err := c.authUser(c.get("UserName"))
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.TagUser(c.ctx, u.Name, c.tags)
}

func (c *call) listUserTags() (any, error) {
	u, err := c.authUser(c.get("UserName"))
	if err != nil {
		return nil, err
	}
	return pageTags(c, u.Tags)
}

func pageTags(c *call, ts []iam.Tag) (any, error) {
	ts, more, marker, err := page(c, slices.Clone(ts), func(t iam.Tag) string { return t.Key })
	if err != nil {
		return nil, err
	}
	out := tagsResult{Tags: make([]tagXML, len(ts)), IsTruncated: more, Marker: marker}
	for i, t := range ts {
		out.Tags[i] = tagXML{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

func (c *call) listGroupsForUser() (any, error) {
	u, err := c.authUser(c.get("UserName"))
	if err != nil {
		return nil, err
	}
	gs, err := c.h.dir.ListGroups(c.ctx, "")
	if err != nil {
		return nil, err
	}
	gs = slices.DeleteFunc(gs, func(g iam.Group) bool { return !slices.Contains(u.Groups, g.Name) })
	return pageGroups(c, gs)
}

func (c *call) createAccessKey() (any, error) {
	name, err := c.userName()
	if err != nil {
		return nil, err
	}
	u, err := c.authUser(name)
	if err != nil {
		return nil, err
	}
	k, secret, err := c.h.dir.CreateAccessKey(c.ctx, u.Name)
	if err != nil {
		return nil, err
	}
	// A key whose creation is not on record must not work: if the record
	// cannot be written, the key goes.
	c.undo = func(ctx context.Context) error { return c.h.dir.DeleteAccessKey(ctx, k.User, k.ID) }
	c.response = map[string]any{"accessKey": map[string]any{
		"userName": k.User, "accessKeyId": k.ID, "status": string(k.Status), "createDate": timestamp(k.Created),
	}}
	return accessKeyResult{AccessKey: accessKeyXML{
		UserName: k.User, AccessKeyID: k.ID, Status: string(k.Status),
		SecretAccessKey: secret.Reveal(), CreateDate: timestamp(k.Created),
	}}, nil
}

func (c *call) updateAccessKey() (any, error) {
	name, err := c.userName()
	if err != nil {
		return nil, err
	}
	u, err := c.authUser(name)
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.UpdateAccessKey(c.ctx, u.Name, c.get("AccessKeyId"), iam.Status(c.get("Status")))
}

func (c *call) deleteAccessKey() (any, error) {
	name, err := c.userName()
	if err != nil {
		return nil, err
	}
	u, err := c.authUser(name)
	if err != nil {
		return nil, err
	}
	return nil, c.h.dir.DeleteAccessKey(c.ctx, u.Name, c.get("AccessKeyId"))
}

// getAccessKeyLastUsed is authorized on the key owner's ARN. For a key
// that does not exist it is authorized on every user of the account
// (user/*), so that only who may read any user's keys learns that a key
// id is unknown.
func (c *call) getAccessKeyLastUsed() (any, error) {
	id := c.get("AccessKeyId")
	owner, use, err := c.h.dir.AccessKeyLastUsed(c.ctx, id)
	if err != nil && !errors.Is(err, iam.ErrNoSuchEntity) {
		return nil, err
	}
	every := iam.User{Name: "*", Account: c.h.dir.Account()}.ARN()
	if err != nil {
		if aerr := c.authorize(every, typeUser); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if _, err := c.authUser(owner); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == "AccessDenied" {
			// Refused in the words a key that does not exist gets: whose
			// key it is is not the caller's to learn. The audit record
			// keeps the owner.
			return nil, accessDenied(c.caller.ARN, "iam:GetAccessKeyLastUsed", every, "because no identity-based policy allows the iam:GetAccessKeyLastUsed action")
		}
		return nil, err
	}
	out := accessKeyLastUsedResult{UserName: owner, AccessKeyLastUsed: accessKeyLastUsedXML{ServiceName: "N/A", Region: "N/A"}}
	if use != nil {
		out.AccessKeyLastUsed = accessKeyLastUsedXML{LastUsedDate: timestamp(use.Date), ServiceName: use.Service, Region: use.Region}
	}
	return out, nil
}

func (c *call) listAccessKeys() (any, error) {
	name, err := c.userName()
	if err != nil {
		return nil, err
	}
	u, err := c.authUser(name)
	if err != nil {
		return nil, err
	}
	ks, err := c.h.dir.ListAccessKeys(c.ctx, u.Name)
	if err != nil {
		return nil, err
	}
	ks, more, marker, err := page(c, ks, func(k iam.AccessKey) string { return k.ID })
	if err != nil {
		return nil, err
	}
	out := accessKeysResult{AccessKeyMetadata: make([]accessKeyMetadataXML, len(ks)), IsTruncated: more, Marker: marker}
	for i, k := range ks {
		out.AccessKeyMetadata[i] = accessKeyMetadataXML{UserName: k.User, AccessKeyID: k.ID, Status: string(k.Status), CreateDate: timestamp(k.Created)}
	}
	return out, nil
}
