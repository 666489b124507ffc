package serve

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// demoClient sends requests for demo.localhost to the node, whatever the
// resolver says about *.localhost.
func demoClient(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// signedGet signs a GET to the demo app with v4 for "execute-api", as an
// API client of a gateway route would.
func signedGet(t *testing.T, c *http.Client, url string, creds aws.Credentials, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "" {
		const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA, "execute-api", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Added after signing: SigV4 lets a request carry headers it did not
	// sign, which is how a client would smuggle identity headers.
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header
}

// TestGatewayDevSigV4 puts SigV4 clients through the development demo
// route: the administrator reaches the app, which verifies the assertion
// the gateway signed; /admin is denied by the route's policy; a user
// without policies is denied; a role session allowed by its role's policy
// is served until the role's sessions are revoked; identity headers a
// client sends never reach the app.
func TestGatewayDevSigV4(t *testing.T) {
	p, credFile := startDevNode(t)
	if !strings.Contains(p.stdout.String(), "http://demo.localhost:") {
		t.Fatalf("the banner does not say where the demo app is:\n%s", p.stdout.String())
	}
	_, port, _ := net.SplitHostPort(p.addr)
	demo := "http://demo.localhost:" + port
	c := demoClient(p.addr)
	key, secret := readCredentials(t, credFile)
	adminCreds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}

	code, body, _ := signedGet(t, c, demo+"/api/whoami", adminCreds, nil)
	var who struct{ Subject, Method, Audience string }
	if code != 200 || json.Unmarshal([]byte(body), &who) != nil || who.Subject != e2eUserARN("admin") || who.Method != "sigv4" ||
		who.Audience != "arn:zt:gateway::"+e2eAccount+":route/demo" {
		t.Fatalf("admin's whoami: %d %s", code, body)
	}
	code, body, _ = signedGet(t, c, demo+"/admin", adminCreds, nil)
	if code != 403 || awsErrorCode(body) != "AccessDenied" {
		t.Fatalf("admin's /admin: %d %s", code, body)
	}
	code, _, _ = signedGet(t, c, demo+"/api/whoami", aws.Credentials{}, http.Header{"Accept": {"application/json"}})
	if code != 401 {
		t.Fatalf("unauthenticated: %d", code)
	}
	code, body, _ = signedGet(t, c, demo+"/api/whoami", aws.Credentials{AccessKeyID: key, SecretAccessKey: strings.Repeat("x", 40)}, nil)
	if code != 403 || awsErrorCode(body) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %d %s", code, body)
	}

	// Identity headers from the client are removed; the app sees only the
	// gateway's assertion.
	code, body, _ = signedGet(t, c, demo+"/", adminCreds, http.Header{
		"X-Ztgate-Assertion": {"forged"}, "X-Forwarded-User": {"root"}, "X-Remote-User": {"root"}, "Accept": {"text/html"},
	})
	if code != 200 || strings.Contains(body, "X-Forwarded-User") || strings.Contains(body, "X-Remote-User") || !strings.Contains(body, "X-Ztgate-Assertion") {
		t.Fatalf("headers reaching the app: %d %s", code, body)
	}

	// Signed with the identity headers (the SDK signs every header): the
	// signature holds, and the headers still never reach the app.
	req, _ := http.NewRequest("GET", demo+"/", nil)
	req.Header.Set("X-Forwarded-User", "root")
	req.Header.Set("X-Ztgate-Assertion", "forged")
	if err := v4.NewSigner().SignHTTP(context.Background(), adminCreds, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "x-forwarded-user") {
		t.Fatalf("the signer did not sign the header: %s", req.Header.Get("Authorization"))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(page), "X-Forwarded-User") {
		t.Fatalf("signed identity headers: %d %s", resp.StatusCode, page)
	}

	// A user without policies, and a role session whose role allows the
	// demo route.
	base := "http://" + p.addr
	admin := newSDKClients(base, staticCredentials(key, secret, ""))
	ctx := context.Background()
	bobKey, bobSecret := provisionAssumable(t, admin.iam, "bob", "viewer",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"http:GET","Resource":"arn:zt:gateway::`+e2eAccount+`:route/demo/*"}]}`)
	bobCreds := aws.Credentials{AccessKeyID: bobKey, SecretAccessKey: bobSecret}
	if code, body, _ = signedGet(t, c, demo+"/api/whoami", bobCreds, nil); code != 403 {
		t.Fatalf("bob without policies: %d %s", code, body)
	}
	bob := newSDKClients(base, staticCredentials(bobKey, bobSecret, ""))
	s := assumeWithSDK(t, bob.sts, "viewer", "s1", "")
	sessCreds := aws.Credentials{AccessKeyID: s.AccessKeyId, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken}
	code, body, _ = signedGet(t, c, demo+"/api/whoami", sessCreds, nil)
	if code != 200 || json.Unmarshal([]byte(body), &who) != nil || who.Subject != e2eSessionARN("viewer", "s1") {
		t.Fatalf("viewer session: %d %s", code, body)
	}
	// The viewer may only GET.
	req, _ = http.NewRequest("DELETE", demo+"/api/whoami", nil)
	if err := v4.NewSigner().SignHTTP(ctx, sessCreds, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("viewer DELETE: %v %v", resp, err)
	}

	// Revoking the role's sessions refuses the next request.
	out, err := exec.Command(binary, "session", "revoke", "--data-dir", filepath.Dir(credFile), "--principal", e2eRoleARN("viewer")).CombinedOutput()
	if err != nil {
		t.Fatalf("session revoke: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body, _ = signedGet(t, c, demo+"/api/whoami", sessCreds, nil)
		if code == 403 && awsErrorCode(body) == "InvalidClientTokenId" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked session is still served: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// curl --aws-sigv4, as people try it from the banner.
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--resolve", "demo.localhost:"+port+":127.0.0.1", "--aws-sigv4", "aws:amz:us-east-1:execute-api",
			"--user", key+":"+secret, demo+"/api/whoami").CombinedOutput()
		if err != nil || !strings.Contains(string(out), e2eUserARN("admin")) {
			t.Fatalf("curl --aws-sigv4 through the gateway: %v\n%s", err, out)
		}
	}
}
