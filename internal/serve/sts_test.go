package serve

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsEnv is the environment for AWS clients: nothing from the caller's
// AWS setup, no instance-metadata lookups, no configuration file.
func awsEnv(credFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_SHARED_CREDENTIALS_FILE="+credFile)
}

// readCredentials reads the profile's key id and secret.
func readCredentials(t *testing.T, path string) (key, secret string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "[ztgate]" {
		t.Fatalf("credentials file:\n%s", b)
	}
	key, _ = strings.CutPrefix(lines[1], "aws_access_key_id = ")
	secret, _ = strings.CutPrefix(lines[2], "aws_secret_access_key = ")
	if len(key) != 20 || !strings.HasPrefix(key, "AKIA") || len(secret) != 40 {
		t.Fatalf("credentials file:\n%s", b)
	}
	return key, secret
}

// TestServeDevSTS runs the real AWS CLI and curl against a development
// node: the administrator bootstrapped by --dev calls GetCallerIdentity,
// a wrong secret is refused and both are on the audit record.
func TestServeDevSTS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, dir, "--dev")
	p.waitReady(true, 10*time.Second)
	credFile := filepath.Join(dir, "admin.credentials")
	if out := p.stdout.String(); !strings.Contains(out, "AWS_SHARED_CREDENTIALS_FILE="+credFile+" AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true aws --profile ztgate --region us-east-1 --endpoint-url http://"+p.addr+" sts get-caller-identity") {
		t.Fatalf("stdout does not say how to call STS:\n%s", out)
	}
	fi, err := os.Stat(credFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	key, secret := readCredentials(t, credFile)
	before, _ := os.ReadFile(credFile)
	wrongFile := filepath.Join(t.TempDir(), "wrong.credentials")
	wrong := strings.Replace(string(before), secret, strings.Repeat("x", 40), 1)
	if err := os.WriteFile(wrongFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	const arn = "arn:zt:iam::000000000000:user/admin"
	var tempKey, tempSecret, tempToken string
	url := "http://" + p.addr

	t.Run("aws", func(t *testing.T) {
		aws, err := exec.LookPath("aws")
		if err != nil {
			if os.Getenv("ZTGATE_REQUIRE_AWSCLI") == "1" {
				t.Fatal("the AWS CLI is not on PATH (Debian package awscli) and ZTGATE_REQUIRE_AWSCLI=1")
			}
			t.Skip("the AWS CLI is not on PATH (Debian package awscli); set ZTGATE_REQUIRE_AWSCLI=1 to make this a failure")
		}
		run := func(creds string) ([]byte, []byte, error) {
			cmd := exec.Command(aws, "--profile", "ztgate", "--region", "us-east-1", "--endpoint-url", url, "sts", "get-caller-identity", "--output", "json")
			cmd.Env = awsEnv(creds)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			return stdout.Bytes(), stderr.Bytes(), err
		}
		out, errOut, err := run(credFile)
		if err != nil {
			t.Fatalf("aws sts get-caller-identity: %v\n%s%s", err, out, errOut)
		}
		var id struct{ UserId, Account, Arn string }
		if err := json.Unmarshal(out, &id); err != nil || id.Arn != arn || id.Account != "000000000000" || !strings.HasPrefix(id.UserId, "AIDA") || len(id.UserId) != 20 {
			t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
		}
		out, errOut, err = run(wrongFile)
		if err == nil || !strings.Contains(string(errOut), "SignatureDoesNotMatch") {
			t.Fatalf("wrong secret: %v\n%s%s", err, out, errOut)
		}

		// Temporary credentials from GetSessionToken act as the user.
		cmd := exec.Command(aws, "--profile", "ztgate", "--region", "us-east-1", "--endpoint-url", url, "sts", "get-session-token", "--duration-seconds", "900", "--output", "json")
		cmd.Env = awsEnv(credFile)
		out, err = cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws sts get-session-token: %v\n%s", err, out)
		}
		var st struct {
			Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		}
		if err := json.Unmarshal(out, &st); err != nil || !strings.HasPrefix(st.Credentials.AccessKeyId, "ASIA") ||
			st.Credentials.SecretAccessKey == "" || st.Credentials.SessionToken == "" {
			t.Fatalf("aws sts get-session-token: %v\n%s", err, out)
		}
		if exp, err := time.Parse(time.RFC3339, st.Credentials.Expiration); err != nil || time.Until(exp) > 15*time.Minute || time.Until(exp) < 10*time.Minute {
			t.Fatalf("expiration %q: %v", st.Credentials.Expiration, err)
		}
		tempKey, tempSecret, tempToken = st.Credentials.AccessKeyId, st.Credentials.SecretAccessKey, st.Credentials.SessionToken
		cmd = exec.Command(aws, "--region", "us-east-1", "--endpoint-url", url, "sts", "get-caller-identity", "--output", "json")
		cmd.Env = append(awsEnv(filepath.Join(t.TempDir(), "none")), "AWS_ACCESS_KEY_ID="+tempKey,
			"AWS_SECRET_ACCESS_KEY="+tempSecret, "AWS_SESSION_TOKEN="+tempToken)
		out, err = cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws sts get-caller-identity with temporary credentials: %v\n%s", err, out)
		}
		var tid struct{ UserId, Account, Arn string }
		if err := json.Unmarshal(out, &tid); err != nil || tid != id {
			t.Fatalf("aws sts get-caller-identity with temporary credentials: %v\n%s, want %+v", err, out, id)
		}
	})

	t.Run("curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("curl is not on PATH")
		}
		run := func(secret string) (string, string) {
			out, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:sts", "--user", key+":"+secret,
				"-H", "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
				"--data", "Action=GetCallerIdentity&Version=2011-06-15", url+"/").CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			i := strings.LastIndexByte(string(out), '\n')
			return string(out[:i]), string(out[i+1:])
		}
		if body, code := run(secret); code != "200" || !strings.Contains(body, "<Arn>"+arn+"</Arn>") {
			t.Fatalf("curl: %s %s", code, body)
		}
		if body, code := run(strings.Repeat("x", 40)); code != "403" || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
			t.Fatalf("curl with a wrong secret: %s %s", code, body)
		}
	})

	// The administrator is made once: a restart keeps the file and the key.
	p.stop()
	p = start(t, dir, "--dev")
	p.waitReady(true, 10*time.Second)
	if after, _ := os.ReadFile(credFile); !bytes.Equal(before, after) {
		t.Fatal("the credentials file changed on restart")
	}
	p.stop()

	out, err := exec.Command(binary, "audit", "query", "--data-dir", dir, "--format", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("audit query: %v\n%s", err, out)
	}
	if strings.Contains(string(out), secret) {
		t.Fatal("the secret is in the audit log")
	}
	if tempKey != "" && (strings.Contains(string(out), tempSecret) || strings.Contains(string(out), tempToken)) {
		t.Fatal("a temporary secret or session token is in the audit log")
	}
	var issued, tempCalls int
	var allowed, failed int
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			EventSource, EventName, ErrorCode string
			UserIdentity                      struct{ ARN, AccessKeyID string }
			ZTGate                            struct{ Category, Decision string } `json:"ztgate"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			continue // not a record
		}
		if tempKey != "" && r.EventSource == "sts.ztgate" && r.UserIdentity.ARN == arn {
			switch {
			case r.EventName == "GetSessionToken" && r.ZTGate.Category == "credentialIssued" && r.UserIdentity.AccessKeyID == key:
				issued++
			case r.EventName == "GetCallerIdentity" && r.ZTGate.Category == "decision" && r.UserIdentity.AccessKeyID == tempKey:
				tempCalls++
			}
		}
		if r.EventSource != "sts.ztgate" || r.EventName != "GetCallerIdentity" || r.UserIdentity.AccessKeyID != key {
			continue
		}
		switch {
		case r.ZTGate.Category == "decision" && r.ZTGate.Decision == "allowed" && r.UserIdentity.ARN == arn:
			allowed++
		case r.ZTGate.Category == "authenticationFailure" && r.ErrorCode == "SignatureDoesNotMatch":
			failed++
		}
	}
	if allowed == 0 || failed == 0 {
		t.Fatalf("audit: %d allowed calls, %d signature failures\n%s", allowed, failed, out)
	}
	if tempKey != "" && (issued != 1 || tempCalls != 1) {
		t.Fatalf("audit: %d GetSessionToken issues, %d calls with temporary credentials, want 1 and 1\n%s", issued, tempCalls, out)
	}
	if _, err := exec.LookPath("aws"); err == nil {
		if _, err := exec.LookPath("curl"); err == nil && (allowed != 2 || failed != 2) {
			t.Fatalf("audit: %d allowed calls, %d signature failures, want 2 and 2\n%s", allowed, failed, out)
		}
	}
}
