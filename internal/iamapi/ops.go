package iamapi

import (
	"regexp"
	"strconv"
	"unicode/utf8"
)

// kind is the shape of a request parameter.
type kind uint8

const (
	str            kind = iota // a string
	doc                        // a policy document (the CLI reads file://)
	num                        // an integer
	boolean                    // true or false
	list                       // Name.member.N strings
	docList                    // Name.member.N policy documents
	tags                       // Tags.member.N.Key / .Value
	contextEntries             // ContextEntries.member.N.{ContextKeyName,ContextKeyValues.member.N,ContextKeyType}
)

// constraint is what AWS's API model says of a parameter, checked before
// anything else as AWS does, with its wording.
type constraint struct {
	min, max int // length in characters; max 0 for none
	pattern  *regexp.Regexp
	patText  string   // the pattern as AWS's message prints it
	enum     []string // the values allowed, when set
	lo, hi   int64    // a number's bounds, when hi > 0
}

var (
	namePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathPattern = regexp.MustCompile(`^(/|/[\x21-\x7E]+/)$`)
	keyPattern  = regexp.MustCompile(`^\w+$`)

	userName       = &constraint{min: 1, max: 128, pattern: namePattern, patText: `[\w+=,.@-]+`}
	newUserName    = &constraint{min: 1, max: 64, pattern: namePattern, patText: `[\w+=,.@-]+`}
	roleName       = &constraint{min: 1, max: 64, pattern: namePattern, patText: `[\w+=,.@-]+`}
	groupName      = &constraint{min: 1, max: 128, pattern: namePattern, patText: `[\w+=,.@-]+`}
	policyName     = &constraint{min: 1, max: 128, pattern: namePattern, patText: `[\w+=,.@-]+`}
	pathName       = &constraint{min: 1, max: 512, pattern: pathPattern, patText: `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`}
	pathPrefix     = &constraint{min: 1, max: 512, pattern: regexp.MustCompile(`^/[\x21-\x7E]*$`), patText: `\u002F[\u0021-\u007F]*`}
	arnName        = &constraint{min: 20, max: 2048}
	accessKeyID    = &constraint{min: 16, max: 128, pattern: keyPattern, patText: `[\w]+`}
	keyStatus      = &constraint{enum: []string{"Active", "Inactive"}}
	description    = &constraint{max: 1000}
	maxSession     = &constraint{lo: 3600, hi: 43200}
	maxItems       = &constraint{lo: 1, hi: 1000}
	markerText     = &constraint{min: 1, max: 320}
	policyScope    = &constraint{enum: []string{"All", "AWS", "Local"}}
	versionID      = &constraint{pattern: regexp.MustCompile(`^v[1-9][0-9]*(\.[A-Za-z0-9-]*)?$`), patText: `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`}
	documentText   = &constraint{min: 1, max: 131072}
	resourceOwner  = &constraint{min: 1, max: 2048}
	resourceHandle = &constraint{min: 1, max: 64}
)

// check returns AWS's words for each way v breaks c, for the parameter
// called field in messages.
func (c *constraint) check(field, v string, k kind) []string {
	if c == nil {
		return nil
	}
	at := "Value '" + clip(v) + "' at '" + field + "' failed to satisfy constraint: Member must "
	var out []string
	if k == num {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			out = append(out, at+"be a number")
		case c.hi > 0 && n < c.lo:
			out = append(out, at+"have value greater than or equal to "+strconv.FormatInt(c.lo, 10))
		case c.hi > 0 && n > c.hi:
			out = append(out, at+"have value less than or equal to "+strconv.FormatInt(c.hi, 10))
		}
		return out
	}
	n := utf8.RuneCountInString(v)
	if n < c.min {
		out = append(out, at+"have length greater than or equal to "+strconv.Itoa(c.min))
	}
	if c.max > 0 && n > c.max {
		out = append(out, at+"have length less than or equal to "+strconv.Itoa(c.max))
	}
	if c.pattern != nil && n > 0 && !c.pattern.MatchString(v) {
		out = append(out, at+"satisfy regular expression pattern: "+c.patText)
	}
	if c.enum != nil {
		ok := false
		for _, e := range c.enum {
			ok = ok || e == v
		}
		if !ok {
			s := "["
			for i, e := range c.enum {
				if i > 0 {
					s += ", "
				}
				s += e
			}
			out = append(out, at+"satisfy enum value set: "+s+"]")
		}
	}
	return out
}

// param is one request parameter of an action.
type param struct {
	name     string // as on the wire: "RoleName"
	kind     kind
	required bool
	check    *constraint
	usage    string // for the CLI
}

// op is one IAM action: its parameters, whether it changes anything, how
// the handler runs it and what it returns.
type op struct {
	action string
	write  bool
	params []param
	// arg is the parameter the CLI also takes as its one positional
	// argument ("ztgate iam create-user NAME"); "" for none.
	arg string
	// run authorizes and performs the action and returns its result, nil
	// for actions whose response has no result element.
	run func(*call) (any, error)
	// result returns a new value of the result's type, for the CLI to
	// decode into; nil when run returns nil.
	result func() any
	short  string
	// paged actions take Marker and MaxItems; the CLI follows markers.
	paged bool
}

// Parameters many actions share.
var (
	pUserName        = param{name: "UserName", required: true, check: userName, usage: "the user's name"}
	pUserNameSelf    = param{name: "UserName", check: userName, usage: "the user's name (default: the caller's user)"}
	pRoleName        = param{name: "RoleName", required: true, check: roleName, usage: "the role's name"}
	pGroupName       = param{name: "GroupName", required: true, check: groupName, usage: "the group's name"}
	pPolicyName      = param{name: "PolicyName", required: true, check: policyName, usage: "the inline policy's name"}
	pPolicyDocument  = param{name: "PolicyDocument", kind: doc, required: true, check: documentText, usage: "the policy document: JSON, or file://PATH"}
	pPolicyArn       = param{name: "PolicyArn", required: true, check: arnName, usage: "the managed policy's ARN"}
	pPath            = param{name: "Path", check: pathName, usage: "the path, beginning and ending with /"}
	pPathPrefix      = param{name: "PathPrefix", check: pathPrefix, usage: "list only what has a path beginning with this"}
	pTags            = param{name: "Tags", kind: tags, usage: "a tag as Key=K,Value=V or K=V; repeat for more"}
	pRequiredTags    = param{name: "Tags", kind: tags, required: true, usage: "a tag as Key=K,Value=V or K=V; repeat for more"}
	pBoundary        = param{name: "PermissionsBoundary", check: arnName, usage: "the ARN of the managed policy that bounds the permissions"}
	pRequiredBound   = param{name: "PermissionsBoundary", required: true, check: arnName, usage: "the ARN of the managed policy that bounds the permissions"}
	pAccessKeyID     = param{name: "AccessKeyId", required: true, check: accessKeyID, usage: "the access key id"}
	pMarker          = param{name: "Marker", check: markerText, usage: "continue a listing from the marker a truncated answer gave"}
	pMaxItems        = param{name: "MaxItems", kind: num, check: maxItems, usage: "the most items to return in one answer (1 to 1000)"}
	pActionNames     = param{name: "ActionNames", kind: list, required: true, usage: "the actions to simulate (comma-separated or repeated)"}
	pResourceArns    = param{name: "ResourceArns", kind: list, usage: "the resources to simulate on (default *)"}
	pPolicyInputList = param{name: "PolicyInputList", kind: docList, usage: "an identity policy to add: JSON or file://PATH; repeat for more"}
	pBoundaryInputs  = param{name: "PermissionsBoundaryPolicyInputList", kind: docList, usage: "a permissions boundary to simulate with instead of the principal's: JSON or file://PATH"}
	pResourcePolicy  = param{name: "ResourcePolicy", kind: doc, check: documentText, usage: "a resource policy to simulate with: JSON or file://PATH"}
	pResourceOwner   = param{name: "ResourceOwner", check: resourceOwner, usage: "the account that owns the resources"}
	pCallerArn       = param{name: "CallerArn", check: arnName, usage: "the ARN of the user to simulate as"}
	pContextEntries  = param{name: "ContextEntries", kind: contextEntries, usage: "a condition key as ContextKeyName=K,ContextKeyValues=V[,V...],ContextKeyType=T; repeat for more"}
	pResourceHandle  = param{name: "ResourceHandlingOption", check: resourceHandle, usage: "accepted for compatibility; ignored"}
)

func paged(ps ...param) []param { return append(ps, pMarker, pMaxItems) }

// ops is the actions the handler answers, by name. It is filled once and
// only read after.
var ops = byAction([]*op{
	// Users.
	{action: "CreateUser", write: true, arg: "UserName", run: (*call).createUser, result: newT[userResult], short: "Create a user",
		params: []param{{name: "UserName", required: true, check: newUserName, usage: "the user's name"}, pPath, pBoundary, pTags}},
	{action: "GetUser", arg: "UserName", run: (*call).getUser, result: newT[userResult], short: "Describe a user (default: the caller's)",
		params: []param{pUserNameSelf}},
	{action: "ListUsers", run: (*call).listUsers, result: newT[usersResult], short: "List users", paged: true,
		params: paged(pPathPrefix)},
	{action: "DeleteUser", write: true, arg: "UserName", run: (*call).deleteUser, short: "Delete a user without keys, policies or groups",
		params: []param{pUserName}},
	{action: "TagUser", write: true, arg: "UserName", run: (*call).tagUser, short: "Add or replace a user's tags",
		params: []param{pUserName, pRequiredTags}},
	{action: "ListUserTags", arg: "UserName", run: (*call).listUserTags, result: newT[tagsResult], short: "List a user's tags", paged: true,
		params: paged(pUserName)},
	{action: "ListGroupsForUser", arg: "UserName", run: (*call).listGroupsForUser, result: newT[groupsResult], short: "List the groups a user is in", paged: true,
		params: paged(pUserName)},

	// Access keys.
	{action: "CreateAccessKey", write: true, arg: "UserName", run: (*call).createAccessKey, result: newT[accessKeyResult], short: "Create an access key; its secret is shown only now",
		params: []param{pUserNameSelf}},
	{action: "UpdateAccessKey", write: true, run: (*call).updateAccessKey, short: "Activate or deactivate an access key",
		params: []param{pUserNameSelf, pAccessKeyID, {name: "Status", required: true, check: keyStatus, usage: "Active or Inactive"}}},
	{action: "DeleteAccessKey", write: true, arg: "AccessKeyId", run: (*call).deleteAccessKey, short: "Delete an access key",
		params: []param{pUserNameSelf, pAccessKeyID}},
	{action: "GetAccessKeyLastUsed", arg: "AccessKeyId", run: (*call).getAccessKeyLastUsed, result: newT[accessKeyLastUsedResult], short: "Tell when, for which service and in which region an access key was last used",
		params: []param{pAccessKeyID}},
	{action: "ListAccessKeys", arg: "UserName", run: (*call).listAccessKeys, result: newT[accessKeysResult], short: "List a user's access keys", paged: true,
		params: paged(pUserNameSelf)},

	// Roles.
	{action: "CreateRole", write: true, arg: "RoleName", run: (*call).createRole, result: newT[roleResult], short: "Create a role",
		params: []param{pRoleName, {name: "AssumeRolePolicyDocument", kind: doc, required: true, check: documentText, usage: "the trust policy: JSON, or file://PATH"},
			pPath, {name: "Description", check: description, usage: "the role's description"},
			{name: "MaxSessionDuration", kind: num, check: maxSession, usage: "the longest session, in seconds (3600 to 43200)"}, pBoundary, pTags}},
	{action: "GetRole", arg: "RoleName", run: (*call).getRole, result: newT[roleResult], short: "Describe a role",
		params: []param{pRoleName}},
	{action: "ListRoles", run: (*call).listRoles, result: newT[rolesResult], short: "List roles", paged: true,
		params: paged(pPathPrefix)},
	{action: "DeleteRole", write: true, arg: "RoleName", run: (*call).deleteRole, short: "Delete a role without policies",
		params: []param{pRoleName}},
	{action: "UpdateRole", write: true, arg: "RoleName", run: (*call).updateRole, short: "Change a role's description or longest session",
		params: []param{pRoleName, {name: "Description", check: description, usage: "the role's description"},
			{name: "MaxSessionDuration", kind: num, check: maxSession, usage: "the longest session, in seconds (3600 to 43200)"}}},
	{action: "UpdateRoleDescription", write: true, arg: "RoleName", run: (*call).updateRoleDescription, result: newT[roleResult], short: "Change a role's description",
		params: []param{pRoleName, {name: "Description", required: true, check: description, usage: "the role's description"}}},
	{action: "UpdateAssumeRolePolicy", write: true, arg: "RoleName", run: (*call).updateAssumeRolePolicy, short: "Replace a role's trust policy",
		params: []param{pRoleName, pPolicyDocument}},
	{action: "TagRole", write: true, arg: "RoleName", run: (*call).tagRole, short: "Add or replace a role's tags",
		params: []param{pRoleName, pRequiredTags}},
	{action: "UntagRole", write: true, arg: "RoleName", run: (*call).untagRole, short: "Remove tags from a role",
		params: []param{pRoleName, {name: "TagKeys", kind: list, required: true, usage: "the keys of the tags to remove"}}},
	{action: "ListRoleTags", arg: "RoleName", run: (*call).listRoleTags, result: newT[tagsResult], short: "List a role's tags", paged: true,
		params: paged(pRoleName)},

	// Inline policies.
	{action: "PutUserPolicy", write: true, arg: "UserName", run: (*call).putPolicy, short: "Add or replace a user's inline policy",
		params: []param{pUserName, pPolicyName, pPolicyDocument}},
	{action: "GetUserPolicy", arg: "UserName", run: (*call).getPolicyOf, result: newT[userPolicyResult], short: "Show a user's inline policy",
		params: []param{pUserName, pPolicyName}},
	{action: "DeleteUserPolicy", write: true, arg: "UserName", run: (*call).deletePolicyOf, short: "Delete a user's inline policy",
		params: []param{pUserName, pPolicyName}},
	{action: "ListUserPolicies", arg: "UserName", run: (*call).listPoliciesOf, result: newT[policyNamesResult], short: "List a user's inline policies", paged: true,
		params: paged(pUserName)},
	{action: "PutRolePolicy", write: true, arg: "RoleName", run: (*call).putPolicy, short: "Add or replace a role's inline policy",
		params: []param{pRoleName, pPolicyName, pPolicyDocument}},
	{action: "GetRolePolicy", arg: "RoleName", run: (*call).getPolicyOf, result: newT[rolePolicyResult], short: "Show a role's inline policy",
		params: []param{pRoleName, pPolicyName}},
	{action: "DeleteRolePolicy", write: true, arg: "RoleName", run: (*call).deletePolicyOf, short: "Delete a role's inline policy",
		params: []param{pRoleName, pPolicyName}},
	{action: "ListRolePolicies", arg: "RoleName", run: (*call).listPoliciesOf, result: newT[policyNamesResult], short: "List a role's inline policies", paged: true,
		params: paged(pRoleName)},
	{action: "PutGroupPolicy", write: true, arg: "GroupName", run: (*call).putPolicy, short: "Add or replace a group's inline policy",
		params: []param{pGroupName, pPolicyName, pPolicyDocument}},
	{action: "GetGroupPolicy", arg: "GroupName", run: (*call).getPolicyOf, result: newT[groupPolicyResult], short: "Show a group's inline policy",
		params: []param{pGroupName, pPolicyName}},
	{action: "DeleteGroupPolicy", write: true, arg: "GroupName", run: (*call).deletePolicyOf, short: "Delete a group's inline policy",
		params: []param{pGroupName, pPolicyName}},
	{action: "ListGroupPolicies", arg: "GroupName", run: (*call).listPoliciesOf, result: newT[policyNamesResult], short: "List a group's inline policies", paged: true,
		params: paged(pGroupName)},

	// Managed policy attachments and boundaries.
	{action: "AttachUserPolicy", write: true, arg: "UserName", run: (*call).attachPolicy, short: "Attach a managed policy to a user",
		params: []param{pUserName, pPolicyArn}},
	{action: "DetachUserPolicy", write: true, arg: "UserName", run: (*call).detachPolicy, short: "Detach a managed policy from a user",
		params: []param{pUserName, pPolicyArn}},
	{action: "ListAttachedUserPolicies", arg: "UserName", run: (*call).listAttached, result: newT[attachedPoliciesResult], short: "List a user's managed policies", paged: true,
		params: paged(pUserName, pPathPrefix)},
	{action: "AttachRolePolicy", write: true, arg: "RoleName", run: (*call).attachPolicy, short: "Attach a managed policy to a role",
		params: []param{pRoleName, pPolicyArn}},
	{action: "DetachRolePolicy", write: true, arg: "RoleName", run: (*call).detachPolicy, short: "Detach a managed policy from a role",
		params: []param{pRoleName, pPolicyArn}},
	{action: "ListAttachedRolePolicies", arg: "RoleName", run: (*call).listAttached, result: newT[attachedPoliciesResult], short: "List a role's managed policies", paged: true,
		params: paged(pRoleName, pPathPrefix)},
	{action: "AttachGroupPolicy", write: true, arg: "GroupName", run: (*call).attachPolicy, short: "Attach a managed policy to a group",
		params: []param{pGroupName, pPolicyArn}},
	{action: "DetachGroupPolicy", write: true, arg: "GroupName", run: (*call).detachPolicy, short: "Detach a managed policy from a group",
		params: []param{pGroupName, pPolicyArn}},
	{action: "ListAttachedGroupPolicies", arg: "GroupName", run: (*call).listAttached, result: newT[attachedPoliciesResult], short: "List a group's managed policies", paged: true,
		params: paged(pGroupName, pPathPrefix)},
	{action: "PutUserPermissionsBoundary", write: true, arg: "UserName", run: (*call).putBoundary, short: "Set a user's permissions boundary",
		params: []param{pUserName, pRequiredBound}},
	{action: "DeleteUserPermissionsBoundary", write: true, arg: "UserName", run: (*call).deleteBoundary, short: "Remove a user's permissions boundary",
		params: []param{pUserName}},
	{action: "PutRolePermissionsBoundary", write: true, arg: "RoleName", run: (*call).putBoundary, short: "Set a role's permissions boundary",
		params: []param{pRoleName, pRequiredBound}},
	{action: "DeleteRolePermissionsBoundary", write: true, arg: "RoleName", run: (*call).deleteBoundary, short: "Remove a role's permissions boundary",
		params: []param{pRoleName}},

	// Groups.
	{action: "CreateGroup", write: true, arg: "GroupName", run: (*call).createGroup, result: newT[groupResult], short: "Create a group",
		params: []param{pGroupName, pPath}},
	{action: "GetGroup", arg: "GroupName", run: (*call).getGroup, result: newT[getGroupResult], short: "Describe a group and list its users", paged: true,
		params: paged(pGroupName)},
	{action: "ListGroups", run: (*call).listGroups, result: newT[groupsResult], short: "List groups", paged: true,
		params: paged(pPathPrefix)},
	{action: "DeleteGroup", write: true, arg: "GroupName", run: (*call).deleteGroup, short: "Delete a group without users or policies",
		params: []param{pGroupName}},
	{action: "AddUserToGroup", write: true, arg: "GroupName", run: (*call).addUserToGroup, short: "Add a user to a group",
		params: []param{pGroupName, pUserName}},
	{action: "RemoveUserFromGroup", write: true, arg: "GroupName", run: (*call).removeUserFromGroup, short: "Remove a user from a group",
		params: []param{pGroupName, pUserName}},

	// Managed policies.
	{action: "CreatePolicy", write: true, arg: "PolicyName", run: (*call).createPolicy, result: newT[policyResult], short: "Create a managed policy",
		params: []param{{name: "PolicyName", required: true, check: policyName, usage: "the policy's name"}, pPolicyDocument, pPath,
			{name: "Description", check: description, usage: "the policy's description"}, pTags}},
	{action: "GetPolicy", arg: "PolicyArn", run: (*call).getPolicy, result: newT[policyResult], short: "Describe a managed policy",
		params: []param{pPolicyArn}},
	{action: "ListPolicies", run: (*call).listPolicies, result: newT[policiesResult], short: "List managed policies", paged: true,
		params: paged(pPathPrefix, param{name: "Scope", check: policyScope, usage: "All, AWS or Local (ztgate has only Local policies)"},
			param{name: "OnlyAttached", kind: boolean, usage: "list only policies attached to something"})},
	{action: "DeletePolicy", write: true, arg: "PolicyArn", run: (*call).deletePolicy, short: "Delete a managed policy nothing uses",
		params: []param{pPolicyArn}},
	{action: "GetPolicyVersion", arg: "PolicyArn", run: (*call).getPolicyVersion, result: newT[policyVersionResult], short: "Show a managed policy's document (version v1)",
		params: []param{pPolicyArn, {name: "VersionId", required: true, check: versionID, usage: "the version: v1"}}},
	{action: "ListPolicyVersions", arg: "PolicyArn", run: (*call).listPolicyVersions, result: newT[policyVersionsResult], short: "List a managed policy's versions (v1)", paged: true,
		params: paged(pPolicyArn)},

	// Simulation.
	{action: "SimulatePrincipalPolicy", run: (*call).simulatePrincipal, result: newT[simulationResult], short: "Decide actions with a user's, group's or role's policies", paged: true,
		params: paged(param{name: "PolicySourceArn", required: true, check: arnName, usage: "the user, group or role whose policies to simulate"},
			pActionNames, pResourceArns, pPolicyInputList, pBoundaryInputs, pResourcePolicy, pResourceOwner, pCallerArn, pContextEntries, pResourceHandle)},
	{action: "SimulateCustomPolicy", run: (*call).simulateCustom, result: newT[simulationResult], short: "Decide actions with the policies given", paged: true,
		params: paged(param{name: "PolicyInputList", kind: docList, required: true, usage: "an identity policy: JSON or file://PATH; repeat for more"},
			pActionNames, pResourceArns, pBoundaryInputs, pResourcePolicy, pResourceOwner, pCallerArn, pContextEntries, pResourceHandle)},
})

func byAction(list []*op) map[string]*op {
	m := make(map[string]*op, len(list))
	for _, o := range list {
		m[o.action] = o
	}
	return m
}

func newT[T any]() any { return new(T) }
