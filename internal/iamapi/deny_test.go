package iamapi

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamsdk "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
)

// fixtures makes a role, a group and a managed policy for callers to be
// refused on.
func (e *env) fixtures(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.dir.AddRole(ctx, iam.Role{Name: "r1", TrustPolicy: trustDoc}); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.PutPolicy(ctx, iam.HolderRole, "r1", "s3", s3Doc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.AddGroup(ctx, iam.Group{Name: "g1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreatePolicy(ctx, iam.ManagedPolicy{Name: "p1", Document: s3Doc}); err != nil {
		t.Fatal(err)
	}
	if err := e.pol.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}

// denied lists calls and the resource each is decided on.
var denied = []struct {
	action   string
	write    bool
	resource string
	call     func(ctx context.Context, c *iamsdk.Client) error
}{
	{"CreateUser", true, arnOf("user", "x"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String("x")})
		return err
	}},
	{"CreateUser", true, arnOf("user", "team/x"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String("x"), Path: aws.String("/team/")})
		return err
	}},
	{"DeleteUser", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteUser(ctx, &iamsdk.DeleteUserInput{UserName: aws.String("admin")})
		return err
	}},
	{"TagUser", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.TagUser(ctx, &iamsdk.TagUserInput{UserName: aws.String("admin"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		return err
	}},
	{"CreateAccessKey", true, arnOf("user", "nobody"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{})
		return err
	}},
	{"CreateAccessKey", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{UserName: aws.String("admin")})
		return err
	}},
	{"UpdateAccessKey", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.UpdateAccessKey(ctx, &iamsdk.UpdateAccessKeyInput{UserName: aws.String("admin"), AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA"), Status: types.StatusTypeInactive})
		return err
	}},
	{"DeleteAccessKey", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteAccessKey(ctx, &iamsdk.DeleteAccessKeyInput{UserName: aws.String("admin"), AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA")})
		return err
	}},
	{"CreateRole", true, arnOf("role", "x"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateRole(ctx, &iamsdk.CreateRoleInput{RoleName: aws.String("x"), AssumeRolePolicyDocument: aws.String(trustDoc)})
		return err
	}},
	{"DeleteRole", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteRole(ctx, &iamsdk.DeleteRoleInput{RoleName: aws.String("r1")})
		return err
	}},
	{"UpdateRole", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.UpdateRole(ctx, &iamsdk.UpdateRoleInput{RoleName: aws.String("r1"), Description: aws.String("d")})
		return err
	}},
	{"UpdateAssumeRolePolicy", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.UpdateAssumeRolePolicy(ctx, &iamsdk.UpdateAssumeRolePolicyInput{RoleName: aws.String("r1"), PolicyDocument: aws.String(trustDoc)})
		return err
	}},
	{"TagRole", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.TagRole(ctx, &iamsdk.TagRoleInput{RoleName: aws.String("r1"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		return err
	}},
	{"UntagRole", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.UntagRole(ctx, &iamsdk.UntagRoleInput{RoleName: aws.String("r1"), TagKeys: []string{"k"}})
		return err
	}},
	{"PutRolePolicy", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.PutRolePolicy(ctx, &iamsdk.PutRolePolicyInput{RoleName: aws.String("r1"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
		return err
	}},
	{"DeleteRolePolicy", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteRolePolicy(ctx, &iamsdk.DeleteRolePolicyInput{RoleName: aws.String("r1"), PolicyName: aws.String("s3")})
		return err
	}},
	{"AttachRolePolicy", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.AttachRolePolicy(ctx, &iamsdk.AttachRolePolicyInput{RoleName: aws.String("r1"), PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"DetachRolePolicy", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DetachRolePolicy(ctx, &iamsdk.DetachRolePolicyInput{RoleName: aws.String("r1"), PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"PutRolePermissionsBoundary", true, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.PutRolePermissionsBoundary(ctx, &iamsdk.PutRolePermissionsBoundaryInput{RoleName: aws.String("r1"), PermissionsBoundary: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"PutUserPolicy", true, arnOf("user", "nobody"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.PutUserPolicy(ctx, &iamsdk.PutUserPolicyInput{UserName: aws.String("nobody"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
		return err
	}},
	{"DeleteUserPolicy", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteUserPolicy(ctx, &iamsdk.DeleteUserPolicyInput{UserName: aws.String("admin"), PolicyName: aws.String("policy")})
		return err
	}},
	{"AttachUserPolicy", true, arnOf("user", "nobody"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.AttachUserPolicy(ctx, &iamsdk.AttachUserPolicyInput{UserName: aws.String("nobody"), PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"DetachUserPolicy", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DetachUserPolicy(ctx, &iamsdk.DetachUserPolicyInput{UserName: aws.String("admin"), PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"PutUserPermissionsBoundary", true, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.PutUserPermissionsBoundary(ctx, &iamsdk.PutUserPermissionsBoundaryInput{UserName: aws.String("admin"), PermissionsBoundary: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"CreateGroup", true, arnOf("group", "x"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreateGroup(ctx, &iamsdk.CreateGroupInput{GroupName: aws.String("x")})
		return err
	}},
	{"DeleteGroup", true, arnOf("group", "g1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeleteGroup(ctx, &iamsdk.DeleteGroupInput{GroupName: aws.String("g1")})
		return err
	}},
	{"AddUserToGroup", true, arnOf("group", "g1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.AddUserToGroup(ctx, &iamsdk.AddUserToGroupInput{GroupName: aws.String("g1"), UserName: aws.String("nobody")})
		return err
	}},
	{"RemoveUserFromGroup", true, arnOf("group", "g1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.RemoveUserFromGroup(ctx, &iamsdk.RemoveUserFromGroupInput{GroupName: aws.String("g1"), UserName: aws.String("nobody")})
		return err
	}},
	{"PutGroupPolicy", true, arnOf("group", "g1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.PutGroupPolicy(ctx, &iamsdk.PutGroupPolicyInput{GroupName: aws.String("g1"), PolicyName: aws.String("p"), PolicyDocument: aws.String(allowAll)})
		return err
	}},
	{"AttachGroupPolicy", true, arnOf("group", "g1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.AttachGroupPolicy(ctx, &iamsdk.AttachGroupPolicyInput{GroupName: aws.String("g1"), PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"CreatePolicy", true, arnOf("policy", "x"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.CreatePolicy(ctx, &iamsdk.CreatePolicyInput{PolicyName: aws.String("x"), PolicyDocument: aws.String(allowAll)})
		return err
	}},
	{"DeletePolicy", true, arnOf("policy", "p1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.DeletePolicy(ctx, &iamsdk.DeletePolicyInput{PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	// Reads are refused too, and recorded as decisions.
	{"GetUser", false, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("admin")})
		return err
	}},
	{"GetUser", false, arnOf("user", "ghost"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("ghost")}) // AccessDenied, not NoSuchEntity
		return err
	}},
	{"ListUsers", false, "*", func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.ListUsers(ctx, &iamsdk.ListUsersInput{})
		return err
	}},
	{"GetRole", false, arnOf("role", "r1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.GetRole(ctx, &iamsdk.GetRoleInput{RoleName: aws.String("r1")})
		return err
	}},
	{"GetPolicy", false, arnOf("policy", "p1"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.GetPolicy(ctx, &iamsdk.GetPolicyInput{PolicyArn: aws.String(arnOf("policy", "p1"))})
		return err
	}},
	{"ListAccessKeys", false, arnOf("user", "nobody"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.ListAccessKeys(ctx, &iamsdk.ListAccessKeysInput{})
		return err
	}},
	{"GetAccessKeyLastUsed", false, arnOf("user", "*"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.GetAccessKeyLastUsed(ctx, &iamsdk.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAGHOSTGHOSTGHOST2")}) // AccessDenied, not NoSuchEntity
		return err
	}},
	{"SimulatePrincipalPolicy", false, arnOf("user", "admin"), func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.SimulatePrincipalPolicy(ctx, &iamsdk.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(arnOf("user", "admin")), ActionNames: []string{"s3:GetObject"}})
		return err
	}},
	{"SimulateCustomPolicy", false, "*", func(ctx context.Context, c *iamsdk.Client) error {
		_, err := c.SimulateCustomPolicy(ctx, &iamsdk.SimulateCustomPolicyInput{PolicyInputList: []string{allowAll}, ActionNames: []string{"s3:GetObject"}})
		return err
	}},
}

// TestDenied: a user without permissions is refused every call with
// AWS's AccessDenied, nothing changes, and each refusal is on record.
func TestDenied(t *testing.T) {
	e := newEnv(t)
	e.fixtures(t)
	ctx := context.Background()
	nobody := e.sdk(t, e.nobody)
	for _, tc := range denied {
		t.Run(tc.action+" "+tc.resource, func(t *testing.T) {
			before, n := e.revision(t), len(e.rec.Records())
			err := tc.call(ctx, nobody)
			code, msg, status := apiError(t, err)
			want := "User: " + arnOf("user", "nobody") + " is not authorized to perform: iam:" + tc.action + " on resource: " + tc.resource +
				" because no identity-based policy allows the iam:" + tc.action + " action"
			if code != "AccessDenied" || status != 403 || msg != want {
				t.Errorf("%s %d %q\nwant %q", code, status, msg, want)
			}
			if after := e.revision(t); after != before {
				t.Errorf("the store changed: revision %d to %d", before, after)
			}
			recs := e.rec.Records()
			if len(recs) != n+1 {
				t.Fatalf("%d records, want 1", len(recs)-n)
			}
			r := recs[n]
			category := audit.CategoryDecision
			if tc.write {
				category = audit.CategoryAdmin
			}
			if r.EventName != tc.action || r.ZTGate.Category != category || r.ZTGate.Decision != audit.ImplicitDeny || r.ErrorCode != "AccessDenied" ||
				r.UserIdentity.ARN != arnOf("user", "nobody") || r.ZTGate.Action != "iam:"+tc.action {
				t.Errorf("record %+v %+v", r, r.ZTGate)
			}
			if tc.resource != "*" && (len(r.Resources) != 1 || r.Resources[0].ARN != tc.resource) {
				t.Errorf("record resources %+v", r.Resources)
			}
		})
	}
}

// TestLastUsedHidesOwner: a caller refused GetAccessKeyLastUsed on a key
// that exists is told what a caller asking about an unknown key is told:
// whose key it is, and that it exists, are not its to learn.
func TestLastUsedHidesOwner(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	nobody := e.sdk(t, e.nobody)
	_, err := nobody.GetAccessKeyLastUsed(ctx, &iamsdk.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(e.admin.id)})
	_, known, _ := apiError(t, err)
	if r := e.last(t); len(r.Resources) == 0 || r.Resources[0].ARN != arnOf("user", "admin") {
		t.Errorf("the audit record should keep the owner: %+v", r.Resources)
	}
	_, err = nobody.GetAccessKeyLastUsed(ctx, &iamsdk.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAGHOSTGHOSTGHOST2")})
	_, unknown, _ := apiError(t, err)
	if known != unknown || strings.Contains(known, "user/admin") {
		t.Errorf("an existing key's refusal %q differs from an unknown key's %q", known, unknown)
	}
}

// TestSessionTokenWithoutMFA: credentials from GetSessionToken call no
// IAM operation unless MFA was part of the request that got them, even
// for a user allowed everything, as in AWS.
func TestSessionTokenWithoutMFA(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.sdk(t, e.sessionOf(t, "admin", false)).ListUsers(ctx, &iamsdk.ListUsersInput{})
	code, msg, status := apiError(t, err)
	if code != "AccessDenied" || status != 403 || !strings.Contains(msg, "GetSessionToken without MFA") {
		t.Errorf("without MFA: %s %d %q", code, status, msg)
	}
	if _, err := e.sdk(t, e.sessionOf(t, "admin", true)).ListUsers(ctx, &iamsdk.ListUsersInput{}); err != nil {
		t.Errorf("with MFA: %v", err)
	}
	recs := e.rec.Records()
	if r := recs[0]; r.ErrorCode != "AccessDenied" || r.ZTGate.Decision != audit.ImplicitDeny {
		t.Errorf("the refusal's record: %+v", r)
	}
}

// TestDenialWording: what refused a call is named as AWS names it.
func TestDenialWording(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.dir.CreatePolicy(ctx, iam.ManagedPolicy{Name: "read-only", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	noRoles := e.user(t, "no-roles", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoRoles","Effect":"Deny","Action":"iam:CreateRole","Resource":"*"}]}`)
	bounded := e.user(t, "bounded", allowAll)
	if err := e.dir.SetBoundary(ctx, iam.HolderUser, "bounded", arnOf("policy", "read-only")); err != nil {
		t.Fatal(err)
	}
	if err := e.pol.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		who      keyPair
		user     string
		why      string
		decision string
	}{
		{"explicit deny", noRoles, "no-roles", "with an explicit deny in an identity-based policy", audit.ExplicitDeny},
		{"boundary", bounded, "bounded", "because no permissions boundary allows the iam:CreateRole action", audit.ImplicitDeny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.sdk(t, tc.who).CreateRole(ctx, &iamsdk.CreateRoleInput{RoleName: aws.String("x"), AssumeRolePolicyDocument: aws.String(trustDoc)})
			_, msg, _ := apiError(t, err)
			want := "User: " + arnOf("user", tc.user) + " is not authorized to perform: iam:CreateRole on resource: " + arnOf("role", "x") + " " + tc.why
			if msg != want {
				t.Errorf("%q\nwant %q", msg, want)
			}
			r := e.last(t)
			if r.ZTGate.Decision != tc.decision || r.ErrorCode != "AccessDenied" {
				t.Errorf("record %+v", r.ZTGate)
			}
			if tc.decision == audit.ExplicitDeny && (len(r.ZTGate.Matched) != 1 || r.ZTGate.Matched[0].Sid != "NoRoles" || r.ZTGate.Matched[0].Effect != "Deny") {
				t.Errorf("matched %+v", r.ZTGate.Matched)
			}
		})
	}
	// A condition key the request sets: iam:PolicyARN limits what may be
	// attached.
	limited := e.user(t, "limited", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*","Condition":{"ArnEquals":{"iam:PolicyARN":"`+arnOf("policy", "read-only")+`"}}}]}`)
	c := e.sdk(t, limited)
	if _, err := c.AttachUserPolicy(ctx, &iamsdk.AttachUserPolicyInput{UserName: aws.String("limited"), PolicyArn: aws.String(arnOf("policy", "read-only"))}); err != nil {
		t.Errorf("the allowed policy: %v", err)
	}
	if err := e.dir.DetachPolicy(ctx, iam.HolderUser, "limited", arnOf("policy", "read-only")); err != nil {
		t.Fatal(err)
	}
	_, err := c.AttachUserPolicy(ctx, &iamsdk.AttachUserPolicyInput{UserName: aws.String("limited"), PolicyArn: aws.String(arnOf("policy", "other"))})
	if code, _, _ := apiError(t, err); code != "AccessDenied" {
		t.Errorf("another policy: %s", code)
	}
	if !strings.Contains(e.last(t).ZTGate.Decision, "Deny") {
		t.Errorf("record %+v", e.last(t).ZTGate)
	}
}

// TestEveryActionAuthorizes sends every action the handler knows, with
// its required parameters, as a user allowed nothing: each must be
// refused with AccessDenied, change nothing and be on record, so that no
// action can slip past authorization.
func TestEveryActionAuthorizes(t *testing.T) {
	e := newEnv(t)
	e.fixtures(t)
	values := map[string]string{
		"UserName": "admin", "RoleName": "r1", "GroupName": "g1", "PolicyName": "p", "PolicyArn": arnOf("policy", "p1"),
		"AccessKeyId": e.admin.id, "Status": "Inactive", "VersionId": "v1", "PolicySourceArn": arnOf("user", "admin"),
		"PermissionsBoundary": arnOf("policy", "p1"), "Description": "d", "PolicyDocument": allowAll,
		"AssumeRolePolicyDocument": trustDoc, "ActionNames": "s3:GetObject", "TagKeys": "k", "PolicyInputList": allowAll,
	}
	for name, o := range ops {
		t.Run(name, func(t *testing.T) {
			kv := []string{}
			for _, p := range o.params {
				if !p.required {
					continue
				}
				v, ok := values[p.name]
				switch {
				case p.kind == tags:
					kv = append(kv, p.name+".member.1.Key", "k", p.name+".member.1.Value", "v")
				case !ok:
					t.Fatalf("no value for %s", p.name)
				case p.kind == list || p.kind == docList:
					kv = append(kv, p.name+".member.1", v)
				default:
					kv = append(kv, p.name, v)
				}
			}
			before, n := e.revision(t), len(e.rec.Records())
			status, body := e.post(t, e.nobody, "iam", form(name, kv...))
			if er := parseError(t, body); status != 403 || er.Code != "AccessDenied" || !strings.Contains(er.Message, "iam:"+name) {
				t.Errorf("%d %s", status, body)
			}
			if e.revision(t) != before {
				t.Error("the store changed")
			}
			if recs := e.rec.Records(); len(recs) != n+1 || recs[n].ErrorCode != "AccessDenied" || (recs[n].ZTGate.Category == audit.CategoryAdmin) != o.write {
				t.Errorf("records %+v", recs[n:])
			}
		})
	}
}

// TestNamesIgnoreCase: a user, role or group named in another case than
// it was created in is that one, as in AWS.
func TestNamesIgnoreCase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.sdk(t, e.admin)
	if _, err := admin.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	out, err := admin.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("Bob")})
	if err != nil || aws.ToString(out.User.UserName) != "bob" {
		t.Fatalf("GetUser Bob: %v %+v", err, out)
	}
	if _, err := admin.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String("BOB")}); err == nil {
		t.Fatal("BOB was made beside bob")
	}
	if _, err := admin.DeleteUser(ctx, &iamsdk.DeleteUserInput{UserName: aws.String("BOB")}); err != nil {
		t.Fatalf("DeleteUser BOB: %v", err)
	}
	if _, err := admin.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("bob")}); err == nil {
		t.Fatal("bob is still there")
	}
}

// TestNameCaseHidden: a refused caller naming a user in another case is
// told the name it gave, as for a user that does not exist: that the
// user exists, and its stored case, are not its to learn.
func TestNameCaseHidden(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	nobody := e.sdk(t, e.nobody)
	_, err := nobody.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("ADMIN")})
	_, msg, _ := apiError(t, err)
	if !strings.Contains(msg, "user/ADMIN") || strings.Contains(msg, "user/admin") {
		t.Errorf("refusal %q", msg)
	}
}
