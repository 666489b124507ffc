package iamapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	iamsdk "github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ztgate/ztgate/internal/audit"
)

// form builds a request body: the action, the version and name, value
// pairs.
func form(action string, kv ...string) string {
	v := url.Values{"Action": {action}, "Version": {Version}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// parseError reads an ErrorResponse body.
func parseError(t *testing.T, body string) errorXML {
	t.Helper()
	var e errorXML
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an ErrorResponse: %v\n%s", err, body)
	}
	if e.Xmlns != Namespace || e.RequestID == "" {
		t.Errorf("ErrorResponse %+v", e)
	}
	return e
}

// TestBadInput: requests an administrator gets wrong are refused with
// AWS's codes, statuses and words, and change nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.fixtures(t)
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
		msg    string // the message, or its start when it ends with "…"
	}{
		{"missing role name", form("CreateRole", "AssumeRolePolicyDocument", trustDoc), 400, "ValidationError",
			"1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"},
		{"missing everything", form("CreateRole"), 400, "ValidationError",
			"2 validation errors detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null; Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null"},
		{"missing policy arn", form("AttachRolePolicy", "RoleName", "r1"), 400, "ValidationError",
			"1 validation error detected: Value null at 'policyArn' failed to satisfy constraint: Member must not be null"},
		{"bad user name", form("CreateUser", "UserName", "has space"), 400, "ValidationError",
			`1 validation error detected: Value 'has space' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"long user name", form("CreateUser", "UserName", long), 400, "ValidationError",
			"1 validation error detected: Value '" + long + "' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"empty role name", form("GetRole", "RoleName", ""), 400, "ValidationError",
			"1 validation error detected: Value '' at 'roleName' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"bad path", form("CreateUser", "UserName", "x", "Path", "nopath"), 400, "ValidationError", "1 validation error detected: Value 'nopath' at 'path' failed…"},
		{"bad status", form("UpdateAccessKey", "AccessKeyId", e.admin.id, "Status", "Maybe"), 400, "ValidationError",
			"1 validation error detected: Value 'Maybe' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"},
		{"short session", form("CreateRole", "RoleName", "x", "AssumeRolePolicyDocument", trustDoc, "MaxSessionDuration", "60"), 400, "ValidationError",
			"1 validation error detected: Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"},
		{"bad tag key", form("TagRole", "RoleName", "r1", "Tags.member.1.Key", "aws:x", "Tags.member.1.Value", "v"), 400, "ValidationError", `tag key "aws:x" uses the reserved prefix aws:`},
		{"list with a gap", form("UntagRole", "RoleName", "r1", "TagKeys.member.2", "k"), 400, "ValidationError", "Invalid parameter TagKeys.member.1…"},
		{"malformed policy JSON", form("PutUserPolicy", "UserName", "nobody", "PolicyName", "p", "PolicyDocument", `{"Version":"2012-10-17","Statement":[`), 400, "MalformedPolicyDocument", "…"},
		{"trust policy without principal", form("CreateRole", "RoleName", "x", "AssumeRolePolicyDocument", s3Doc), 400, "MalformedPolicyDocument", "…"},
		{"identity policy with principal", form("CreatePolicy", "PolicyName", "x", "PolicyDocument", trustDoc), 400, "MalformedPolicyDocument", "…"},
		{"bad simulated policy", form("SimulateCustomPolicy", "ActionNames.member.1", "s3:GetObject", "PolicyInputList.member.1", "{"), 400, "MalformedPolicyDocument", "PolicyInputList.1: …"},
		{"duplicate user", form("CreateUser", "UserName", "admin"), 409, "EntityAlreadyExists", "User with name admin already exists."},
		{"duplicate role", form("CreateRole", "RoleName", "r1", "AssumeRolePolicyDocument", trustDoc), 409, "EntityAlreadyExists", "Role with name r1 already exists."},
		{"delete user with keys", form("DeleteUser", "UserName", "admin"), 409, "DeleteConflict", "Cannot delete entity, must delete access keys first."},
		{"delete role with policies", form("DeleteRole", "RoleName", "r1"), 409, "DeleteConflict", "Cannot delete entity, must delete policies first."},
		{"no such user", form("GetUser", "UserName", "ghost"), 404, "NoSuchEntity", "The user with name ghost cannot be found."},
		{"no such policy", form("AttachRolePolicy", "RoleName", "r1", "PolicyArn", arnOf("policy", "ghost")), 404, "NoSuchEntity", "Policy " + arnOf("policy", "ghost") + " does not exist or is not attachable."},
		{"no such version", form("GetPolicyVersion", "PolicyArn", arnOf("policy", "p1"), "VersionId", "v2"), 404, "NoSuchEntity", "Policy " + arnOf("policy", "p1") + " version v2 does not exist or is not attachable."},
		{"not a policy arn", form("GetPolicy", "PolicyArn", "not-an-arn-at-all-really"), 400, "ValidationError", "…"},
		{"no such key", form("DeleteAccessKey", "AccessKeyId", "AKIAAAAAAAAAAAAAAAAA"), 404, "NoSuchEntity", "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found."},
		{"someone else's key", form("UpdateAccessKey", "AccessKeyId", e.nobody.id, "Status", "Inactive"), 404, "NoSuchEntity", "The Access Key with id " + e.nobody.id + " cannot be found."},
		{"tags on a managed policy", form("CreatePolicy", "PolicyName", "x", "PolicyDocument", s3Doc, "Tags.member.1.Key", "k", "Tags.member.1.Value", "v"), 400, "ValidationError", "ztgate does not keep tags on managed policies."},
		{"bad marker", form("ListUsers", "Marker", "!!!"), 400, "ValidationError", "Invalid Marker."},
		{"foreign marker", form("ListUsers", "Marker", "garbage"), 400, "ValidationError", "Invalid Marker."},
		{"unknown action", form("CreateLoginProfile", "UserName", "admin"), 400, "InvalidAction", "Could not find operation CreateLoginProfile for version 2010-05-08"},
		{"no action", "Version=2010-05-08", 400, "InvalidAction", "Could not find operation  for version 2010-05-08"},
		{"wrong version", "Action=ListUsers&Version=2011-06-15", 400, "InvalidAction", "Could not find operation ListUsers for version 2011-06-15"},
		{"malformed form", "Action=ListUsers&Version=2010-05-08&X=%zz", 400, "MalformedQueryString", "The request body is not a valid form."},
		{"too large", form("ListUsers", "Pad", strings.Repeat("x", MaxBody)), 413, "RequestEntityTooLarge", "Request body must be at most 1048576 bytes."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision(t)
			status, body := e.post(t, e.admin, "iam", tc.body)
			er := parseError(t, body)
			if status != tc.status || er.Code != tc.code {
				t.Errorf("%d %s, want %d %s\n%s", status, er.Code, tc.status, tc.code, body)
			}
			if prefix, ok := strings.CutSuffix(tc.msg, "…"); ok {
				if !strings.HasPrefix(er.Message, prefix) || er.Message == "" {
					t.Errorf("message %q, want %q…", er.Message, prefix)
				}
			} else if er.Message != tc.msg {
				t.Errorf("message %q\nwant    %q", er.Message, tc.msg)
			}
			if after := e.revision(t); after != before {
				t.Errorf("the store changed")
			}
		})
	}

	// The SDK reads the same answers as its typed errors.
	_, err := e.sdk(t, e.admin).CreateUser(context.Background(), &iamsdk.CreateUserInput{UserName: aws.String("admin")})
	if code, msg, status := apiError(t, err); code != "EntityAlreadyExists" || status != 409 || msg != "User with name admin already exists." {
		t.Errorf("%s %d %q", code, status, msg)
	}
	// Refused writes are on record with their code.
	if r := e.last(t); r.EventName != "CreateUser" || r.ErrorCode != "EntityAlreadyExists" || r.ZTGate.Category != audit.CategoryAdmin {
		t.Errorf("record %+v", r)
	}
}

// TestLimits: a third access key is refused as on AWS.
func TestLimits(t *testing.T) {
	e := newEnv(t)
	c := e.sdk(t, e.admin)
	ctx := context.Background()
	out, err := c.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	e.keep(aws.ToString(out.AccessKey.SecretAccessKey))
	if aws.ToString(out.AccessKey.UserName) != "admin" {
		t.Errorf("a key without a user name is the caller's: %+v", out.AccessKey)
	}
	_, err = c.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{})
	if code, msg, status := apiError(t, err); code != "LimitExceeded" || status != 409 || msg != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Errorf("%s %d %q", code, status, msg)
	}
}

// TestAuthFailure: a request that is not validly signed is answered with
// the signature's error and recorded as an authentication failure.
func TestAuthFailure(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		key     keyPair
		service string
		code    string
		msg     string
	}{
		{"unsigned", keyPair{}, "iam", "MissingAuthenticationToken", ""},
		{"wrong secret", keyPair{id: e.admin.id, secret: strings.Repeat("x", 40)}, "iam", "SignatureDoesNotMatch", ""},
		{"unknown key", keyPair{id: "AKIAAAAAAAAAAAAAAAAA", secret: strings.Repeat("x", 40)}, "iam", "InvalidClientTokenId", ""},
		{"another service", e.admin, "sts", "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'. "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision(t)
			status, body := e.post(t, tc.key, tc.service, form("CreateUser", "UserName", "mallory"))
			er := parseError(t, body)
			if status != http.StatusForbidden || er.Code != tc.code || (tc.msg != "" && er.Message != tc.msg) {
				t.Errorf("%d %+v", status, er)
			}
			if e.revision(t) != before {
				t.Error("the store changed")
			}
			r := e.last(t)
			if r.ZTGate.Category != audit.CategoryAuthFail || r.ErrorCode != tc.code || r.EventName != "CreateUser" || r.EventSource != audit.SourceIAM {
				t.Errorf("record %+v", r)
			}
			if tc.key.id != "" && r.UserIdentity.AccessKeyID != tc.key.id {
				t.Errorf("the record does not name the key claimed: %+v", r.UserIdentity)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/?Action=ListUsers", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	status, body := resp.StatusCode, string(b)
	if status != http.StatusMethodNotAllowed || parseError(t, body).Code != "InvalidHttpRequest" {
		t.Errorf("PUT: %d %s", status, body)
	}
	if r := e.last(t); r.ErrorCode != "InvalidHttpRequest" || r.ZTGate.Category != audit.CategoryAuthFail {
		t.Errorf("PUT's record %+v", r)
	}
}

// TestQueryGET: IAM's query API takes GET requests, the parameters in the
// URL, signed in the headers or presigned, as AWS's IAM endpoint does.
func TestQueryGET(t *testing.T) {
	e := newEnv(t)
	get := func(url string, sign bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		creds := aws.Credentials{AccessKeyID: e.admin.id, SecretAccessKey: e.admin.secret}
		empty := sha256.Sum256(nil)
		if sign {
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "iam", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	url := e.srv.URL + "/?Action=ListUsers&Version=2010-05-08"
	if status, body := get(url, true); status != 200 || !strings.Contains(body, "<UserName>admin</UserName>") {
		t.Errorf("signed GET: %d %s", status, body)
	}
	presign := func(method string) string {
		t.Helper()
		req, _ := http.NewRequest(method, url+"&X-Amz-Expires=300", nil)
		empty := sha256.Sum256(nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.admin.id, SecretAccessKey: e.admin.secret},
			req, hex.EncodeToString(empty[:]), "iam", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if status, body := get(presign(http.MethodGet), false); status != 200 || !strings.Contains(body, "<UserName>admin</UserName>") {
		t.Errorf("presigned GET: %d %s", status, body)
	}
	// A URL presigned for POST (boto3's default) and sent with no body.
	resp, err := http.Post(presign(http.MethodPost), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<UserName>admin</UserName>") {
		t.Errorf("presigned POST: %d %s", resp.StatusCode, b)
	}
}

// TestRefusalsAudited: a request refused before its action runs (an
// unknown action, a parameter out of its constraint, a body too large or
// not a form) is on record with its error, as every call is.
func TestRefusalsAudited(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body, code string }{
		{"unknown action", "Action=Bogus&Version=2010-05-08", "InvalidAction"},
		{"MaxItems 0", "Action=ListUsers&Version=2010-05-08&MaxItems=0", "ValidationError"},
		{"too large", "Action=ListUsers&Version=2010-05-08&X=" + strings.Repeat("x", MaxBody), "RequestEntityTooLarge"},
		{"not a form", "Action=ListUsers&%zz", ""},
	} {
		n := len(e.rec.Records())
		status, body := e.post(t, e.admin, "iam", tc.body)
		er := parseError(t, body)
		if status < 400 || (tc.code != "" && er.Code != tc.code) {
			t.Errorf("%s: %d %+v", tc.name, status, er)
		}
		recs := e.rec.Records()
		if len(recs) != n+1 || recs[n].ErrorCode != er.Code || recs[n].UserIdentity.AccessKeyID != e.admin.id {
			t.Errorf("%s: %d records, last %+v", tc.name, len(recs)-n, recs[len(recs)-1])
		}
	}
}

// TestAuditFailure: when the audit log cannot take a record the call is
// refused, and a new key whose record is missing does not survive.
func TestAuditFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.rec.fail.Store(true)
	for _, tc := range []struct{ name, body string }{
		{"read", form("ListUsers")},
		{"denied", form("ListUsers")},
		{"key", form("CreateAccessKey", "UserName", "nobody")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			who := e.admin
			if tc.name == "denied" {
				who = e.nobody
			}
			status, body := e.post(t, who, "iam", tc.body)
			if er := parseError(t, body); status != 500 || er.Code != "InternalFailure" || strings.Contains(body, "SecretAccessKey") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
	ks, err := e.dir.ListAccessKeys(ctx, "nobody")
	if err != nil || len(ks) != 1 {
		t.Errorf("the unaudited key was not deleted: %v %v", ks, err)
	}
	if !strings.Contains(e.logs.String(), "auditing a call failed") {
		t.Error("the failure is not logged")
	}
}
