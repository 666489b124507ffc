package iamapi

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamsdk "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ztgate/ztgate/internal/audit"
)

const (
	trustDoc    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::111122223333:user/admin"},"Action":"sts:AssumeRole"}]}`
	readSelfDoc = `{"Version":"2012-10-17","Statement":[{"Sid":"ReadSelf","Effect":"Allow","Action":"iam:GetUser","Resource":"arn:zt:iam::111122223333:user/eng/${aws:username}"}]}`
	s3Doc       = `{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	getDoc      = `{"Version":"2012-10-17","Statement":[{"Sid":"Get","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	ipDoc       = `{"Version":"2012-10-17","Statement":[{"Sid":"FromOffice","Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
)

func decoded(t *testing.T, s *string) string {
	t.Helper()
	d, err := url.QueryUnescape(aws.ToString(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFlow runs an administrator's session through aws-sdk-go-v2: it makes
// a user, keys, a role, groups and policies, lists, simulates and deletes
// them, each step audited.
func TestFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.sdk(t, e.admin)
	var alice keyPair
	var aliceKey string
	policyARN, boundARN := arnOf("policy", "read-self"), arnOf("policy", "s3-get")

	steps := []struct {
		name string
		// write says the step ends with a write whose record is checked:
		// an administrative event with this error code.
		write bool
		code  string
		run   func(t *testing.T)
	}{
		{"CreateUser", true, "", func(t *testing.T) {
			out, err := admin.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/"),
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}})
			if err != nil {
				t.Fatal(err)
			}
			u := out.User
			if aws.ToString(u.Arn) != arnOf("user", "eng/alice") || !strings.HasPrefix(aws.ToString(u.UserId), "AIDA") || aws.ToString(u.Path) != "/eng/" ||
				u.CreateDate == nil || len(u.Tags) != 1 || aws.ToString(u.Tags[0].Value) != "blue" {
				t.Fatalf("%+v", u)
			}
			r := e.last(t)
			if r.Resources[0].ARN != arnOf("user", "eng/alice") || r.RequestParameters["userName"] != "alice" || r.ZTGate.Decision != audit.Allowed || len(r.ZTGate.Matched) != 1 {
				t.Errorf("record %+v", r)
			}
		}},
		{"GetUser", false, "", func(t *testing.T) {
			out, err := admin.GetUser(ctx, &iamsdk.GetUserInput{UserName: aws.String("alice")})
			if err != nil || aws.ToString(out.User.UserName) != "alice" || len(out.User.Tags) != 1 {
				t.Fatalf("%+v %v", out, err)
			}
			self, err := admin.GetUser(ctx, &iamsdk.GetUserInput{})
			if err != nil || aws.ToString(self.User.Arn) != arnOf("user", "admin") {
				t.Fatalf("GetUser without a name: %+v %v", self, err)
			}
			if r := e.last(t); r.ZTGate.Category != audit.CategoryDecision || !r.ReadOnly || r.ZTGate.Action != "iam:GetUser" {
				t.Errorf("record %+v", r)
			}
		}},
		{"ListUsers", false, "", func(t *testing.T) {
			out, err := admin.ListUsers(ctx, &iamsdk.ListUsersInput{})
			if err != nil || out.IsTruncated || len(out.Users) != 3 {
				t.Fatalf("%+v %v", out, err)
			}
			eng, err := admin.ListUsers(ctx, &iamsdk.ListUsersInput{PathPrefix: aws.String("/eng/")})
			if err != nil || len(eng.Users) != 1 || aws.ToString(eng.Users[0].UserName) != "alice" {
				t.Fatalf("%+v %v", eng, err)
			}
			// Pages of one, followed by marker.
			var names []string
			p := iamsdk.NewListUsersPaginator(admin, &iamsdk.ListUsersInput{MaxItems: aws.Int32(1)})
			for p.HasMorePages() {
				pg, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range pg.Users {
					names = append(names, aws.ToString(u.UserName))
				}
			}
			if !slices.Equal(names, []string{"admin", "alice", "nobody"}) {
				t.Fatalf("paged: %v", names)
			}
		}},
		{"TagUser", true, "", func(t *testing.T) {
			if _, err := admin.TagUser(ctx, &iamsdk.TagUserInput{UserName: aws.String("alice"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"ListUserTags", false, "", func(t *testing.T) {
			out, err := admin.ListUserTags(ctx, &iamsdk.ListUserTagsInput{UserName: aws.String("alice")})
			if err != nil || len(out.Tags) != 2 {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"CreateAccessKey", true, "", func(t *testing.T) {
			out, err := admin.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{UserName: aws.String("alice")})
			if err != nil {
				t.Fatal(err)
			}
			k := out.AccessKey
			if len(aws.ToString(k.SecretAccessKey)) != 40 || k.Status != types.StatusTypeActive || aws.ToString(k.UserName) != "alice" {
				t.Fatalf("%+v", k)
			}
			alice = keyPair{id: aws.ToString(k.AccessKeyId), secret: aws.ToString(k.SecretAccessKey)}
			aliceKey = alice.id
			e.keep(alice.secret)
			r := e.last(t)
			if ak, _ := r.ResponseElements["accessKey"].(map[string]any); ak["accessKeyId"] != alice.id {
				t.Errorf("the record does not name the key: %+v", r.ResponseElements)
			}
		}},
		{"ListAccessKeys", false, "", func(t *testing.T) {
			out, err := admin.ListAccessKeys(ctx, &iamsdk.ListAccessKeysInput{UserName: aws.String("alice")})
			if err != nil || len(out.AccessKeyMetadata) != 1 || aws.ToString(out.AccessKeyMetadata[0].AccessKeyId) != aliceKey {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"GetAccessKeyLastUsed of a key never used", false, "", func(t *testing.T) {
			out, err := admin.GetAccessKeyLastUsed(ctx, &iamsdk.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(aliceKey)})
			if err != nil || aws.ToString(out.UserName) != "alice" || out.AccessKeyLastUsed == nil ||
				aws.ToString(out.AccessKeyLastUsed.ServiceName) != "N/A" || aws.ToString(out.AccessKeyLastUsed.Region) != "N/A" || out.AccessKeyLastUsed.LastUsedDate != nil {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"alice may do nothing yet", false, "", func(t *testing.T) {
			_, err := e.sdk(t, alice).GetUser(ctx, &iamsdk.GetUserInput{})
			code, msg, status := apiError(t, err)
			want := "User: " + arnOf("user", "eng/alice") + " is not authorized to perform: iam:GetUser on resource: " + arnOf("user", "eng/alice") + " because no identity-based policy allows the iam:GetUser action"
			if code != "AccessDenied" || status != 403 || msg != want {
				t.Fatalf("%s %d %q", code, status, msg)
			}
			if r := e.last(t); r.ZTGate.Decision != audit.ImplicitDeny || r.ErrorCode != "AccessDenied" {
				t.Errorf("record %+v", r)
			}
			// A refused call was still signed with the key: it counts as
			// its use, as on AWS.
			out, err := admin.GetAccessKeyLastUsed(ctx, &iamsdk.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(aliceKey)})
			if err != nil || out.AccessKeyLastUsed == nil || aws.ToString(out.AccessKeyLastUsed.ServiceName) != "iam" ||
				aws.ToString(out.AccessKeyLastUsed.Region) != "us-east-1" || out.AccessKeyLastUsed.LastUsedDate == nil ||
				time.Since(*out.AccessKeyLastUsed.LastUsedDate) > time.Minute {
				t.Fatalf("after use: %+v %v", out, err)
			}
		}},
		{"CreatePolicy", true, "", func(t *testing.T) {
			out, err := admin.CreatePolicy(ctx, &iamsdk.CreatePolicyInput{PolicyName: aws.String("read-self"), PolicyDocument: aws.String(readSelfDoc), Description: aws.String("see yourself")})
			if err != nil {
				t.Fatal(err)
			}
			p := out.Policy
			if aws.ToString(p.Arn) != policyARN || aws.ToString(p.DefaultVersionId) != "v1" || !p.IsAttachable || aws.ToInt32(p.AttachmentCount) != 0 || !strings.HasPrefix(aws.ToString(p.PolicyId), "ANPA") {
				t.Fatalf("%+v", p)
			}
			if _, err := admin.CreatePolicy(ctx, &iamsdk.CreatePolicyInput{PolicyName: aws.String("s3-get"), PolicyDocument: aws.String(getDoc)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"AttachUserPolicy", true, "", func(t *testing.T) {
			if _, err := admin.AttachUserPolicy(ctx, &iamsdk.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(policyARN)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"alice reads herself at once", false, "", func(t *testing.T) {
			out, err := e.sdk(t, alice).GetUser(ctx, &iamsdk.GetUserInput{})
			if err != nil || aws.ToString(out.User.UserName) != "alice" {
				t.Fatalf("%+v %v", out, err)
			}
			if r := e.last(t); r.ZTGate.Decision != audit.Allowed || r.ZTGate.Matched[0].Policy != policyARN || r.ZTGate.Matched[0].Sid != "ReadSelf" {
				t.Errorf("record %+v", r.ZTGate)
			}
		}},
		{"GetPolicy", false, "", func(t *testing.T) {
			out, err := admin.GetPolicy(ctx, &iamsdk.GetPolicyInput{PolicyArn: aws.String(policyARN)})
			if err != nil || aws.ToInt32(out.Policy.AttachmentCount) != 1 || aws.ToString(out.Policy.Description) != "see yourself" {
				t.Fatalf("%+v %v", out, err)
			}
			v, err := admin.GetPolicyVersion(ctx, &iamsdk.GetPolicyVersionInput{PolicyArn: aws.String(policyARN), VersionId: aws.String("v1")})
			if err != nil || decoded(t, v.PolicyVersion.Document) != readSelfDoc || !v.PolicyVersion.IsDefaultVersion {
				t.Fatalf("%+v %v", v, err)
			}
			all, err := admin.ListPolicies(ctx, &iamsdk.ListPoliciesInput{Scope: types.PolicyScopeTypeLocal})
			if err != nil || len(all.Policies) != 2 {
				t.Fatalf("%+v %v", all, err)
			}
			attached, err := admin.ListPolicies(ctx, &iamsdk.ListPoliciesInput{OnlyAttached: true})
			if err != nil || len(attached.Policies) != 1 || aws.ToString(attached.Policies[0].Arn) != policyARN {
				t.Fatalf("%+v %v", attached, err)
			}
			list, err := admin.ListAttachedUserPolicies(ctx, &iamsdk.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
			if err != nil || len(list.AttachedPolicies) != 1 || aws.ToString(list.AttachedPolicies[0].PolicyName) != "read-self" {
				t.Fatalf("%+v %v", list, err)
			}
		}},
		{"CreateRole", true, "", func(t *testing.T) {
			out, err := admin.CreateRole(ctx, &iamsdk.CreateRoleInput{
				RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trustDoc), Description: aws.String("deploys"),
				MaxSessionDuration: aws.Int32(7200), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := out.Role
			if aws.ToString(r.Arn) != arnOf("role", "deployer") || !strings.HasPrefix(aws.ToString(r.RoleId), "AROA") || decoded(t, r.AssumeRolePolicyDocument) != trustDoc ||
				aws.ToInt32(r.MaxSessionDuration) != 7200 || aws.ToString(r.Description) != "deploys" || len(r.Tags) != 1 {
				t.Fatalf("%+v", r)
			}
		}},
		{"GetRole", false, "", func(t *testing.T) {
			out, err := admin.GetRole(ctx, &iamsdk.GetRoleInput{RoleName: aws.String("deployer")})
			if err != nil || out.Role.RoleLastUsed == nil || decoded(t, out.Role.AssumeRolePolicyDocument) != trustDoc {
				t.Fatalf("%+v %v", out, err)
			}
			list, err := admin.ListRoles(ctx, &iamsdk.ListRolesInput{})
			if err != nil || len(list.Roles) != 1 {
				t.Fatalf("%+v %v", list, err)
			}
		}},
		{"UpdateRole", true, "", func(t *testing.T) {
			if _, err := admin.UpdateRole(ctx, &iamsdk.UpdateRoleInput{RoleName: aws.String("deployer"), Description: aws.String("ships"), MaxSessionDuration: aws.Int32(3600)}); err != nil {
				t.Fatal(err)
			}
			out, err := admin.GetRole(ctx, &iamsdk.GetRoleInput{RoleName: aws.String("deployer")})
			if err != nil || aws.ToString(out.Role.Description) != "ships" || aws.ToInt32(out.Role.MaxSessionDuration) != 3600 {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"UpdateAssumeRolePolicy", true, "", func(t *testing.T) {
			doc := strings.Replace(trustDoc, "user/admin", "root", 1)
			if _, err := admin.UpdateAssumeRolePolicy(ctx, &iamsdk.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"), PolicyDocument: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"TagRole", true, "", func(t *testing.T) {
			if _, err := admin.TagRole(ctx, &iamsdk.TagRoleInput{RoleName: aws.String("deployer"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
				t.Fatal(err)
			}
			out, err := admin.ListRoleTags(ctx, &iamsdk.ListRoleTagsInput{RoleName: aws.String("deployer")})
			if err != nil || len(out.Tags) != 2 {
				t.Fatalf("%+v %v", out, err)
			}
			if _, err := admin.UntagRole(ctx, &iamsdk.UntagRoleInput{RoleName: aws.String("deployer"), TagKeys: []string{"team"}}); err != nil {
				t.Fatal(err)
			}
			out, err = admin.ListRoleTags(ctx, &iamsdk.ListRoleTagsInput{RoleName: aws.String("deployer")})
			if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "env" {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"PutRolePolicy", true, "", func(t *testing.T) {
			if _, err := admin.PutRolePolicy(ctx, &iamsdk.PutRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("s3"), PolicyDocument: aws.String(s3Doc)}); err != nil {
				t.Fatal(err)
			}
			out, err := admin.GetRolePolicy(ctx, &iamsdk.GetRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("s3")})
			if err != nil || decoded(t, out.PolicyDocument) != s3Doc || aws.ToString(out.RoleName) != "deployer" {
				t.Fatalf("%+v %v", out, err)
			}
			list, err := admin.ListRolePolicies(ctx, &iamsdk.ListRolePoliciesInput{RoleName: aws.String("deployer")})
			if err != nil || !slices.Equal(list.PolicyNames, []string{"s3"}) {
				t.Fatalf("%+v %v", list, err)
			}
		}},
		{"AttachRolePolicy", true, "", func(t *testing.T) {
			if _, err := admin.AttachRolePolicy(ctx, &iamsdk.AttachRolePolicyInput{RoleName: aws.String("deployer"), PolicyArn: aws.String(policyARN)}); err != nil {
				t.Fatal(err)
			}
			out, err := admin.ListAttachedRolePolicies(ctx, &iamsdk.ListAttachedRolePoliciesInput{RoleName: aws.String("deployer")})
			if err != nil || len(out.AttachedPolicies) != 1 || aws.ToString(out.AttachedPolicies[0].PolicyArn) != policyARN {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"PutRolePermissionsBoundary", true, "", func(t *testing.T) {
			if _, err := admin.PutRolePermissionsBoundary(ctx, &iamsdk.PutRolePermissionsBoundaryInput{RoleName: aws.String("deployer"), PermissionsBoundary: aws.String(boundARN)}); err != nil {
				t.Fatal(err)
			}
			out, err := admin.GetRole(ctx, &iamsdk.GetRoleInput{RoleName: aws.String("deployer")})
			if err != nil || out.Role.PermissionsBoundary == nil || aws.ToString(out.Role.PermissionsBoundary.PermissionsBoundaryArn) != boundARN {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"CreateGroup", true, "", func(t *testing.T) {
			out, err := admin.CreateGroup(ctx, &iamsdk.CreateGroupInput{GroupName: aws.String("devs")})
			if err != nil || aws.ToString(out.Group.Arn) != arnOf("group", "devs") {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"AddUserToGroup", true, "", func(t *testing.T) {
			if _, err := admin.AddUserToGroup(ctx, &iamsdk.AddUserToGroupInput{GroupName: aws.String("devs"), UserName: aws.String("alice")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"PutGroupPolicy", true, "", func(t *testing.T) {
			if _, err := admin.PutGroupPolicy(ctx, &iamsdk.PutGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("read"), PolicyDocument: aws.String(getDoc)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"AttachGroupPolicy", true, "", func(t *testing.T) {
			if _, err := admin.AttachGroupPolicy(ctx, &iamsdk.AttachGroupPolicyInput{GroupName: aws.String("devs"), PolicyArn: aws.String(boundARN)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"GetGroup", false, "", func(t *testing.T) {
			out, err := admin.GetGroup(ctx, &iamsdk.GetGroupInput{GroupName: aws.String("devs")})
			if err != nil || len(out.Users) != 1 || aws.ToString(out.Users[0].UserName) != "alice" {
				t.Fatalf("%+v %v", out, err)
			}
			gs, err := admin.ListGroups(ctx, &iamsdk.ListGroupsInput{})
			if err != nil || len(gs.Groups) != 1 {
				t.Fatalf("%+v %v", gs, err)
			}
			fu, err := admin.ListGroupsForUser(ctx, &iamsdk.ListGroupsForUserInput{UserName: aws.String("alice")})
			if err != nil || len(fu.Groups) != 1 {
				t.Fatalf("%+v %v", fu, err)
			}
		}},
		{"SimulatePrincipalPolicy user", false, "", func(t *testing.T) {
			out, err := admin.SimulatePrincipalPolicy(ctx, &iamsdk.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(arnOf("user", "eng/alice")),
				ActionNames:     []string{"s3:GetObject", "iam:GetUser", "iam:CreateUser"},
				ResourceArns:    []string{arnOf("user", "eng/alice")},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []struct{ decision, id, typ string }{
				{"allowed", "read", "group"},
				{"allowed", "read-self", "user-managed"},
				{"implicitDeny", "", ""},
			}
			if len(out.EvaluationResults) != len(want) {
				t.Fatalf("%d results", len(out.EvaluationResults))
			}
			for i, w := range want {
				r := out.EvaluationResults[i]
				if string(r.EvalDecision) != w.decision {
					t.Errorf("%s: %s, want %s", aws.ToString(r.EvalActionName), r.EvalDecision, w.decision)
				}
				if w.id != "" && (len(r.MatchedStatements) == 0 || aws.ToString(r.MatchedStatements[0].SourcePolicyId) != w.id ||
					string(r.MatchedStatements[0].SourcePolicyType) != w.typ || r.MatchedStatements[0].StartPosition == nil) {
					t.Errorf("%s: matched %+v", aws.ToString(r.EvalActionName), r.MatchedStatements)
				}
			}
			// A policy given in the request adds to the stored ones.
			deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}`
			out, err = admin.SimulatePrincipalPolicy(ctx, &iamsdk.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(arnOf("user", "eng/alice")), ActionNames: []string{"s3:GetObject"}, PolicyInputList: []string{deny},
			})
			if err != nil || out.EvaluationResults[0].EvalDecision != types.PolicyEvaluationDecisionTypeExplicitDeny ||
				aws.ToString(out.EvaluationResults[0].MatchedStatements[0].SourcePolicyId) != "PolicyInputList.1" {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"SimulatePrincipalPolicy role", false, "", func(t *testing.T) {
			out, err := admin.SimulatePrincipalPolicy(ctx, &iamsdk.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(arnOf("role", "deployer")), ActionNames: []string{"s3:GetObject", "s3:PutObject"},
			})
			if err != nil {
				t.Fatal(err)
			}
			get, put := out.EvaluationResults[0], out.EvaluationResults[1]
			if get.EvalDecision != types.PolicyEvaluationDecisionTypeAllowed || put.EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny ||
				put.PermissionsBoundaryDecisionDetail == nil || put.PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary {
				t.Fatalf("the boundary does not bound: %+v %+v", get, put)
			}
		}},
		{"SimulateCustomPolicy", false, "", func(t *testing.T) {
			in := &iamsdk.SimulateCustomPolicyInput{PolicyInputList: []string{ipDoc}, ActionNames: []string{"s3:ListBucket"}}
			out, err := admin.SimulateCustomPolicy(ctx, in)
			if err != nil || out.EvaluationResults[0].EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny ||
				!slices.Equal(out.EvaluationResults[0].MissingContextValues, []string{"aws:SourceIp"}) {
				t.Fatalf("%+v %v", out, err)
			}
			in.ContextEntries = []types.ContextEntry{{ContextKeyName: aws.String("aws:SourceIp"), ContextKeyValues: []string{"10.1.2.3"}, ContextKeyType: types.ContextKeyTypeEnumIp}}
			out, err = admin.SimulateCustomPolicy(ctx, in)
			if err != nil || out.EvaluationResults[0].EvalDecision != types.PolicyEvaluationDecisionTypeAllowed ||
				len(out.EvaluationResults[0].MissingContextValues) != 0 || aws.ToString(out.EvaluationResults[0].MatchedStatements[0].SourcePolicyId) != "PolicyInputList.1" {
				t.Fatalf("%+v %v", out, err)
			}
		}},
		{"DeleteRole with policies", true, "DeleteConflict", func(t *testing.T) {
			_, err := admin.DeleteRole(ctx, &iamsdk.DeleteRoleInput{RoleName: aws.String("deployer")})
			if code, _, status := apiError(t, err); code != "DeleteConflict" || status != 409 {
				t.Fatalf("%s %d", code, status)
			}
		}},
		{"DeleteRolePolicy", true, "", func(t *testing.T) {
			if _, err := admin.DeleteRolePolicy(ctx, &iamsdk.DeleteRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("s3")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DetachRolePolicy", true, "", func(t *testing.T) {
			if _, err := admin.DetachRolePolicy(ctx, &iamsdk.DetachRolePolicyInput{RoleName: aws.String("deployer"), PolicyArn: aws.String(policyARN)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteRole", true, "", func(t *testing.T) {
			if _, err := admin.DeleteRole(ctx, &iamsdk.DeleteRoleInput{RoleName: aws.String("deployer")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeletePolicy attached", true, "DeleteConflict", func(t *testing.T) {
			_, err := admin.DeletePolicy(ctx, &iamsdk.DeletePolicyInput{PolicyArn: aws.String(policyARN)})
			if code, _, _ := apiError(t, err); code != "DeleteConflict" {
				t.Fatal(code)
			}
		}},
		{"DetachUserPolicy", true, "", func(t *testing.T) {
			if _, err := admin.DetachUserPolicy(ctx, &iamsdk.DetachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(policyARN)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"UpdateAccessKey", true, "", func(t *testing.T) {
			if _, err := admin.UpdateAccessKey(ctx, &iamsdk.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(aliceKey), Status: types.StatusTypeInactive}); err != nil {
				t.Fatal(err)
			}
			// The deactivated key no longer signs.
			code, _ := e.post(t, alice, "iam", "Action=GetUser&Version=2010-05-08")
			if code != 403 {
				t.Fatalf("a deactivated key: %d", code)
			}
		}},
		{"DeleteAccessKey", true, "", func(t *testing.T) {
			if _, err := admin.DeleteAccessKey(ctx, &iamsdk.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(aliceKey)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"RemoveUserFromGroup", true, "", func(t *testing.T) {
			if _, err := admin.RemoveUserFromGroup(ctx, &iamsdk.RemoveUserFromGroupInput{GroupName: aws.String("devs"), UserName: aws.String("alice")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteGroupPolicy", true, "", func(t *testing.T) {
			if _, err := admin.DeleteGroupPolicy(ctx, &iamsdk.DeleteGroupPolicyInput{GroupName: aws.String("devs"), PolicyName: aws.String("read")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DetachGroupPolicy", true, "", func(t *testing.T) {
			if _, err := admin.DetachGroupPolicy(ctx, &iamsdk.DetachGroupPolicyInput{GroupName: aws.String("devs"), PolicyArn: aws.String(boundARN)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteGroup", true, "", func(t *testing.T) {
			if _, err := admin.DeleteGroup(ctx, &iamsdk.DeleteGroupInput{GroupName: aws.String("devs")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteUser", true, "", func(t *testing.T) {
			if _, err := admin.DeleteUser(ctx, &iamsdk.DeleteUserInput{UserName: aws.String("alice")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeletePolicy", true, "", func(t *testing.T) {
			for _, arn := range []string{policyARN, boundARN} {
				if _, err := admin.DeletePolicy(ctx, &iamsdk.DeletePolicyInput{PolicyArn: aws.String(arn)}); err != nil {
					t.Fatal(err)
				}
			}
			out, err := admin.ListPolicies(ctx, &iamsdk.ListPoliciesInput{})
			if err != nil || len(out.Policies) != 0 {
				t.Fatalf("%+v %v", out, err)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow() // later steps build on this one
		}
		if !s.write {
			continue
		}
		// The step's last call was its write: its record is the last one
		// for that action.
		recs := e.rec.Records()
		var r *audit.Record
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].ZTGate.Category == audit.CategoryAdmin {
				r = &recs[i]
				break
			}
		}
		if r == nil || r.EventSource != audit.SourceIAM || r.ErrorCode != s.code || r.UserIdentity.ARN != arnOf("user", "admin") {
			t.Errorf("%s: last administrative record %+v", s.name, r)
		}
	}
}
