package iamapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/iam"
)

// cli runs "ztgate iam ARGS…".
func cli(args ...string) (stdout, stderr string, err error) {
	cmd := Command()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// dig follows a path of keys and indexes through decoded JSON.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCommand drives "ztgate iam" against a node found through its data
// directory, as an administrator would after "ztgate serve --dev".
func TestCommand(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "listen.addr"), strings.TrimPrefix(e.srv.URL, "http://")+"\n")
	writeFile(t, filepath.Join(dir, "admin.credentials"), "# made by ztgate serve --dev\n[ztgate]\naws_access_key_id = "+e.admin.id+"\naws_secret_access_key = "+e.admin.secret+"\n")
	writeFile(t, filepath.Join(dir, "trust.json"), trustDoc)
	writeFile(t, filepath.Join(dir, "get.json"), getDoc)
	roleARN := arnOf("role", "deployer")

	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, out any)
	}{
		{"create-user", []string{"create-user", "carol", "--tags", "team=red", "--tags", "Key=env,Value=dev"}, func(t *testing.T, out any) {
			if dig(out, "User", "Arn") != arnOf("user", "carol") || dig(out, "User", "Tags", 1, "Value") != "dev" {
				t.Errorf("%v", out)
			}
		}},
		{"get-user (self)", []string{"get-user"}, func(t *testing.T, out any) {
			if dig(out, "User", "UserName") != "admin" {
				t.Errorf("%v", out)
			}
		}},
		{"list-users", []string{"list-users"}, func(t *testing.T, out any) {
			if us, _ := dig(out, "Users").([]any); len(us) != 3 || dig(out, "IsTruncated") != nil {
				t.Errorf("%v", out)
			}
		}},
		{"create-access-key", []string{"create-access-key", "--user-name", "carol"}, func(t *testing.T, out any) {
			sec, _ := dig(out, "AccessKey", "SecretAccessKey").(string)
			if len(sec) != 40 || dig(out, "AccessKey", "Status") != "Active" {
				t.Errorf("%v", out)
			}
			e.keep(sec)
		}},
		{"create-role", []string{"create-role", "deployer", "--assume-role-policy-document", "file://" + filepath.Join(dir, "trust.json"), "--max-session-duration", "7200"}, func(t *testing.T, out any) {
			// The document prints as JSON, as the AWS CLI prints it.
			if dig(out, "Role", "AssumeRolePolicyDocument", "Statement", 0, "Action") != "sts:AssumeRole" || dig(out, "Role", "MaxSessionDuration") != 7200.0 {
				t.Errorf("%v", out)
			}
		}},
		{"put-role-policy", []string{"put-role-policy", "deployer", "--policy-name", "s3", "--policy-document", s3Doc}, nil},
		{"get-role-policy", []string{"get-role-policy", "--role-name", "deployer", "--policy-name", "s3"}, func(t *testing.T, out any) {
			if dig(out, "PolicyDocument", "Statement", 0, "Action") != "s3:*" || dig(out, "RoleName") != "deployer" {
				t.Errorf("%v", out)
			}
		}},
		{"create-policy", []string{"create-policy", "get", "--policy-document", "file://" + filepath.Join(dir, "get.json")}, func(t *testing.T, out any) {
			if dig(out, "Policy", "Arn") != arnOf("policy", "get") || dig(out, "Policy", "DefaultVersionId") != "v1" {
				t.Errorf("%v", out)
			}
		}},
		{"attach-role-policy", []string{"attach-role-policy", "deployer", "--policy-arn", arnOf("policy", "get")}, nil},
		{"list-attached-role-policies", []string{"list-attached-role-policies", "deployer"}, func(t *testing.T, out any) {
			if dig(out, "AttachedPolicies", 0, "PolicyName") != "get" {
				t.Errorf("%v", out)
			}
		}},
		{"list-role-tags (empty)", []string{"list-role-tags", "deployer"}, func(t *testing.T, out any) {
			if ts, ok := dig(out, "Tags").([]any); !ok || len(ts) != 0 {
				t.Errorf("an empty list prints as []: %v", out)
			}
		}},
		{"simulate-principal-policy", []string{"simulate-principal-policy", "--policy-source-arn", roleARN, "--action-names", "s3:GetObject,iam:CreateUser"}, func(t *testing.T, out any) {
			types := map[any]bool{}
			for i := range 2 {
				types[dig(out, "EvaluationResults", 0, "MatchedStatements", i, "SourcePolicyType")] = true
			}
			if dig(out, "EvaluationResults", 0, "EvalDecision") != "allowed" || dig(out, "EvaluationResults", 1, "EvalDecision") != "implicitDeny" ||
				!types["role"] || !types["user-managed"] {
				t.Errorf("%v", out)
			}
		}},
		{"simulate-custom-policy", []string{"simulate-custom-policy", "--policy-input-list", ipDoc, "--action-names", "s3:ListBucket",
			"--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,ContextKeyType=ip"}, func(t *testing.T, out any) {
			if dig(out, "EvaluationResults", 0, "EvalDecision") != "allowed" {
				t.Errorf("%v", out)
			}
		}},
		{"explicit endpoint", []string{"--endpoint-url", e.srv.URL + "/", "--data-dir", t.TempDir(), "--profile", "ztgate", "get-role", "deployer"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data-dir", dir}, tc.args...)
			if tc.name == "explicit endpoint" {
				t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "admin.credentials"))
				args = tc.args
			}
			stdout, stderr, err := cli(args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if tc.check == nil {
				return
			}
			var out any
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			tc.check(t, out)
		})
	}

	t.Run("errors", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "credentials")
		writeFile(t, other, "[other]\naws_access_key_id="+e.nobody.id+"\naws_secret_access_key="+e.nobody.secret+"\n")
		for _, tc := range []struct {
			name   string
			env    map[string]string
			args   []string
			code   string // an AWS error, or "" for a local one
			stderr string
		}{
			{"delete conflict", nil, []string{"delete-role", "deployer"}, "DeleteConflict",
				"\nAn error occurred (DeleteConflict) when calling the DeleteRole operation: Cannot delete entity, must delete policies first.\n"},
			{"environment credentials", map[string]string{"AWS_ACCESS_KEY_ID": e.nobody.id, "AWS_SECRET_ACCESS_KEY": e.nobody.secret}, []string{"create-user", "x"}, "AccessDenied",
				"\nAn error occurred (AccessDenied) when calling the CreateUser operation: User: " + arnOf("user", "nobody") + " is not authorized to perform: iam:CreateUser on resource: " + arnOf("user", "x") + " because no identity-based policy allows the iam:CreateUser action\n"},
			{"shared credentials file", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": other}, []string{"--profile", "other", "delete-user", "carol"}, "AccessDenied", ""},
			{"missing argument", nil, []string{"put-role-policy", "deployer", "--policy-name", "x"}, "", "the following arguments are required: --policy-document"},
			{"missing profile", nil, []string{"--profile", "nope", "list-users"}, "", `no profile "nope"`},
			{"no node", nil, []string{"--data-dir", t.TempDir(), "list-users"}, "", "the node's address cannot be read"},
			{"bad tag", nil, []string{"tag-role", "deployer", "--tags", "novalue"}, "", "want Key=K,Value=V or K=V"},
			{"unreadable document", nil, []string{"put-role-policy", "deployer", "--policy-name", "x", "--policy-document", "file:///nonexistent/p.json"}, "", "--policy-document"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				stdout, stderr, err := cli(append([]string{"--data-dir", dir}, tc.args...)...)
				if stdout != "" {
					t.Errorf("stdout %q", stdout)
				}
				var e *Error
				if tc.code == "" {
					if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), tc.stderr) {
						t.Errorf("%v, want an error saying %q", err, tc.stderr)
					}
					return
				}
				var exit interface{ ExitCode() int }
				if !errors.As(err, &e) || e.Code != tc.code || !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("%v", err)
				}
				if tc.stderr != "" && stderr != tc.stderr {
					t.Errorf("stderr %q\nwant   %q", stderr, tc.stderr)
				}
			})
		}
	})

	t.Run("pages", func(t *testing.T) {
		ctx := context.Background()
		for i := range 120 {
			if _, err := e.dir.CreateUser(ctx, fmt.Sprintf("bulk-%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.pol.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		stdout, _, err := cli("--data-dir", dir, "list-users")
		var out any
		if err != nil || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("%v %s", err, stdout)
		}
		if us, _ := dig(out, "Users").([]any); len(us) != 123 {
			t.Errorf("%d users, want 123: the markers were not followed", len(us))
		}
		stdout, _, err = cli("--data-dir", dir, "list-users", "--max-items", "2")
		if err != nil || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("%v %s", err, stdout)
		}
		if us, _ := dig(out, "Users").([]any); len(us) != 2 || dig(out, "IsTruncated") != true || dig(out, "Marker") == nil {
			t.Errorf("%v", out)
		}
		stdout, _, err = cli("--data-dir", dir, "list-users", "--max-items", "2", "--marker", dig(out, "Marker").(string))
		if err != nil || json.Unmarshal([]byte(stdout), &out) != nil {
			t.Fatalf("%v %s", err, stdout)
		}
		if dig(out, "Users", 0, "UserName") != "bulk-001" {
			t.Errorf("the second page starts at %v", dig(out, "Users", 0, "UserName"))
		}
	})

	// What the CLI made is in the directory.
	if _, err := e.dir.GetRole(context.Background(), "deployer"); err != nil {
		t.Error(err)
	}
	if ks, err := e.dir.ListAccessKeys(context.Background(), "carol"); err != nil || len(ks) != 1 || ks[0].Status != iam.Active {
		t.Errorf("%v %v", ks, err)
	}
}

func TestKebab(t *testing.T) {
	for in, want := range map[string]string{
		"CreateAccessKey":                    "create-access-key",
		"AccessKeyId":                        "access-key-id",
		"PermissionsBoundaryPolicyInputList": "permissions-boundary-policy-input-list",
		"ListAttachedRolePolicies":           "list-attached-role-policies",
		"SimulatePrincipalPolicy":            "simulate-principal-policy",
	} {
		if got := kebab(in); got != want {
			t.Errorf("kebab(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseContextEntry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want contextEntry
		err  bool
	}{
		{"ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.1,ContextKeyType=ip", contextEntry{"aws:SourceIp", []string{"10.0.0.1"}, "ip"}, false},
		{"ContextKeyName=aws:TagKeys,ContextKeyValues=a,b,c,ContextKeyType=stringList", contextEntry{"aws:TagKeys", []string{"a", "b", "c"}, "stringList"}, false},
		{"ContextKeyName=aws:username,ContextKeyValues=bob", contextEntry{"aws:username", []string{"bob"}, "string"}, false},
		{"ContextKeyValues=x", contextEntry{}, true},
		{"nonsense", contextEntry{}, true},
	} {
		got, err := parseContextEntry(tc.in)
		if (err != nil) != tc.err || (!tc.err && fmt.Sprint(got) != fmt.Sprint(tc.want)) {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}
