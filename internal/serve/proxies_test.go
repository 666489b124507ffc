package serve

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// forwardedFor adds X-Forwarded-For to every request, as a proxy in
// front of the node would.
type forwardedFor string

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if f != "" {
		r.Header.Set("X-Forwarded-For", string(f))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestTrustedProxies: behind a proxy named in gateway.trusted_proxies,
// the STS/IAM API decides on the client the proxy names in
// X-Forwarded-For (aws:SourceIp), the audit log records that client, and
// device enrollment is rate-limited per client rather than per proxy. A
// node that does not trust the peer ignores the header for all three.
func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies string
		trusted bool
	}{
		{"trusted", "127.0.0.1", true},
		{"not trusted", "10.9.9.9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := filepath.Join(t.TempDir(), "ztgate.yaml")
			if err := os.WriteFile(cfg, []byte("gateway:\n  trusted_proxies: \""+tc.proxies+"\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := start(t, dir, "--dev", "--config", cfg)
			p.waitReady(true, 10*time.Second)
			base := "http://" + p.addr
			ctx := context.Background()
			adminKey, adminSecret := readCredentials(t, filepath.Join(dir, adminCredentials))
			admin := newSDKClients(base, staticCredentials(adminKey, adminSecret, ""))

			// A user who may list users only from 198.51.100.0/24.
			if _, err := admin.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("netuser")}); err != nil {
				t.Fatal(err)
			}
			k, err := admin.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("netuser")})
			if err != nil {
				t.Fatal(err)
			}
			policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*",` +
				`"Condition":{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}}]}`
			if _, err := admin.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("netuser"),
				PolicyName: aws.String("office"), PolicyDocument: aws.String(policy)}); err != nil {
				t.Fatal(err)
			}
			listFrom := func(client string) error {
				c := iam.NewFromConfig(aws.Config{
					Region:           "us-east-1",
					Credentials:      staticCredentials(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), ""),
					RetryMaxAttempts: 1,
					HTTPClient:       &http.Client{Transport: forwardedFor(client)},
				}, func(o *iam.Options) { o.BaseEndpoint = aws.String(base) })
				_, err := c.ListUsers(ctx, &iam.ListUsersInput{})
				return err
			}
			err = listFrom("198.51.100.7")
			if tc.trusted && err != nil {
				t.Errorf("from 198.51.100.7 through the trusted proxy: %v", err)
			}
			if !tc.trusted && apiErrorCode(err) != "AccessDenied" {
				t.Errorf("X-Forwarded-For from a peer that is not trusted was believed: %v", err)
			}
			for _, client := range []string{"203.0.113.9", "", "198.51.100.7, 203.0.113.9"} {
				if err := listFrom(client); apiErrorCode(err) != "AccessDenied" {
					t.Errorf("from %q: %v, want AccessDenied", client, err)
				}
			}

			// The audit log names the client (or, untrusted, the peer).
			want := "127.0.0.1"
			if tc.trusted {
				want = "198.51.100.7"
			}
			found := false
			for _, r := range auditRecords(t, dir) {
				if r.EventName == "ListUsers" && r.ErrorCode == "" {
					found = found || r.SourceIPAddress == want
					if r.SourceIPAddress != want {
						t.Errorf("allowed ListUsers recorded from %q, want %q", r.SourceIPAddress, want)
					}
				}
			}
			if found != tc.trusted {
				t.Errorf("allowed ListUsers from %s recorded: %v, want %v", want, found, tc.trusted)
			}

			// Enrollment attempts are limited per client.
			enroll := func(client string) int {
				req, _ := http.NewRequest("POST", base+"/.well-known/ztgate/device/enroll", strings.NewReader("{}"))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", client)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for range enrollPerMinute {
				if code := enroll("192.0.2.1"); code == http.StatusTooManyRequests {
					t.Fatal("limited before the limit")
				}
			}
			if code := enroll("192.0.2.1"); code != http.StatusTooManyRequests {
				t.Errorf("attempt %d from one client: %d, want 429", enrollPerMinute+1, code)
			}
			if code := enroll("192.0.2.2"); (code == http.StatusTooManyRequests) == tc.trusted {
				t.Errorf("another client behind the proxy: %d (trusted proxy: %v)", code, tc.trusted)
			}
		})
	}
}
