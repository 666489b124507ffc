package serve

// End-to-end tests that drive the clients people use against ztgate (the
// AWS CLI, aws-sdk-go-v2, boto3 and curl) against real "ztgate serve"
// processes, checking the answers AWS documents: exit codes, JSON, error
// codes and HTTP statuses.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ztgate/ztgate/internal/pgtest"
)

// The deployment's account and the ARNs ztgate gives its principals.
const e2eAccount = "000000000000"

func e2eUserARN(name string) string { return "arn:zt:iam::" + e2eAccount + ":user/" + name }
func e2eRoleARN(name string) string { return "arn:zt:iam::" + e2eAccount + ":role/" + name }
func e2eSessionARN(role, session string) string {
	return "arn:zt:sts::" + e2eAccount + ":assumed-role/" + role + "/" + session
}

// e2eTrust is a trust policy that lets one user assume a role.
func e2eTrust(user string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"}]}`, e2eUserARN(user))
}

// Permission policies the tests give roles and sessions.
const (
	e2eReadIAM = `{"Version":"2012-10-17","Statement":[{"Sid":"ReadIAM","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}]}`
	e2eGetRole = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}]}`
)

// startDevNode starts a development node and returns it with its
// administrator's credentials file.
func startDevNode(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, dir, append([]string{"--dev"}, args...)...)
	p.waitReady(true, 10*time.Second)
	return p, filepath.Join(dir, adminCredentials)
}

// writeCredentialsFile writes a shared-credentials file with the profile
// "ztgate", as --dev writes the administrator's.
func writeCredentialsFile(t *testing.T, key, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", adminProfile, key, secret)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// awsCLIRunner runs the AWS CLI as one identity against one node.
type awsCLIRunner struct {
	t   *testing.T
	bin string
	url string
	who string   // the identity, for failure messages
	env []string // the process environment, credentials included
	pre []string // arguments before the command (--profile)
}

func newAWSCLIRunner(t *testing.T, url string) awsCLIRunner {
	return awsCLIRunner{t: t, bin: awsCLI(t), url: url}
}

// withFile signs with the "ztgate" profile of a credentials file.
func (c awsCLIRunner) withFile(who, credFile string) awsCLIRunner {
	c.who, c.env, c.pre = who, awsEnv(credFile), []string{"--profile", adminProfile}
	return c
}

// withSession signs with temporary credentials, from the environment.
func (c awsCLIRunner) withSession(who string, s sessionCreds) awsCLIRunner {
	c.who, c.pre = who, nil
	c.env = append(awsEnv(filepath.Join(c.t.TempDir(), "none")), "AWS_ACCESS_KEY_ID="+s.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY="+s.SecretAccessKey, "AWS_SESSION_TOKEN="+s.SessionToken)
	return c
}

// anonymous has no credentials at all.
func (c awsCLIRunner) anonymous() awsCLIRunner {
	c.who, c.env, c.pre = "anonymous", awsEnv(filepath.Join(c.t.TempDir(), "none")), nil
	return c
}

type awsCLIResult struct {
	args           []string
	stdout, stderr string
	exit           int
}

func (r awsCLIResult) String() string {
	return fmt.Sprintf("aws %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.exit, r.stdout, r.stderr)
}

func (c awsCLIRunner) run(args ...string) awsCLIResult {
	c.t.Helper()
	full := append(slices.Clone(c.pre), "--region", "us-east-1", "--endpoint-url", c.url, "--output", "json")
	full = append(full, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := awsCLIResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("%s: aws %s: %v", c.who, strings.Join(args, " "), err)
	}
	return r
}

// ok runs a command that must succeed and decodes what it prints into v,
// unless v is nil.
func (c awsCLIRunner) ok(v any, args ...string) awsCLIResult {
	c.t.Helper()
	r := c.run(args...)
	if r.exit != 0 {
		c.t.Fatalf("as %s, %v", c.who, r)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			c.t.Fatalf("as %s, %v\nnot JSON: %v", c.who, r, err)
		}
	}
	return r
}

var awsCLIErrorRE = regexp.MustCompile(`An error occurred \(([A-Za-z0-9.]+)\) when calling the (\w+) operation`)

// fails runs a command that the service must refuse with one of codes:
// the CLI exits with its service-error status (255 for v1, 254 for v2)
// and names AWS's code on stderr.
func (c awsCLIRunner) fails(codes []string, args ...string) awsCLIResult {
	c.t.Helper()
	r := c.run(args...)
	m := awsCLIErrorRE.FindStringSubmatch(r.stderr)
	if r.exit != 254 && r.exit != 255 || m == nil || !slices.Contains(codes, m[1]) {
		c.t.Fatalf("as %s, want an error with code %s, got %v", c.who, strings.Join(codes, " or "), r)
	}
	return r
}

// assumedCredentials is the Credentials member of AssumeRole's answer.
type assumedCredentials struct {
	Credentials     sessionCreds
	AssumedRoleUser struct{ AssumedRoleId, Arn string }
}

type callerIdentityJSON struct{ UserId, Account, Arn string }

// TestAWSCLIFlow runs the AWS CLI through a user's and a role's life: the
// administrator makes a user, a key and a role; the user assumes the role
// and acts with what the role and a session policy allow; the
// administrator simulates the role's policy and deactivates the key; bad
// requests get AWS's error codes.
func TestAWSCLIFlow(t *testing.T) {
	c := newAWSCLIRunner(t, "")
	p, credFile := startDevNode(t)
	c.url = "http://" + p.addr
	admin := c.withFile("admin", credFile)
	files := t.TempDir()
	file := func(name, body string) string {
		path := filepath.Join(files, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return "file://" + path
	}

	var id callerIdentityJSON
	admin.ok(&id, "sts", "get-caller-identity")
	if id.Arn != e2eUserARN("admin") || id.Account != e2eAccount || !strings.HasPrefix(id.UserId, "AIDA") {
		t.Fatalf("admin's identity: %+v", id)
	}

	var user struct {
		User struct{ UserName, UserId, Arn, Path string }
	}
	admin.ok(&user, "iam", "create-user", "--user-name", "alice")
	if u := user.User; u.UserName != "alice" || u.Arn != e2eUserARN("alice") || u.Path != "/" || !strings.HasPrefix(u.UserId, "AIDA") {
		t.Fatalf("create-user: %+v", u)
	}
	var key struct {
		AccessKey struct{ UserName, AccessKeyId, Status, SecretAccessKey string }
	}
	admin.ok(&key, "iam", "create-access-key", "--user-name", "alice")
	if k := key.AccessKey; k.UserName != "alice" || k.Status != "Active" || !strings.HasPrefix(k.AccessKeyId, "AKIA") || len(k.AccessKeyId) != 20 || len(k.SecretAccessKey) != 40 {
		t.Fatalf("create-access-key: %+v", k)
	}
	aliceKey := key.AccessKey.AccessKeyId
	alice := c.withFile("alice", writeCredentialsFile(t, aliceKey, key.AccessKey.SecretAccessKey))

	var role struct {
		Role struct{ RoleName, RoleId, Arn string }
	}
	admin.ok(&role, "iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document", file("trust.json", e2eTrust("alice")))
	if r := role.Role; r.RoleName != "deployer" || r.Arn != e2eRoleARN("deployer") || !strings.HasPrefix(r.RoleId, "AROA") {
		t.Fatalf("create-role: %+v", r)
	}
	roleID := role.Role.RoleId
	if r := admin.ok(nil, "iam", "put-role-policy", "--role-name", "deployer", "--policy-name", "read-iam", "--policy-document", file("read.json", e2eReadIAM)); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("put-role-policy prints %q", r.stdout)
	}

	// The CLI decodes the URL-encoded trust policy into JSON.
	var got struct {
		Role struct {
			RoleName, Arn, RoleId    string
			AssumeRolePolicyDocument struct {
				Statement []struct {
					Effect    string
					Principal struct{ AWS string }
					Action    string
				}
			}
		}
	}
	admin.ok(&got, "iam", "get-role", "--role-name", "deployer")
	if r := got.Role; r.Arn != e2eRoleARN("deployer") || r.RoleId != roleID || len(r.AssumeRolePolicyDocument.Statement) != 1 ||
		r.AssumeRolePolicyDocument.Statement[0].Principal.AWS != e2eUserARN("alice") || r.AssumeRolePolicyDocument.Statement[0].Action != "sts:AssumeRole" {
		t.Fatalf("get-role: %+v", r)
	}
	var roles struct {
		Roles []struct{ RoleName, Arn string }
	}
	admin.ok(&roles, "iam", "list-roles")
	if !slices.ContainsFunc(roles.Roles, func(r struct{ RoleName, Arn string }) bool { return r.Arn == e2eRoleARN("deployer") }) {
		t.Fatalf("list-roles lacks deployer: %+v", roles)
	}

	// Alice assumes the role; the session acts as the role.
	alice.ok(&id, "sts", "get-caller-identity")
	if id.Arn != e2eUserARN("alice") {
		t.Fatalf("alice's identity: %+v", id)
	}
	var assumed assumedCredentials
	alice.ok(&assumed, "sts", "assume-role", "--role-arn", e2eRoleARN("deployer"), "--role-session-name", "s1")
	if a := assumed; a.AssumedRoleUser.Arn != e2eSessionARN("deployer", "s1") || a.AssumedRoleUser.AssumedRoleId != roleID+":s1" ||
		!strings.HasPrefix(a.Credentials.AccessKeyId, "ASIA") || a.Credentials.SecretAccessKey == "" || a.Credentials.SessionToken == "" {
		t.Fatalf("assume-role: %+v", a)
	}
	deployer := c.withSession("deployer/s1", assumed.Credentials)
	deployer.ok(&id, "sts", "get-caller-identity")
	if id.Arn != e2eSessionARN("deployer", "s1") || id.UserId != roleID+":s1" || id.Account != e2eAccount {
		t.Fatalf("the session's identity: %+v", id)
	}
	deployer.ok(&got, "iam", "get-role", "--role-name", "deployer")
	if got.Role.Arn != e2eRoleARN("deployer") {
		t.Fatalf("get-role as the session: %+v", got.Role)
	}
	deployer.ok(&roles, "iam", "list-roles")
	deployer.fails([]string{"AccessDenied"}, "iam", "create-user", "--user-name", "mallory")

	// A session policy narrows the session to what both allow.
	var narrowed assumedCredentials
	alice.ok(&narrowed, "sts", "assume-role", "--role-arn", e2eRoleARN("deployer"), "--role-session-name", "s2", "--policy", e2eGetRole)
	if narrowed.AssumedRoleUser.Arn != e2eSessionARN("deployer", "s2") {
		t.Fatalf("assume-role with a session policy: %+v", narrowed)
	}
	s2 := c.withSession("deployer/s2", narrowed.Credentials)
	s2.ok(&got, "iam", "get-role", "--role-name", "deployer")
	s2.fails([]string{"AccessDenied"}, "iam", "list-roles")
	s2.fails([]string{"AccessDenied"}, "iam", "create-user", "--user-name", "mallory")

	// The administrator simulates what the role may do.
	var sim struct {
		EvaluationResults []struct{ EvalActionName, EvalResourceName, EvalDecision string }
	}
	admin.ok(&sim, "iam", "simulate-principal-policy", "--policy-source-arn", e2eRoleARN("deployer"),
		"--action-names", "iam:GetRole", "iam:ListRoles", "iam:CreateUser")
	want := map[string]string{"iam:GetRole": "allowed", "iam:ListRoles": "allowed", "iam:CreateUser": "implicitDeny"}
	if len(sim.EvaluationResults) != len(want) {
		t.Fatalf("simulate-principal-policy: %+v", sim)
	}
	for _, r := range sim.EvaluationResults {
		if want[r.EvalActionName] != r.EvalDecision || r.EvalResourceName != "*" {
			t.Errorf("simulate-principal-policy: %+v, want %s", r, want[r.EvalActionName])
		}
	}

	// Bad requests get AWS's codes, and change nothing.
	for _, tc := range []struct {
		name string
		code string
		args []string
	}{
		{"policy that is not JSON", "MalformedPolicyDocument",
			[]string{"iam", "put-role-policy", "--role-name", "deployer", "--policy-name", "bad", "--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow"`}},
		{"policy with an unknown effect", "MalformedPolicyDocument",
			[]string{"iam", "put-role-policy", "--role-name", "deployer", "--policy-name", "bad", "--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps","Action":"iam:GetRole","Resource":"*"}]}`}},
		{"trust policy that is not JSON", "MalformedPolicyDocument",
			[]string{"iam", "create-role", "--role-name", "broken", "--assume-role-policy-document", file("broken.json", `{"Statement": [`)}},
		{"unknown role", "NoSuchEntity", []string{"iam", "get-role", "--role-name", "nosuch"}},
		{"policy of an unknown role", "NoSuchEntity",
			[]string{"iam", "put-role-policy", "--role-name", "nosuch", "--policy-name", "p", "--policy-document", e2eGetRole}},
		{"key of an unknown user", "NoSuchEntity", []string{"iam", "create-access-key", "--user-name", "nosuch"}},
		{"duplicate user", "EntityAlreadyExists", []string{"iam", "create-user", "--user-name", "alice"}},
		{"duplicate role", "EntityAlreadyExists",
			[]string{"iam", "create-role", "--role-name", "deployer", "--assume-role-policy-document", file("trust2.json", e2eTrust("alice"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := admin
			admin.t = t
			admin.fails([]string{tc.code}, tc.args...)
		})
	}
	admin.fails([]string{"NoSuchEntity"}, "iam", "get-role-policy", "--role-name", "deployer", "--policy-name", "bad")
	admin.fails([]string{"NoSuchEntity"}, "iam", "get-role", "--role-name", "broken")

	// The key's first use is on record: its service, region and time.
	var used struct {
		UserName          string
		AccessKeyLastUsed struct{ LastUsedDate, ServiceName, Region string }
	}
	admin.ok(&used, "iam", "get-access-key-last-used", "--access-key-id", aliceKey)
	if u := used.AccessKeyLastUsed; used.UserName != "alice" || u.ServiceName != "sts" || u.Region != "us-east-1" || u.LastUsedDate == "" {
		t.Fatalf("get-access-key-last-used: %+v", used)
	}
	if d, err := time.Parse(time.RFC3339, used.AccessKeyLastUsed.LastUsedDate); err != nil || time.Since(d) > 5*time.Minute || time.Since(d) < -time.Minute {
		t.Errorf("last used %q: %v", used.AccessKeyLastUsed.LastUsedDate, err)
	}

	// A deactivated key is refused from its next request on, as AWS
	// refuses it: InvalidClientTokenId, as for a key that does not exist.
	admin.ok(nil, "iam", "update-access-key", "--user-name", "alice", "--access-key-id", aliceKey, "--status", "Inactive")
	var keys struct {
		AccessKeyMetadata []struct{ AccessKeyId, Status, UserName string }
	}
	admin.ok(&keys, "iam", "list-access-keys", "--user-name", "alice")
	if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].AccessKeyId != aliceKey || keys.AccessKeyMetadata[0].Status != "Inactive" {
		t.Fatalf("list-access-keys: %+v", keys)
	}
	inactive := []string{"InvalidClientTokenId"}
	alice.fails(inactive, "sts", "get-caller-identity")
	alice.fails(inactive, "sts", "assume-role", "--role-arn", e2eRoleARN("deployer"), "--role-session-name", "s3")
	alice.fails(inactive, "iam", "get-user")

	// Every call above is on the audit record, made or refused, and no
	// secret, session token or signature is.
	_, adminSecret := readCredentials(t, credFile)
	secrets := map[string]string{
		"the administrator's secret": adminSecret,
		"alice's secret":             key.AccessKey.SecretAccessKey,
		"a session's secret":         assumed.Credentials.SecretAccessKey,
		"a session token":            assumed.Credentials.SessionToken,
		"a narrowed session's token": narrowed.Credentials.SessionToken,
	}
	recs := auditText(t, filepath.Dir(credFile))
	for _, want := range []string{`"eventName":"CreateAccessKey"`, `"eventName":"AssumeRole"`, `"eventName":"CreateUser"`,
		`"errorCode":"AccessDenied"`, `"errorCode":"InvalidClientTokenId"`, `"errorCode":"MalformedPolicyDocument"`, aliceKey} {
		if !strings.Contains(recs, want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	for what, v := range secrets {
		if v == "" || strings.Contains(recs, v) {
			t.Errorf("the audit log holds %s (or the test lost it)", what)
		}
	}
	if strings.Contains(recs, "Signature=") || strings.Contains(recs, "X-Amz-Signature") {
		t.Error("the audit log holds a request signature")
	}
}

// auditText is every audit record a node in dir has written, as text.
func auditText(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(filepath.Join(dir, "audit"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) == ".db" || strings.Contains(path, string(filepath.Separator)+"keys") {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(bytes.TrimRight(data, "\x00")) // the zeros after an open segment's records
		b.WriteByte('\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 {
		t.Fatal("no audit records found")
	}
	return b.String()
}

// sdkClients is aws-sdk-go-v2's STS and IAM clients for one identity.
type sdkClients struct {
	sts *sts.Client
	iam *iam.Client
}

func newSDKClients(url string, creds aws.CredentialsProvider) sdkClients {
	cfg := aws.Config{Region: "us-east-1", Credentials: creds, RetryMaxAttempts: 1}
	return sdkClients{
		sts: sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) }),
		iam: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(url) }),
	}
}

func staticCredentials(key, secret, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, secret, token)
}

// apiErrorCode is AWS's error code in err, "" when err is not an API error.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// provisionAssumable makes, as the administrator, a user with an access
// key and a role that trusts the user, with permissions as its inline
// policy. It returns the user's key.
func provisionAssumable(t *testing.T, admin *iam.Client, user, role, permissions string) (key, secret string) {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatalf("CreateUser %s: %v", user, err)
	}
	k, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("CreateAccessKey %s: %v", user, err)
	}
	if _, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(e2eTrust(user))}); err != nil {
		t.Fatalf("CreateRole %s: %v", role, err)
	}
	if _, err := admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("permissions"), PolicyDocument: aws.String(permissions)}); err != nil {
		t.Fatalf("PutRolePolicy %s: %v", role, err)
	}
	return aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
}

// assumeWithSDK assumes a role with the SDK and returns its credentials.
func assumeWithSDK(t *testing.T, c *sts.Client, role, session, policy string) sessionCreds {
	t.Helper()
	in := &sts.AssumeRoleInput{RoleArn: aws.String(e2eRoleARN(role)), RoleSessionName: aws.String(session), DurationSeconds: aws.Int32(900)}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := c.AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole %s as %s: %v", role, session, err)
	}
	if aws.ToString(out.AssumedRoleUser.Arn) != e2eSessionARN(role, session) || out.Credentials == nil {
		t.Fatalf("AssumeRole %s: %+v", role, out.AssumedRoleUser)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d > 15*time.Minute || d < 13*time.Minute {
		t.Fatalf("AssumeRole for 900 s: expires in %v", d)
	}
	return sessionCreds{aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)}
}

// callerIdentityXML is GetCallerIdentity's answer in XML.
type callerIdentityXML struct {
	Arn     string `xml:"GetCallerIdentityResult>Arn"`
	UserID  string `xml:"GetCallerIdentityResult>UserId"`
	Account string `xml:"GetCallerIdentityResult>Account"`
}

// awsErrorCode is the code of an AWS query-protocol error answer.
func awsErrorCode(body string) string {
	var e struct {
		Code string `xml:"Error>Code"`
	}
	xml.Unmarshal([]byte(body), &e)
	return e.Code
}

func doRequest(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenRE finds a session token's value in a presigned URL.
var tokenRE = regexp.MustCompile(`(X-Amz-Security-Token=[^&]{8})[^&]*`)

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestSDKFlow drives aws-sdk-go-v2 through the administrator's and a
// role session's calls, then signs and presigns raw requests with its v4
// signer.
func TestSDKFlow(t *testing.T) {
	p, credFile := startDevNode(t)
	base := "http://" + p.addr
	ctx := context.Background()
	adminKey, adminSecret := readCredentials(t, credFile)
	admin := newSDKClients(base, staticCredentials(adminKey, adminSecret, ""))

	id, err := admin.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != e2eUserARN("admin") || aws.ToString(id.Account) != e2eAccount {
		t.Fatalf("GetCallerIdentity as admin: %v %+v", err, id)
	}
	bobKey, bobSecret := provisionAssumable(t, admin.iam, "bob", "builder", e2eReadIAM)
	role, err := admin.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("builder")})
	if err != nil || aws.ToString(role.Role.Arn) != e2eRoleARN("builder") {
		t.Fatalf("GetRole: %v %+v", err, role)
	}
	if doc, err := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); err != nil || !json.Valid([]byte(doc)) || !strings.Contains(doc, e2eUserARN("bob")) {
		t.Fatalf("GetRole's trust policy is not URL-encoded JSON naming bob: %q %v", aws.ToString(role.Role.AssumeRolePolicyDocument), err)
	}
	roleID := aws.ToString(role.Role.RoleId)

	bob := newSDKClients(base, staticCredentials(bobKey, bobSecret, ""))
	temp := assumeWithSDK(t, bob.sts, "builder", "sdk", "")
	session := newSDKClients(base, staticCredentials(temp.AccessKeyId, temp.SecretAccessKey, temp.SessionToken))
	id, err = session.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != e2eSessionARN("builder", "sdk") || aws.ToString(id.UserId) != roleID+":sdk" {
		t.Fatalf("GetCallerIdentity as the session: %v %+v", err, id)
	}
	if _, err := session.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("builder")}); err != nil {
		t.Fatalf("GetRole as the session: %v", err)
	}
	if _, err := session.iam.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Fatalf("ListRoles as the session: %v", err)
	}
	if _, err := session.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")}); apiErrorCode(err) != "AccessDenied" {
		t.Fatalf("CreateUser as the session: %v, want AccessDenied", err)
	}
	narrow := assumeWithSDK(t, bob.sts, "builder", "narrow", e2eGetRole)
	narrowed := newSDKClients(base, staticCredentials(narrow.AccessKeyId, narrow.SecretAccessKey, narrow.SessionToken))
	if _, err := narrowed.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("builder")}); err != nil {
		t.Fatalf("GetRole with a session policy allowing it: %v", err)
	}
	if _, err := narrowed.iam.ListRoles(ctx, &iam.ListRolesInput{}); apiErrorCode(err) != "AccessDenied" {
		t.Fatalf("ListRoles with a session policy allowing only GetRole: %v, want AccessDenied", err)
	}
	// Nobody but bob is trusted. An identity policy that allows
	// sts:AssumeRole (eve's, or the administrator's "*") is not enough:
	// a trust policy must name the principal or its account, as AWS
	// requires of trust policies, unlike other resource policies.
	if _, err := admin.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("eve")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("eve"), PolicyName: aws.String("assume-any"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	eveKey, err := admin.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("eve")})
	if err != nil {
		t.Fatal(err)
	}
	eve := newSDKClients(base, staticCredentials(aws.ToString(eveKey.AccessKey.AccessKeyId), aws.ToString(eveKey.AccessKey.SecretAccessKey), ""))
	for who, c := range map[string]sdkClients{"eve": eve, "admin": admin} {
		_, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(e2eRoleARN("builder")), RoleSessionName: aws.String("intruder")})
		if apiErrorCode(err) != "AccessDenied" {
			t.Errorf("AssumeRole by %s, whose identity policy allows sts:AssumeRole but whom the trust policy does not name: %v, want AccessDenied", who, err)
		}
	}

	// The SDK turns AWS's codes into its typed errors.
	var noSuch *iamtypes.NoSuchEntityException
	if _, err := admin.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nosuch")}); !errors.As(err, &noSuch) {
		t.Errorf("GetRole of an unknown role: %v, want NoSuchEntityException", err)
	}
	var exists *iamtypes.EntityAlreadyExistsException
	if _, err := admin.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}); !errors.As(err, &exists) {
		t.Errorf("CreateUser of an existing user: %v, want EntityAlreadyExistsException", err)
	}
	var malformed *iamtypes.MalformedPolicyDocumentException
	if _, err := admin.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("builder"), PolicyName: aws.String("bad"), PolicyDocument: aws.String("{")}); !errors.As(err, &malformed) {
		t.Errorf("PutRolePolicy with a malformed document: %v, want MalformedPolicyDocumentException", err)
	}

	adminCreds := aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}
	sessionCredsV4 := aws.Credentials{AccessKeyID: temp.AccessKeyId, SecretAccessKey: temp.SecretAccessKey, SessionToken: temp.SessionToken}

	t.Run("signer", func(t *testing.T) {
		signer := v4.NewSigner()
		for _, tc := range []struct {
			name, service, body string
			creds               aws.Credentials
			tamper              func(*http.Request)
			status              int
			want                string // in the answer
		}{
			{"sts", "sts", "Action=GetCallerIdentity&Version=2011-06-15", adminCreds, nil, 200, "<Arn>" + e2eUserARN("admin") + "</Arn>"},
			{"sts with a session token", "sts", "Action=GetCallerIdentity&Version=2011-06-15", sessionCredsV4, nil, 200, "<Arn>" + e2eSessionARN("builder", "sdk") + "</Arn>"},
			{"iam", "iam", "Action=GetRole&RoleName=builder&Version=2010-05-08", adminCreds, nil, 200, "<Arn>" + e2eRoleARN("builder") + "</Arn>"},
			{"body changed after signing", "sts", "Action=GetCallerIdentity&Version=2011-06-15", adminCreds, func(r *http.Request) {
				b := "Action=GetSessionToken&Version=2011-06-15"
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
			}, 403, "SignatureDoesNotMatch"},
			{"header changed after signing", "sts", "Action=GetCallerIdentity&Version=2011-06-15", adminCreds, func(r *http.Request) {
				r.Header.Set("X-Amz-Date", time.Now().Add(-time.Minute).UTC().Format("20060102T150405Z"))
			}, 403, "SignatureDoesNotMatch"},
			{"session token dropped", "sts", "Action=GetCallerIdentity&Version=2011-06-15", sessionCredsV4, func(r *http.Request) {
				r.Header.Del("X-Amz-Security-Token")
			}, 403, "InvalidClientTokenId"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
				if err := signer.SignHTTP(ctx, tc.creds, req, sha256Hex([]byte(tc.body)), tc.service, "us-east-1", time.Now()); err != nil {
					t.Fatal(err)
				}
				if tc.tamper != nil {
					tc.tamper(req)
				}
				code, body := doRequest(t, req)
				if code != tc.status || !strings.Contains(body, tc.want) {
					t.Fatalf("%d %s\nwant %d with %q", code, body, tc.status, tc.want)
				}
				if tc.status != 200 && awsErrorCode(body) != tc.want {
					t.Fatalf("error code %q, want %q: %s", awsErrorCode(body), tc.want, body)
				}
			})
		}
	})

	t.Run("presigned", func(t *testing.T) {
		// A presigned GetCallerIdentity URL proves who signed it to
		// whoever fetches it (the pattern of aws-iam-authenticator and
		// Vault's AWS auth): STS answers it as a GET with the query.
		presign := func(t *testing.T, creds aws.Credentials) string {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, base+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=300", nil)
			if err != nil {
				t.Fatal(err)
			}
			u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, sha256Hex(nil), "sts", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		get := func(t *testing.T, u string) (int, string) {
			t.Helper()
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		sdkURL := func(t *testing.T) string {
			t.Helper()
			// X-Amz-Expires as aws-iam-authenticator sets it: a header
			// the presigner moves into the query.
			r, err := sts.NewPresignClient(admin.sts).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
				o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(smithyhttp.AddHeaderValue("X-Amz-Expires", "60")))
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != http.MethodGet || !strings.Contains(r.URL, "X-Amz-Expires=60") {
				t.Fatalf("the SDK presigns GetCallerIdentity as %s %s", r.Method, r.URL)
			}
			return r.URL
		}
		for _, tc := range []struct {
			name  string
			url   func(*testing.T) string
			alter func(string) string
			arn   string // the identity, or "" when refused
			code  string
		}{
			{"signer", func(t *testing.T) string { return presign(t, adminCreds) }, nil, e2eUserARN("admin"), ""},
			{"signer with a session token", func(t *testing.T) string { return presign(t, sessionCredsV4) }, nil, e2eSessionARN("builder", "sdk"), ""},
			{"presign client", sdkURL, nil, e2eUserARN("admin"), ""},
			{"signature altered", func(t *testing.T) string { return presign(t, adminCreds) }, func(u string) string {
				i := strings.Index(u, "X-Amz-Signature=") + len("X-Amz-Signature=")
				c := "0"
				if u[i] == '0' {
					c = "1"
				}
				return u[:i] + c + u[i+1:]
			}, "", "SignatureDoesNotMatch"},
			{"action altered", func(t *testing.T) string { return presign(t, adminCreds) }, func(u string) string {
				return strings.Replace(u, "Action=GetCallerIdentity", "Action=GetSessionToken", 1)
			}, "", "SignatureDoesNotMatch"},
			{"parameter added", func(t *testing.T) string { return presign(t, adminCreds) }, func(u string) string {
				return u + "&DurationSeconds=900"
			}, "", "SignatureDoesNotMatch"},
			{"expiry extended", func(t *testing.T) string { return presign(t, adminCreds) }, func(u string) string {
				return strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1)
			}, "", "SignatureDoesNotMatch"},
			{"session token altered", func(t *testing.T) string { return presign(t, sessionCredsV4) }, func(u string) string {
				return strings.Replace(u, "X-Amz-Security-Token=", "X-Amz-Security-Token=A", 1)
			}, "", "InvalidClientTokenId"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := tc.url(t)
				if tc.alter != nil {
					u = tc.alter(u)
				}
				code, body := get(t, u)
				shown := tokenRE.ReplaceAllString(u, "${1}...") // the URL, short enough to read
				if tc.arn != "" {
					var id callerIdentityXML
					if code != 200 || xml.Unmarshal([]byte(body), &id) != nil || id.Arn != tc.arn {
						t.Fatalf("GET %s: %d %s\nwant 200 naming %s", shown, code, body, tc.arn)
					}
					return
				}
				if code != http.StatusForbidden || awsErrorCode(body) != tc.code {
					t.Fatalf("GET %s: %d %s\nwant 403 %s", shown, code, body, tc.code)
				}
			})
		}
	})
}

// boto3Python finds a Python with boto3: the system's (Debian
// python3-boto3) first, then the first python3 on PATH.
func boto3Python(t *testing.T) string {
	t.Helper()
	var cands []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		cands = append(cands, "/usr/bin/python3")
	}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import boto3").Run() == nil {
			return p
		}
	}
	if os.Getenv("ZTGATE_REQUIRE_BOTO3") == "1" {
		t.Fatalf("no python3 with boto3 (Debian package python3-boto3) among %v and ZTGATE_REQUIRE_BOTO3=1", cands)
	}
	t.Skipf("no python3 with boto3 (Debian package python3-boto3) among %v; set ZTGATE_REQUIRE_BOTO3=1 to make this a failure", cands)
	return ""
}

// TestBoto3Flow runs testdata/boto3_flow.py, which makes a role with boto3
// as the administrator, assumes it as a user and calls with the session,
// in one Python process; it prints what it saw as JSON.
func TestBoto3Flow(t *testing.T) {
	py := boto3Python(t)
	p, credFile := startDevNode(t)
	key, secret := readCredentials(t, credFile)
	cmd := exec.Command(py, filepath.Join("testdata", "boto3_flow.py"))
	cmd.Env = append(awsEnv(filepath.Join(t.TempDir(), "none")),
		"ZT_ENDPOINT=http://"+p.addr, "ZT_ADMIN_KEY="+key, "ZT_ADMIN_SECRET="+secret,
		"ZT_TRUST_POLICY="+e2eTrust("carol"), "ZT_ROLE_POLICY="+e2eReadIAM)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("boto3_flow.py: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var got struct {
		Admin    callerIdentityJSON
		User     struct{ UserName, Arn string }
		Role     struct{ RoleName, RoleId, Arn string }
		Carol    callerIdentityJSON
		Assumed  struct{ AssumedRoleId, Arn, AccessKeyId, Expiration string }
		Session  callerIdentityJSON
		GetRole  string
		Denied   struct{ Code, Status string }
		NoSuch   string
		Existing string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("boto3_flow.py prints no JSON: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("boto3_flow.py: %s", stdout.String())
	for _, c := range []struct {
		what      string
		got, want string
	}{
		{"admin's ARN", got.Admin.Arn, e2eUserARN("admin")},
		{"admin's account", got.Admin.Account, e2eAccount},
		{"created user", got.User.Arn, e2eUserARN("carol")},
		{"created role", got.Role.Arn, e2eRoleARN("ci-builder")},
		{"carol's ARN", got.Carol.Arn, e2eUserARN("carol")},
		{"assumed role user", got.Assumed.Arn, e2eSessionARN("ci-builder", "boto3")},
		{"assumed role id", got.Assumed.AssumedRoleId, got.Role.RoleId + ":boto3"},
		{"session's ARN", got.Session.Arn, e2eSessionARN("ci-builder", "boto3")},
		{"session's user id", got.Session.UserId, got.Role.RoleId + ":boto3"},
		{"session's account", got.Session.Account, e2eAccount},
		{"get_role as the session", got.GetRole, e2eRoleARN("ci-builder")},
		{"create_user as the session", got.Denied.Code, "AccessDenied"},
		{"create_user as the session, HTTP status", got.Denied.Status, "403"},
		{"get_role of an unknown role", got.NoSuch, "NoSuchEntity"},
		{"create_user of an existing user", got.Existing, "EntityAlreadyExists"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if !strings.HasPrefix(got.Role.RoleId, "AROA") || !strings.HasPrefix(got.Assumed.AccessKeyId, "ASIA") {
		t.Errorf("role id %q, temporary key %q", got.Role.RoleId, got.Assumed.AccessKeyId)
	}
	if exp, err := time.Parse(time.RFC3339, got.Assumed.Expiration); err != nil || time.Until(exp) > 15*time.Minute || time.Until(exp) < 13*time.Minute {
		t.Errorf("expiration %q for 900 s: %v", got.Assumed.Expiration, err)
	}
}

// curlSigV4 signs a query-protocol request with curl --aws-sigv4 and
// returns the status and body.
func curlSigV4(t *testing.T, curl, url, service, key, secret, token string, form url.Values) (int, string) {
	t.Helper()
	args := []string{"-sS", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:" + service, "--user", key + ":" + secret,
		"-H", "Content-Type: application/x-www-form-urlencoded; charset=utf-8", "--data", form.Encode()}
	if token != "" {
		args = append(args, "-H", "X-Amz-Security-Token: "+token)
	}
	out, err := exec.Command(curl, append(args, url+"/")...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	i := bytes.LastIndexByte(out, '\n')
	var code int
	fmt.Sscan(string(out[i+1:]), &code)
	return code, string(out[:i])
}

// TestCurlSigV4 signs with curl --aws-sigv4 what TestServeDevSTS does not:
// AssumeRole, IAM calls, and calls with the role's temporary credentials,
// whose session token curl sends as the X-Amz-Security-Token header.
func TestCurlSigV4(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not on PATH")
	}
	p, credFile := startDevNode(t)
	base := "http://" + p.addr
	adminKey, adminSecret := readCredentials(t, credFile)
	admin := newSDKClients(base, staticCredentials(adminKey, adminSecret, ""))
	daveKey, daveSecret := provisionAssumable(t, admin.iam, "dave", "reader", e2eReadIAM)

	code, body := curlSigV4(t, curl, base, "sts", daveKey, daveSecret, "", url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {e2eRoleARN("reader")},
		"RoleSessionName": {"curl"}, "DurationSeconds": {"900"},
	})
	var assumed struct {
		Key     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret  string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token   string `xml:"AssumeRoleResult>Credentials>SessionToken"`
		Expires string `xml:"AssumeRoleResult>Credentials>Expiration"`
		Arn     string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	}
	if err := xml.Unmarshal([]byte(body), &assumed); err != nil || code != 200 || assumed.Arn != e2eSessionARN("reader", "curl") || assumed.Token == "" {
		t.Fatalf("curl AssumeRole: %d %s (%v)", code, body, err)
	}

	identity := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	getRole := url.Values{"Action": {"GetRole"}, "Version": {"2010-05-08"}, "RoleName": {"reader"}}
	createUser := url.Values{"Action": {"CreateUser"}, "Version": {"2010-05-08"}, "UserName": {"mallory"}}
	for _, tc := range []struct {
		name               string
		service            string
		key, secret, token string
		form               url.Values
		status             int
		want               string // in the body: an element, or the error code
	}{
		{"sts as the user", "sts", daveKey, daveSecret, "", identity, 200, "<Arn>" + e2eUserARN("dave") + "</Arn>"},
		{"sts with the session token", "sts", assumed.Key, assumed.Secret, assumed.Token, identity, 200, "<Arn>" + e2eSessionARN("reader", "curl") + "</Arn>"},
		{"iam with the session token", "iam", assumed.Key, assumed.Secret, assumed.Token, getRole, 200, "<Arn>" + e2eRoleARN("reader") + "</Arn>"},
		{"iam write with the session token", "iam", assumed.Key, assumed.Secret, assumed.Token, createUser, 403, "AccessDenied"},
		{"iam as the administrator", "iam", adminKey, adminSecret, "", getRole, 200, "<RoleName>reader</RoleName>"},
		{"without the session token", "sts", assumed.Key, assumed.Secret, "", identity, 403, "InvalidClientTokenId"},
		{"with another session's token", "sts", assumed.Key, assumed.Secret, assumed.Token[:len(assumed.Token)-4] + "AAAA", identity, 403, "InvalidClientTokenId"},
		{"with a wrong secret", "sts", assumed.Key, strings.Repeat("x", 40), assumed.Token, identity, 403, "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := curlSigV4(t, curl, base, tc.service, tc.key, tc.secret, tc.token, tc.form)
			if code != tc.status || (code == 200 && !strings.Contains(body, tc.want)) || (code != 200 && awsErrorCode(body) != tc.want) {
				t.Fatalf("%d %s\nwant %d with %s", code, body, tc.status, tc.want)
			}
		})
	}
}

// TestRevokeAcrossNodes runs two nodes on one PostgreSQL store: a role
// session issued by node A works on node B until "ztgate session revoke"
// on node A, and a user's key deactivated through node A is refused by
// node B on its next request.
func TestRevokeAcrossNodes(t *testing.T) {
	c := newAWSCLIRunner(t, "")
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not on PATH")
	}
	cluster := pgtest.NewCluster(t)
	dsn := cluster.CreateDB(t, "ztgate")
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	sharedKEK(t, da, db)
	a := start(t, da, "--dev", "--config", pgConfig(t, da, dsn, "node-a"))
	b := start(t, db, "--config", pgConfig(t, db, dsn, "node-b"))
	a.waitReady(true, 10*time.Second)
	b.waitReady(true, 10*time.Second)
	urlA, urlB := "http://"+a.addr, "http://"+b.addr
	adminA := c.withFile("admin", filepath.Join(da, adminCredentials))
	adminA.url = urlA

	// The administrator makes alice and a role on node A; alice assumes
	// it there.
	var user struct{ User struct{ Arn string } }
	adminA.ok(&user, "iam", "create-user", "--user-name", "alice")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	adminA.ok(&key, "iam", "create-access-key", "--user-name", "alice")
	adminA.ok(nil, "iam", "create-role", "--role-name", "ops", "--assume-role-policy-document", e2eTrust("alice"))
	adminA.ok(nil, "iam", "put-role-policy", "--role-name", "ops", "--policy-name", "read", "--policy-document", e2eReadIAM)
	aliceKey, aliceSecret := key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey
	aliceA := c.withFile("alice", writeCredentialsFile(t, aliceKey, aliceSecret))
	aliceA.url = urlA
	var assumed assumedCredentials
	aliceA.ok(&assumed, "sts", "assume-role", "--role-arn", e2eRoleARN("ops"), "--role-session-name", "s1")
	temp := assumed.Credentials

	// Node B accepts the session and alice's key.
	sessionB := c.withSession("ops/s1", temp)
	sessionB.url = urlB
	var id callerIdentityJSON
	sessionB.ok(&id, "sts", "get-caller-identity")
	if id.Arn != e2eSessionARN("ops", "s1") {
		t.Fatalf("node B, the session from node A: %+v", id)
	}
	sessionB.ok(nil, "iam", "get-role", "--role-name", "ops")
	identity := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	if code, body := curlSigV4(t, curl, urlB, "sts", aliceKey, aliceSecret, "", identity); code != 200 || !strings.Contains(body, e2eUserARN("alice")) {
		t.Fatalf("node B, alice's key: %d %s", code, body)
	}

	// Revoking the role's sessions on node A reaches node B: curl, which
	// starts in milliseconds, measures how soon.
	revokeSessions(t, da, e2eRoleARN("ops"))
	revoked := time.Now()
	for {
		code, body := curlSigV4(t, curl, urlB, "sts", temp.AccessKeyId, temp.SecretAccessKey, temp.SessionToken, identity)
		if code == 403 && awsErrorCode(body) == "InvalidClientTokenId" {
			break
		}
		if code != 200 {
			t.Fatalf("node B, the session while the revocation travels: %d %s", code, body)
		}
		if d := time.Since(revoked); d > 2*time.Second {
			t.Fatalf("node B still accepts the revoked session %v after the revocation", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("node B refused the revoked session %v after the revocation", time.Since(revoked))
	sessionB.fails([]string{"InvalidClientTokenId"}, "iam", "get-role", "--role-name", "ops")
	aliceB := aliceA
	aliceB.url = urlB
	aliceB.ok(&id, "sts", "get-caller-identity")
	if id.Arn != e2eUserARN("alice") {
		t.Fatalf("node B, alice's key after the revocation of the role's sessions: %+v", id)
	}

	// A key deactivated through node A is refused by node B on its very
	// next request: keys are read from the store, not cached.
	adminA.ok(nil, "iam", "update-access-key", "--user-name", "alice", "--access-key-id", aliceKey, "--status", "Inactive")
	code, body := curlSigV4(t, curl, urlB, "sts", aliceKey, aliceSecret, "", identity)
	if code != 403 || !slices.Contains([]string{"InvalidClientTokenId"}, awsErrorCode(body)) {
		t.Fatalf("node B, alice's deactivated key, the next request: %d %s", code, body)
	}
	aliceB.fails([]string{"InvalidClientTokenId"}, "sts", "assume-role", "--role-arn", e2eRoleARN("ops"), "--role-session-name", "s2")
	a.stop()
	b.stop()
}
