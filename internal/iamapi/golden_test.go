package iamapi

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/iam"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/golden")

// TestGolden pins the XML of each response shape, one file a call, with
// the directory's clock and randomness fixed. Run with -update to
// rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	e := newEnv(t, func(c *iam.Config) {
		c.Clock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
		c.Rand = rand.NewChaCha8([32]byte{'z', 't', 'g', 'a', 't', 'e'})
	})
	requestID := regexp.MustCompile(`<RequestId>[0-9a-f-]{36}</RequestId>`)
	for _, tc := range []struct{ name, body string }{
		{"01-create-user", form("CreateUser", "UserName", "alice", "Path", "/eng/", "Tags.member.1.Key", "team", "Tags.member.1.Value", "blue")},
		{"02-get-user", form("GetUser", "UserName", "alice")},
		{"03-list-users", form("ListUsers", "MaxItems", "2")},
		{"04-create-access-key", form("CreateAccessKey", "UserName", "alice")},
		{"05-list-access-keys", form("ListAccessKeys", "UserName", "alice")},
		{"06-create-policy", form("CreatePolicy", "PolicyName", "get", "PolicyDocument", getDoc, "Description", "reads")},
		{"07-create-role", form("CreateRole", "RoleName", "deployer", "AssumeRolePolicyDocument", trustDoc, "Description", "deploys",
			"Tags.member.1.Key", "team", "Tags.member.1.Value", "ops", "PermissionsBoundary", arnOf("policy", "get"))},
		{"08-put-role-policy", form("PutRolePolicy", "RoleName", "deployer", "PolicyName", "s3", "PolicyDocument", s3Doc)},
		{"09-attach-role-policy", form("AttachRolePolicy", "RoleName", "deployer", "PolicyArn", arnOf("policy", "get"))},
		{"10-get-role", form("GetRole", "RoleName", "deployer")},
		{"11-list-roles", form("ListRoles")},
		{"12-get-role-policy", form("GetRolePolicy", "RoleName", "deployer", "PolicyName", "s3")},
		{"13-list-role-policies", form("ListRolePolicies", "RoleName", "deployer")},
		{"14-list-attached-role-policies", form("ListAttachedRolePolicies", "RoleName", "deployer")},
		{"15-get-policy", form("GetPolicy", "PolicyArn", arnOf("policy", "get"))},
		{"16-get-policy-version", form("GetPolicyVersion", "PolicyArn", arnOf("policy", "get"), "VersionId", "v1")},
		{"17-create-group", form("CreateGroup", "GroupName", "devs")},
		{"18-add-user-to-group", form("AddUserToGroup", "GroupName", "devs", "UserName", "alice")},
		{"19-get-group", form("GetGroup", "GroupName", "devs")},
		{"20-simulate-principal-policy", form("SimulatePrincipalPolicy", "PolicySourceArn", arnOf("role", "deployer"),
			"ActionNames.member.1", "s3:GetObject", "ActionNames.member.2", "s3:PutObject")},
		{"21-simulate-custom-policy", form("SimulateCustomPolicy", "PolicyInputList.member.1", ipDoc, "ActionNames.member.1", "s3:ListBucket")},
		{"22-update-role", form("UpdateRole", "RoleName", "deployer", "MaxSessionDuration", "7200")},
		{"23-no-such-entity", form("GetRole", "RoleName", "ghost")},
		{"24-delete-role-conflict", form("DeleteRole", "RoleName", "deployer")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := e.post(t, e.admin, "iam", tc.body)
			got := requestID.ReplaceAllString(body, "<RequestId>REQUEST-ID</RequestId>") + "\n"
			path := filepath.Join("testdata", "golden", tc.name+".xml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}
