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

	"github.com/ztgate/ztgate/internal/pgtest"
)

// awsCLI returns the AWS CLI, skipping the test without it unless
// ZTGATE_REQUIRE_AWSCLI=1.
func awsCLI(t *testing.T) string {
	t.Helper()
	aws, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("ZTGATE_REQUIRE_AWSCLI") == "1" {
			t.Fatal("the AWS CLI is not on PATH (Debian package awscli) and ZTGATE_REQUIRE_AWSCLI=1")
		}
		t.Skip("the AWS CLI is not on PATH (Debian package awscli); set ZTGATE_REQUIRE_AWSCLI=1 to make this a failure")
	}
	return aws
}

// sessionCreds are temporary credentials from get-session-token.
type sessionCreds struct{ AccessKeyId, SecretAccessKey, SessionToken string }

func getSessionToken(t *testing.T, aws, url, credFile string) sessionCreds {
	t.Helper()
	cmd := exec.Command(aws, "--profile", "ztgate", "--region", "us-east-1", "--endpoint-url", url, "sts", "get-session-token", "--duration-seconds", "900", "--output", "json")
	cmd.Env = awsEnv(credFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws sts get-session-token: %v\n%s", err, out)
	}
	var st struct{ Credentials sessionCreds }
	if err := json.Unmarshal(out, &st); err != nil || !strings.HasPrefix(st.Credentials.AccessKeyId, "ASIA") {
		t.Fatalf("aws sts get-session-token: %v\n%s", err, out)
	}
	return st.Credentials
}

// callerIdentity runs get-caller-identity with temporary credentials, or
// with the long-term profile when c is nil.
func callerIdentity(t *testing.T, aws, url, credFile string, c *sessionCreds) (string, error) {
	t.Helper()
	args := []string{"--region", "us-east-1", "--endpoint-url", url, "sts", "get-caller-identity", "--output", "json"}
	var env []string
	if c == nil {
		args = append([]string{"--profile", "ztgate"}, args...)
		env = awsEnv(credFile)
	} else {
		env = append(awsEnv(filepath.Join(t.TempDir(), "none")), "AWS_ACCESS_KEY_ID="+c.AccessKeyId,
			"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey, "AWS_SESSION_TOKEN="+c.SessionToken)
	}
	cmd := exec.Command(aws, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

func revokeSessions(t *testing.T, dir, principal string) {
	t.Helper()
	out, err := exec.Command(binary, "session", "revoke", "--data-dir", dir, "--principal", principal, "--reason", "test").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sessions of "+principal+" issued before ") || strings.Contains(string(out), "note:") {
		t.Fatalf("ztgate session revoke: %v\n%s", err, out)
	}
}

// TestServeRevokeSessions revokes the administrator's temporary
// credentials with "ztgate session revoke": the next request made with
// them is refused, while the long-term key and sessions issued afterwards
// keep working, and the revocation is on the audit record.
func TestServeRevokeSessions(t *testing.T) {
	aws := awsCLI(t)
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, dir, "--dev")
	p.waitReady(true, 10*time.Second)
	credFile := filepath.Join(dir, "admin.credentials")
	url := "http://" + p.addr
	const arn = "arn:zt:iam::000000000000:user/admin"

	temp := getSessionToken(t, aws, url, credFile)
	if out, err := callerIdentity(t, aws, url, credFile, &temp); err != nil || !strings.Contains(out, arn) {
		t.Fatalf("get-caller-identity with temporary credentials: %v\n%s", err, out)
	}
	time.Sleep(time.Second) // a session is dated to the second: the next one must be later
	revokeSessions(t, dir, arn)
	// A principal that does not exist is revoked all the same, with a note.
	if out, _ := exec.Command(binary, "session", "revoke", "--data-dir", dir, "--principal", "arn:zt:iam::000000000000:user/Admin").CombinedOutput(); !strings.Contains(string(out), "note: no user named Admin exists now") {
		t.Errorf("revoking a user that does not exist: %s", out)
	}
	if out, err := callerIdentity(t, aws, url, credFile, &temp); err == nil || !strings.Contains(out, "InvalidClientTokenId") {
		t.Fatalf("get-caller-identity with revoked credentials: %v\n%s", err, out)
	}
	if out, err := callerIdentity(t, aws, url, credFile, nil); err != nil || !strings.Contains(out, arn) {
		t.Fatalf("get-caller-identity with the long-term key: %v\n%s", err, out)
	}
	time.Sleep(time.Second)
	fresh := getSessionToken(t, aws, url, credFile)
	if out, err := callerIdentity(t, aws, url, credFile, &fresh); err != nil || !strings.Contains(out, arn) {
		t.Fatalf("get-caller-identity with credentials issued after the revocation: %v\n%s", err, out)
	}

	// The revocation survives a restart.
	p.stop()
	p = start(t, dir, "--dev")
	p.waitReady(true, 10*time.Second)
	url = "http://" + p.addr
	if out, err := callerIdentity(t, aws, url, credFile, &temp); err == nil || !strings.Contains(out, "InvalidClientTokenId") {
		t.Fatalf("revoked credentials after a restart: %v\n%s", err, out)
	}
	p.stop()

	out, err := exec.Command(binary, "audit", "query", "--data-dir", dir, "--format", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("audit query: %v\n%s", err, out)
	}
	var revoked bool
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			EventSource, EventName string
			UserIdentity           struct{ Type string }
			Resources              []struct{ ARN string }
			ZTGate                 struct{ Category string } `json:"ztgate"`
		}
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r.EventName == "RevokeSessions" && r.ZTGate.Category == "revocation" && r.UserIdentity.Type == "LocalUser" &&
			len(r.Resources) == 1 && r.Resources[0].ARN == arn {
			revoked = true
		}
	}
	if !revoked {
		t.Fatalf("no RevokeSessions record in the audit log:\n%s", out)
	}
}

// TestTwoNodeRevokeSessions: sessions revoked through node A are refused
// by node B, which shares A's PostgreSQL store, within a second.
func TestTwoNodeRevokeSessions(t *testing.T) {
	aws := awsCLI(t)
	c := pgtest.NewCluster(t)
	dsn := c.CreateDB(t, "ztgate")
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	sharedKEK(t, da, db)
	a := start(t, da, "--dev", "--config", pgConfig(t, da, dsn, "node-a"))
	a.waitReady(true, 10*time.Second)
	b := start(t, db, "--config", pgConfig(t, db, dsn, "node-b"))
	b.waitReady(true, 10*time.Second)
	credFile := filepath.Join(da, "admin.credentials")
	const arn = "arn:zt:iam::000000000000:user/admin"
	urlB := "http://" + b.addr

	temp := getSessionToken(t, aws, "http://"+a.addr, credFile)
	if out, err := callerIdentity(t, aws, urlB, credFile, &temp); err != nil || !strings.Contains(out, arn) {
		t.Fatalf("node B, temporary credentials from node A: %v\n%s", err, out)
	}
	revokeSessions(t, da, arn)
	revoked := time.Now()
	// curl starts in milliseconds where the AWS CLI takes most of a
	// second: it measures how soon node B refuses.
	if curl, err := exec.LookPath("curl"); err == nil {
		for {
			out, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:sts",
				"--user", temp.AccessKeyId+":"+temp.SecretAccessKey, "-H", "X-Amz-Security-Token: "+temp.SessionToken,
				"-H", "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
				"--data", "Action=GetCallerIdentity&Version=2011-06-15", urlB+"/").CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			if strings.HasSuffix(string(out), "\n403") && strings.Contains(string(out), "<Code>InvalidClientTokenId</Code>") {
				break
			}
			if !strings.HasSuffix(string(out), "\n200") {
				t.Fatalf("curl with temporary credentials: %s", out)
			}
			if d := time.Since(revoked); d > time.Second {
				t.Fatalf("node B still accepts revoked credentials %v after the revocation", d)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("node B refused the revoked credentials %v after the revocation", time.Since(revoked))
	}
	if out, err := callerIdentity(t, aws, urlB, credFile, &temp); err == nil || !strings.Contains(out, "InvalidClientTokenId") {
		t.Fatalf("node B, revoked credentials: %v\n%s", err, out)
	}
	if out, err := callerIdentity(t, aws, urlB, credFile, nil); err != nil || !strings.Contains(out, arn) {
		t.Fatalf("node B, long-term key: %v\n%s", err, out)
	}
	a.stop()
	b.stop()
}
