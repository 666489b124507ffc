package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes "ztgate policy ARGS" and returns its output and exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := Command()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	var exit *ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.Code
	case err != nil:
		t.Fatalf("policy %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`), 0o644)
	os.WriteFile(bad, []byte("{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Resource\": \"*\"}\n}\n"), 0o644)
	if out, _, code := run(t, "", "validate", good); code != 0 || out != "" {
		t.Fatalf("clean file: exit %d, %q", code, out)
	}
	out, _, code := run(t, "", "validate", good, bad)
	if code != 1 || !strings.HasPrefix(out, bad+":3:16: Policy statement must contain actions.") {
		t.Fatalf("file with a problem: exit %d, %q", code, out)
	}
	if _, errOut, code := run(t, "", "validate", filepath.Join(dir, "missing.json")); code != 2 || !strings.Contains(errOut, "missing.json") {
		t.Fatalf("unreadable file: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "", "validate", "--kind", "nonsense", good); code != 2 {
		t.Fatalf("bad --kind: exit %d", code)
	}
	// The same identity policy is wrong as a resource policy: no Principal.
	if out, _, code := run(t, "", "validate", "--kind", "resource", good); code != 1 || !strings.Contains(out, "Principal") {
		t.Fatalf("--kind resource: exit %d, %q", code, out)
	}
	// A condition that can never match, which AWS accepts: a warning, from
	// standard input.
	never := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"01T"}}}}`
	if out, _, code := run(t, never, "validate", "-"); code != 0 || !strings.HasPrefix(out, "-:1:") || !strings.Contains(out, "warning: The condition never matches.") {
		t.Fatalf("a condition that never matches: exit %d, %q", code, out)
	}
}

func TestSimulateCommand(t *testing.T) {
	req := `{"principal": "arn:zt:iam::111122223333:user/alice",
	  "action": "s3:GetObject", "resource": "arn:aws:s3:::bucket/alice/key",
	  "context": {"aws:SourceIp": "10.1.2.3", "aws:TagKeys": ["a", "b"]},
	  "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Sid": "Own", "Effect": "Allow", "Action": "s3:GetObject",
	     "Resource": "arn:aws:s3:::bucket/${aws:username}/*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}],
	  "permissionsBoundary": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
	  "guardrails": [[{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]]}`
	out, errOut, code := run(t, req, "simulate", "--request", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res SimResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// The granting statement, then the boundary's that let it through.
	if res.Decision != "allowed" || len(res.MatchedStatements) != 2 ||
		res.MatchedStatements[0] != (MatchedJSON{Policy: "identityPolicies[0]", Sid: "Own", Statement: 0, Effect: "Allow"}) ||
		res.MatchedStatements[1] != (MatchedJSON{Policy: "permissionsBoundary", Statement: 0, Effect: "Allow"}) {
		t.Fatalf("decision: %s", out)
	}
	// From a file; another user's folder is not theirs.
	f := filepath.Join(t.TempDir(), "req.json")
	os.WriteFile(f, []byte(strings.Replace(req, "bucket/alice/key", "bucket/bob/key", 1)), 0o644)
	out, _, code = run(t, "", "simulate", "--request", f)
	if code != 0 || !strings.Contains(out, `"decision": "implicitDeny"`) {
		t.Fatalf("bob's key: exit %d %s", code, out)
	}
	for name, bad := range map[string]string{
		"not JSON":          `{`,
		"no principal":      `{"action": "a:b", "resource": "*"}`,
		"unknown field":     `{"principal": "p", "action": "a:b", "resource": "*", "identityPolicy": []}`,
		"bad context value": `{"principal": "p", "action": "a:b", "resource": "*", "context": {"k": {"x": 1}}}`,
		"invalid policy":    `{"principal": "p", "action": "a:b", "resource": "*", "identityPolicies": [{"Statement": []}]}`,
	} {
		if _, errOut, code := run(t, bad, "simulate", "--request", "-"); code != 2 || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	if _, _, code := run(t, "", "simulate"); code != 2 {
		t.Errorf("no --request: exit %d", code)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	out, _, code := run(t, "", "test", "testdata/policytest/pass")
	if code != 0 || !strings.Contains(out, "policy tests: 4 passed, 0 failed") {
		t.Fatalf("passing tests: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "", "test", "testdata/policytest/fail")
	want := "--- FAIL: testdata/policytest/fail/wiki_test.yaml: plain HTTP is stopped by the guardrail\n" +
		"    decision: want explicitDeny, got implicitDeny (blocked by the guardrail policies)\n" +
		"policy tests: 3 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Fatalf("failing test: exit %d\n%s\nwant\n%s", code, out, want)
	}
	if _, _, code := run(t, "", "test", t.TempDir()); code != 2 {
		t.Fatalf("no tests: exit %d", code)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x_test.yaml"), []byte("tests:\n  - name: t\n    expect: maybe\n"), 0o644)
	out, _, code = run(t, "", "test", dir)
	if code != 1 || !strings.Contains(out, "expect") {
		t.Fatalf("bad expectation: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "x_test.yaml"), []byte("tests: [\n"), 0o644)
	if _, _, code := run(t, "", "test", dir); code != 2 {
		t.Fatalf("unparsable file: exit %d", code)
	}
}

// TestPolicyTestYAMLValues: values in a test file are read as written:
// an unquoted Version in an inline policy, context values YAML would take
// for a number or a date; null is refused, and an unknown field fails its
// test alone.
func TestPolicyTestYAMLValues(t *testing.T) {
	dir := t.TempDir()
	file := `policies:
  p:
    Version: 2012-10-17
    Statement:
      - Effect: Allow
        Action: http:GET
        Resource: "*"
        Condition:
          StringEquals: {zt:Code: "0x10"}
          DateGreaterThan: {zt:When: "2021-05-31T00:00:00Z"}
tests:
  - name: as written
    principal: arn:zt:iam::111122223333:user/alice
    action: http:GET
    resource: arn:zt:gateway::111122223333:route/app
    identityPolicies: [p]
    context: {zt:Code: 0x10, zt:When: 2021-06-01T00:00:00Z}
    expect: allowed
  - name: null
    principal: arn:zt:iam::111122223333:user/alice
    action: http:GET
    resource: arn:zt:gateway::111122223333:route/app
    identityPolicies: [p]
    context: {zt:Code: null}
    expect: implicitDeny
  - name: unknown field
    principal: arn:zt:iam::111122223333:user/alice
    action: http:GET
    resource: arn:zt:gateway::111122223333:route/app
    identityPolicy: [p]
    expect: implicitDeny
`
	os.WriteFile(filepath.Join(dir, "x_test.yaml"), []byte(file), 0o644)
	out, _, code := run(t, "", "test", dir)
	if code != 1 || !strings.Contains(out, "policy tests: 1 passed, 2 failed") ||
		!strings.Contains(out, "null is no value") || !strings.Contains(out, "identityPolicy") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestSimulateAnonymous: "anonymous" is a caller without credentials,
// allowed only by a resource policy naming everyone.
func TestSimulateAnonymous(t *testing.T) {
	const head = `{"principal": "anonymous", "action": "http:GET", "resource": "arn:zt:gateway::111122223333:route/app/x",
  "resourcePolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": `
	for principal, want := range map[string]string{`"*"`: `"allowed"`, `{"AWS": "111122223333"}`: `"implicitDeny"`} {
		out, _, code := run(t, head+principal+`, "Action": "http:GET", "Resource": "*"}]}}`, "simulate", "--request", "-")
		if code != 0 || !strings.Contains(out, `"decision": `+want) {
			t.Errorf("anonymous, resource policy naming %s: exit %d\n%s", principal, code, out)
		}
	}
}

// TestSimulateContextKeys: keys that differ only in case, a key given
// twice and a null value are refused, not decided one way or another.
func TestSimulateContextKeys(t *testing.T) {
	const head = `{"principal": "arn:zt:iam::111122223333:user/alice", "action": "http:GET", "resource": "*",
  "identityPolicies": [{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
    "Condition": {"StringEquals": {"zt:Team": "blue"}}}}], "context": `
	for ctx, want := range map[string]string{
		`{"zt:Team": "blue", "ZT:team": "red"}`: "differ only in case",
		`{"zt:Team": "blue", "zt:Team": "red"}`: "given twice",
		`{"zt:Team": null}`:                     "null is no value",
	} {
		_, errOut, code := run(t, head+ctx+"}", "simulate", "--request", "-")
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("context %s: exit %d, %q; want 2 and %q", ctx, code, errOut, want)
		}
	}
}
