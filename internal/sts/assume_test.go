package sts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

const acct = "111122223333"

// world is an STS handler over a real directory: users alice and bob with
// keys, and roles whose trust policies say who may assume them.
type world struct {
	h          *Handler
	dir        *iam.Directory
	policies   *iam.Policies
	mem        *audit.Memory
	revoked    *session.Revocations
	st         *sqlstore.Store
	alice, bob struct{ key, secret string }
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "ztgate.db"), Node: "test"})
}

func newWorldOn(t testing.TB, o sqlstore.Options) *world {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{mem: &audit.Memory{}, revoked: &session.Revocations{}, st: st}
	w.dir = iam.New(iam.Config{Store: st, KEK: kek, Account: acct, Clock: func() time.Time { return now }})
	for _, u := range []struct {
		name string
		dst  *struct{ key, secret string }
	}{{"alice", &w.alice}, {"bob", &w.bob}} {
		if _, err := w.dir.CreateUser(ctx, u.name); err != nil {
			t.Fatal(err)
		}
		k, s, err := w.dir.CreateAccessKey(ctx, u.name)
		if err != nil {
			t.Fatal(err)
		}
		u.dst.key, u.dst.secret = k.ID, s.Reveal()
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	trust := func(principal string, extra string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]` + extra + `}]}`
	}
	alice := "arn:zt:iam::" + acct + ":user/alice"
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "deployer", TrustPolicy: trust(alice, ""), Tags: []iam.Tag{{Key: "team", Value: "blue"}}})
	must(err)
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "long", Path: "/ops/", TrustPolicy: trust(alice, ""), MaxSessionDuration: 4 * time.Hour})
	must(err)
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "partner", TrustPolicy: trust(alice, `,"Condition":{"StringEquals":{"sts:ExternalId":"xyz-123"}}`)})
	must(err)
	// "account" trusts the account: callers need an identity policy too.
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "account", TrustPolicy: trust(acct, "")})
	must(err)
	// "chain" trusts deployer's sessions.
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "chain", TrustPolicy: trust("arn:zt:iam::"+acct+":role/deployer", "")})
	must(err)
	// bob may assume any role as far as his own policies go: only trust
	// policies that name him or the account let him.
	must(w.dir.PutPolicy(ctx, iam.HolderUser, "bob", "assume-any", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`))
	_, err = w.dir.CreatePolicy(ctx, iam.ManagedPolicy{Name: "ReadOnly", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}`})
	must(err)
	w.policies = iam.NewPolicies(w.dir)
	must(w.policies.Load(ctx))
	must(w.revoked.Load(ctx, st))

	tokens := session.New(session.Config{KEK: kek, Clock: func() time.Time { return now }})
	keys := session.KeyStore{Keys: w.dir, Tokens: tokens, Revoked: w.revoked}
	w.h = New(Config{
		Authenticator: authn.New(authn.Config{
			Verifier: &sigv4.Verifier{Keys: keys, Service: "sts", Clock: func() time.Time { return now }},
			Users:    w.dir, Tokens: tokens, Policies: w.policies,
			Clock: func() time.Time { return now },
		}),
		Roles: w.dir, Policies: w.policies, Tokens: tokens, Account: acct,
		Audit: w.mem, Clock: func() time.Time { return now },
	})
	return w
}

type assumed struct {
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	} `xml:"AssumeRoleResult>Credentials"`
	User struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string
	} `xml:"AssumeRoleResult>AssumedRoleUser"`
	SourceIdentity string `xml:"AssumeRoleResult>SourceIdentity"`
}

func assumeBody(role, session string, extra ...string) string {
	v := url.Values{"Action": {"AssumeRole"}, "Version": {Version}, "RoleArn": {role}, "RoleSessionName": {session}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

func role(name string) string { return "arn:zt:iam::" + acct + ":role/" + name }

func (w *world) assume(t testing.TB, key, sec, token, body string) assumed {
	t.Helper()
	rec := call(w.h, body, key, sec, token)
	if rec.Code != 200 {
		t.Fatalf("AssumeRole: %d %s", rec.Code, rec.Body)
	}
	var a assumed
	if err := xml.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

var (
	tempKeyRE   = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	assumedIDRE = regexp.MustCompile(`^AROA[A-Z2-7]{16}:s1$`)
)

func TestAssumeRole(t *testing.T) {
	w := newWorld(t)
	a := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1"))
	if !tempKeyRE.MatchString(a.Credentials.AccessKeyID) || a.Credentials.SessionToken == "" ||
		a.User.Arn != "arn:zt:sts::"+acct+":assumed-role/deployer/s1" || !assumedIDRE.MatchString(a.User.AssumedRoleID) {
		t.Fatalf("AssumeRole answer: %+v", a)
	}
	if a.Credentials.Expiration != now.Add(time.Hour).Format(time.RFC3339) {
		t.Fatalf("default duration: expires %s", a.Credentials.Expiration)
	}

	// The temporary credentials act as the assumed role.
	rec := call(w.h, callerBody, a.Credentials.AccessKeyID, a.Credentials.SecretAccessKey, a.Credentials.SessionToken)
	var id struct {
		Arn    string `xml:"GetCallerIdentityResult>Arn"`
		UserID string `xml:"GetCallerIdentityResult>UserId"`
	}
	if rec.Code != 200 || xml.Unmarshal(rec.Body.Bytes(), &id) != nil || id.Arn != a.User.Arn || id.UserID != a.User.AssumedRoleID {
		t.Fatalf("GetCallerIdentity as the role: %d %s", rec.Code, rec.Body)
	}

	// The issue is audited with the trust statement that allowed it, and
	// without the secret or the token.
	var issued *audit.Record
	for _, r := range w.mem.Records() {
		if r.EventName == "AssumeRole" && r.ZTGate.Category == audit.CategoryIssued {
			issued = &r
		}
	}
	if issued == nil || len(issued.ZTGate.Matched) == 0 || issued.ZTGate.Matched[0].Policy != iam.TrustName("deployer") ||
		issued.UserIdentity.ARN != "arn:zt:iam::"+acct+":user/alice" || issued.Resources[0].ARN != role("deployer") {
		t.Fatalf("audit: %+v", issued)
	}
	for _, r := range w.mem.Records() {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), a.Credentials.SecretAccessKey) || strings.Contains(string(b), a.Credentials.SessionToken) || strings.Contains(string(b), w.alice.secret) {
			t.Fatalf("a secret is in the audit record %s", b)
		}
	}

	// A role with a path and a longer maximum.
	a = w.assume(t, w.alice.key, w.alice.secret, "", assumeBody("arn:zt:iam::"+acct+":role/ops/long", "s1", "DurationSeconds", "14400"))
	if a.Credentials.Expiration != now.Add(4*time.Hour).Format(time.RFC3339) {
		t.Fatalf("4 h session expires %s", a.Credentials.Expiration)
	}
}

func TestAssumeRoleRefused(t *testing.T) {
	w := newWorld(t)
	deployer := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1"))
	dc := deployer.Credentials
	for _, tc := range []struct {
		name          string
		who           string // alice, bob, deployer
		body          string
		status        int
		code, message string
	}{
		{"not trusted, though his identity policy allows", "bob", assumeBody(role("deployer"), "s1"), 403, "AccessDenied", "User: arn:zt:iam::" + acct + ":user/bob is not authorized to perform: sts:AssumeRole on resource: " + role("deployer")},
		{"no such role", "alice", assumeBody(role("nobody"), "s1"), 403, "AccessDenied", "User: arn:zt:iam::" + acct + ":user/alice is not authorized to perform: sts:AssumeRole on resource: " + role("nobody")},
		{"path differs", "alice", assumeBody(role("long"), "s1"), 403, "AccessDenied", ""},
		{"account trust without identity policy", "alice", assumeBody(role("account"), "s1"), 403, "AccessDenied", ""},
		{"external id missing", "alice", assumeBody(role("partner"), "s1"), 403, "AccessDenied", ""},
		{"external id wrong", "alice", assumeBody(role("partner"), "s1", "ExternalId", "xyz-124"), 403, "AccessDenied", ""},
		{"over the role's maximum", "alice", assumeBody(role("deployer"), "s1", "DurationSeconds", "3601"), 400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{"too short", "alice", assumeBody(role("deployer"), "s1", "DurationSeconds", "899"), 400, "ValidationError", "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"chained over an hour", "deployer", assumeBody(role("chain"), "s2", "DurationSeconds", "3700"), 400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{"missing role", "alice", "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1", 400, "ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"},
		{"missing session name", "alice", "Action=AssumeRole&Version=2011-06-15&RoleArn=" + url.QueryEscape(role("deployer")), 400, "ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"},
		{"short session name", "alice", assumeBody(role("deployer"), "s"), 400, "ValidationError", ""},
		{"malformed session policy", "alice", assumeBody(role("deployer"), "s1", "Policy", `{"Statement":[{"Effect":"Allow"}]}`), 400, "MalformedPolicyDocument", ""},
		{"identity policy as session policy", "alice", assumeBody(role("deployer"), "s1", "Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`), 400, "MalformedPolicyDocument", ""},
		{"unknown managed session policy", "alice", assumeBody(role("deployer"), "s1", "PolicyArns.member.1.arn", "arn:zt:iam::"+acct+":policy/Nope"), 400, "InvalidParameterValue", ""},
		{"MFA offered", "alice", assumeBody(role("deployer"), "s1", "SerialNumber", "arn:zt:iam::"+acct+":mfa/alice", "TokenCode", "123456"), 403, "AccessDenied", ""},
		{"reserved source identity", "alice", assumeBody(role("deployer"), "s1", "SourceIdentity", "aws:me"), 400, "ValidationError", ""},
		{"reserved tag", "alice", assumeBody(role("deployer"), "s1", "Tags.member.1.Key", "aws:x", "Tags.member.1.Value", "1"), 400, "InvalidParameterValue", ""},
		{"tag list with a gap", "alice", assumeBody(role("deployer"), "s1", "Tags.member.2.Key", "x", "Tags.member.2.Value", "1"), 400, "ValidationError", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, sec, token := w.alice.key, w.alice.secret, ""
			switch tc.who {
			case "bob":
				key, sec = w.bob.key, w.bob.secret
			case "deployer":
				key, sec, token = dc.AccessKeyID, dc.SecretAccessKey, dc.SessionToken
			}
			n := len(w.mem.Records())
			rec := call(w.h, tc.body, key, sec, token)
			var e struct {
				Code    string `xml:"Error>Code"`
				Message string `xml:"Error>Message"`
			}
			if rec.Code != tc.status || xml.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Code != tc.code || (tc.message != "" && e.Message != tc.message) {
				t.Fatalf("%d %s\nwant %d %s %q", rec.Code, rec.Body, tc.status, tc.code, tc.message)
			}
			recs := w.mem.Records()[n:]
			if len(recs) != 1 || recs[0].ZTGate.Category == audit.CategoryIssued || recs[0].ErrorCode != tc.code {
				t.Fatalf("want one refusal in the audit log, got %+v", recs)
			}
		})
	}
}

func TestAssumeRoleGranted(t *testing.T) {
	w := newWorld(t)
	// bob has an identity policy for a role that trusts the account.
	w.assume(t, w.bob.key, w.bob.secret, "", assumeBody(role("account"), "s1"))
	// the right external id.
	w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("partner"), "s1", "ExternalId", "xyz-123"))

	// Chaining: deployer's session assumes "chain"; source identity and
	// transitive tags are carried on.
	d := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1",
		"SourceIdentity", "alice@example.com",
		"Tags.member.1.Key", "project", "Tags.member.1.Value", "apollo",
		"Tags.member.2.Key", "cost", "Tags.member.2.Value", "42",
		"TransitiveTagKeys.member.1", "project"))
	if d.SourceIdentity != "alice@example.com" {
		t.Fatalf("source identity: %+v", d)
	}
	dc := d.Credentials
	c := w.assume(t, dc.AccessKeyID, dc.SecretAccessKey, dc.SessionToken, assumeBody(role("chain"), "s2"))
	if c.SourceIdentity != "alice@example.com" || c.User.Arn != "arn:zt:sts::"+acct+":assumed-role/chain/s2" {
		t.Fatalf("chained: %+v", c)
	}
	// Overriding a transitive tag from the calling session is refused.
	rec := call(w.h, assumeBody(role("chain"), "s3", "Tags.member.1.Key", "PROJECT", "Tags.member.1.Value", "x"), dc.AccessKeyID, dc.SecretAccessKey, dc.SessionToken)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "conflicts with a transitive tag key from the calling session") {
		t.Fatalf("override: %d %s", rec.Code, rec.Body)
	}
	// Changing the source identity is refused.
	rec = call(w.h, assumeBody(role("chain"), "s3", "SourceIdentity", "mallory"), dc.AccessKeyID, dc.SecretAccessKey, dc.SessionToken)
	if rec.Code != 403 {
		t.Fatalf("source identity change: %d %s", rec.Code, rec.Body)
	}
	// A session policy and a managed session policy are accepted.
	w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s4",
		"Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`,
		"PolicyArns.member.1.arn", "arn:zt:iam::"+acct+":policy/ReadOnly"))
}

func TestAssumeRoleSessionPoliciesNarrow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.dir.PutPolicy(ctx, iam.HolderRole, "deployer", "all-iam", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := w.policies.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	wide := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "wide"))
	narrow := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "narrow",
		"Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`))
	managed := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "managed",
		"PolicyArns.member.1.arn", "arn:zt:iam::"+acct+":policy/ReadOnly"))
	decide := func(a assumed, action string) bool {
		t.Helper()
		r := httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(callerBody))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		signToken(r, callerBody, a.Credentials.AccessKeyID, a.Credentials.SecretAccessKey, a.Credentials.SessionToken, "us-east-1", "sts")
		c, err := w.h.authn.Authenticate(r, []byte(callerBody))
		if err != nil {
			t.Fatal(err)
		}
		if c.Context.Keys() == nil {
			t.Fatal("no context")
		}
		d := c.Decide(w.policies.Snapshot(), action, "arn:zt:iam::"+acct+":user/bob", "")
		return d.Effect == authz.Allowed
	}
	for _, tc := range []struct {
		a      assumed
		action string
		want   bool
	}{
		{wide, "iam:CreateUser", true},
		{wide, "iam:GetUser", true},
		{narrow, "iam:CreateUser", false},
		{narrow, "iam:GetUser", true},
		{managed, "iam:CreateUser", false},
		{managed, "iam:GetUser", true},
	} {
		if got := decide(tc.a, tc.action); got != tc.want {
			t.Errorf("%s %s: allowed %v, want %v", tc.a.User.Arn, tc.action, got, tc.want)
		}
	}
}

func TestAssumeRoleRevoked(t *testing.T) {
	w := newWorld(t)
	a := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1"))
	ac := a.Credentials
	if rec := call(w.h, callerBody, ac.AccessKeyID, ac.SecretAccessKey, ac.SessionToken); rec.Code != 200 {
		t.Fatalf("before revocation: %d", rec.Code)
	}
	// Revoking the role's sessions refuses every session issued before.
	st := w.st
	if _, err := session.Revoke(context.Background(), st, role("deployer"), session.Revocation{Before: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := w.revoked.Load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	rec := call(w.h, callerBody, ac.AccessKeyID, ac.SecretAccessKey, ac.SessionToken)
	if rec.Code != 403 || errCode(t, rec) != "InvalidClientTokenId" {
		t.Fatalf("after revocation: %d %s", rec.Code, rec.Body)
	}
}

// TestSessionOfDeletedRole: a role session acts for the role it was
// issued for, by its unique id: once the role is deleted, its sessions
// are refused, and a new role under the same name does not revive them.
// The same holds for a user's GetSessionToken credentials.
func TestSessionOfDeletedRole(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1"))
	ac := a.Credentials
	if rec := call(w.h, callerBody, ac.AccessKeyID, ac.SecretAccessKey, ac.SessionToken); rec.Code != 200 {
		t.Fatalf("before deletion: %d %s", rec.Code, rec.Body)
	}
	r, err := w.dir.GetRole(ctx, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.dir.DeleteRole(ctx, "deployer"); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.policies.Load(ctx))
	refused := func(what string) {
		t.Helper()
		rec := call(w.h, callerBody, ac.AccessKeyID, ac.SecretAccessKey, ac.SessionToken)
		if rec.Code != 403 || errCode(t, rec) != "InvalidClientTokenId" {
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		}
	}
	refused("after the role was deleted")
	r.ID = ""
	_, err = w.dir.AddRole(ctx, r)
	must(err)
	must(w.policies.Load(ctx))
	refused("after a role of the same name was created")
}

// TestTrustOfDeletedUser: a trust policy names a user, not a name: once
// the user is deleted, its ARN in the trust policy becomes its unique id,
// and a new user created under the same name cannot assume the role. A
// trust policy naming a user that does not exist is refused.
func TestTrustOfDeletedUser(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := w.dir.AddRole(ctx, iam.Role{Name: "ghostly", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::` + acct + `:user/ghost"},"Action":"sts:AssumeRole"}]}`})
	if !errors.Is(err, iam.ErrMalformedPolicy) || !strings.Contains(err.Error(), "Invalid principal in policy") {
		t.Fatalf("a trust policy naming no one: %v", err)
	}
	_, err = w.dir.CreateUser(ctx, "dave")
	must(err)
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "daverole", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::` + acct + `:user/dave"},"Action":"sts:AssumeRole"}]}`})
	must(err)
	// The same ARN with an escaped slash, which JSON reads alike.
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "daverole2", TrustPolicy: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:zt:iam::` + acct + `:user\/dave"]},"Action":"sts:AssumeRole"}}`})
	must(err)
	// A path the user does not have names no one.
	_, err = w.dir.AddRole(ctx, iam.Role{Name: "pathrole", TrustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::` + acct + `:user/x/dave"},"Action":"sts:AssumeRole"}]}`})
	if !errors.Is(err, iam.ErrMalformedPolicy) {
		t.Fatalf("a trust policy naming the user under another path: %v", err)
	}
	old, err := w.dir.GetUser(ctx, "dave")
	must(err)
	must(w.dir.DeleteUser(ctx, "dave"))
	r, err := w.dir.GetRole(ctx, "daverole")
	must(err)
	if !strings.Contains(r.TrustPolicy, `"`+old.ID+`"`) || strings.Contains(r.TrustPolicy, "user/dave") {
		t.Fatalf("trust policy after the user was deleted: %s", r.TrustPolicy)
	}
	_, err = w.dir.CreateUser(ctx, "dave")
	must(err)
	k, sec, err := w.dir.CreateAccessKey(ctx, "dave")
	must(err)
	must(w.policies.Load(ctx))
	for _, name := range []string{"daverole", "daverole2"} {
		rec := call(w.h, assumeBody(role(name), "s1"), k.ID, sec.Reveal(), "")
		if rec.Code != 403 || errCode(t, rec) != "AccessDenied" {
			t.Fatalf("the new dave assumed the old dave's role %s: %d %s", name, rec.Code, rec.Body)
		}
	}
}

// The protected-API check gives later enforcement points the caller and
// the full policy context of a signed request.
func TestCallerContext(t *testing.T) {
	w := newWorld(t)
	a := w.assume(t, w.alice.key, w.alice.secret, "", assumeBody(role("deployer"), "s1",
		"SourceIdentity", "alice@example.com", "Tags.member.1.Key", "project", "Tags.member.1.Value", "apollo"))
	r := httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(callerBody))
	r.RemoteAddr = "198.51.100.7:40000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("User-Agent", "aws-cli/1.0")
	signToken(r, callerBody, a.Credentials.AccessKeyID, a.Credentials.SecretAccessKey, a.Credentials.SessionToken, "eu-west-1", "sts")
	c, err := w.h.authn.Authenticate(r, []byte(callerBody))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"aws:SourceIp":               "198.51.100.7",
		"aws:SecureTransport":        "false",
		"aws:TokenIssueTime":         now.Format(time.RFC3339),
		"aws:MultiFactorAuthPresent": "false",
		"aws:PrincipalTag/team":      "blue",   // the role's tag
		"aws:PrincipalTag/project":   "apollo", // the session's tag
		"aws:SourceIdentity":         "alice@example.com",
		"aws:PrincipalArn":           role("deployer"), // a session is known by its role, as on AWS
		"aws:PrincipalAccount":       acct,
		"aws:userid":                 a.User.AssumedRoleID,
		"aws:RequestedRegion":        "eu-west-1",
		"aws:UserAgent":              "aws-cli/1.0",
		"aws:CurrentTime":            now.Format(time.RFC3339),
	}
	for k, v := range want {
		got, ok := c.Context.Lookup(k)
		if !ok || got.Len() != 1 || got.At(0) != v {
			t.Errorf("%s = %v (%v), want %q", k, got, ok, v)
		}
	}
	if c.Principal.Kind != authz.RoleSession || c.Principal.RoleARN != role("deployer") {
		t.Fatalf("principal: %+v", c.Principal)
	}
	id := c.Identity()
	if id.Type != "AssumedRole" || id.SessionContext == nil || id.SessionContext.SessionIssuer == nil ||
		id.SessionContext.SessionIssuer.ARN != role("deployer") || id.SessionContext.SourceIdentity != "alice@example.com" {
		t.Fatalf("audit identity: %+v", id)
	}

	// A long-term key: no token keys, the user's identity.
	r = httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(callerBody))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sign(r, callerBody, w.alice.key, w.alice.secret, "us-east-1", "sts")
	c, err = w.h.authn.Authenticate(r, []byte(callerBody))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Context.Lookup("aws:TokenIssueTime"); ok {
		t.Error("aws:TokenIssueTime set for a long-term key")
	}
	if v, _ := c.Context.Lookup("aws:username"); v.At(0) != "alice" {
		t.Errorf("aws:username = %v", v)
	}
}
