package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ztgate/ztgate/internal/secret"
)

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"secretAccessKey":      true,
		"SecretAccessKey":      true,
		"sessionToken":         true,
		"X-Amz-Security-Token": true,
		"x-amz-security-token": true,
		"password":             true,
		"newPassword":          true,
		"privateKey":           true,
		"private_key":          true,
		"token":                true,
		"id_token":             true,
		"refresh_token":        true,
		"Cookie":               true,
		"Set-Cookie":           true,
		"Authorization":        true,
		"Proxy-Authorization":  true,
		"clientSecret":         true,
		"client_secret":        true,
		"X-Amz-Signature":      true,
		"api_key":              true,
		"code":                 true,
		"totp":                 true,
		"accessKeyId":          false,
		"AccessKeyId":          false,
		"userName":             false,
		"roleArn":              false,
		"path":                 false,
		"expiration":           false,
		"token_type":           false,
		"errorCode":            false,
		"serialNumber":         false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	type creds struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
	}
	in := map[string]any{
		"password":    "hunter2",
		"emptySecret": "",
		"credentials": map[string]any{"accessKeyId": "ASIAX", "secretAccessKey": "s3cr3t", "sessionToken": "tok", "expiration": "2026"},
		"headers":     http.Header{"Authorization": {"Bearer abc"}, "Accept": {"*/*"}},
		"query":       url.Values{"X-Amz-Signature": {"deadbeef"}, "list-type": {"2"}},
		"path":        "/x?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA%2F&y=1#frag",
		"raw":         "a=1&client_secret=zzz",
		"pem":         "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----",
		"auth":        "AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=ab",
		"typed":       creds{"AKIAT", "typedsecret"},
		"list":        []any{map[string]string{"token": "t1", "name": "n"}, "Basic dXNlcjpwYXNz"},
		"count":       3,
	}
	want := map[string]any{
		"password":    Redacted,
		"emptySecret": "",
		"credentials": map[string]any{"accessKeyId": "ASIAX", "secretAccessKey": Redacted, "sessionToken": Redacted, "expiration": "2026"},
		"headers":     map[string]any{"Authorization": Redacted, "Accept": []any{"*/*"}},
		"query":       map[string]any{"X-Amz-Signature": Redacted, "list-type": []any{"2"}},
		"path":        "/x?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&y=1#frag",
		"raw":         "a=1&client_secret=REDACTED",
		"pem":         Redacted,
		"auth":        Redacted,
		"typed":       map[string]any{"accessKeyId": "AKIAT", "secretAccessKey": Redacted},
		"list":        []any{map[string]any{"token": Redacted, "name": "n"}, Redacted},
		"count":       3,
	}
	before := len(in["credentials"].(map[string]any))
	got := Redact(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Redact:\n got %#v\nwant %#v", got, want)
	}
	if in["password"] != "hunter2" || in["credentials"].(map[string]any)["secretAccessKey"] != "s3cr3t" || len(in["credentials"].(map[string]any)) != before {
		t.Error("Redact changed its input")
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) is not nil")
	}
}

// TestNoSecrets builds records from realistic inputs full of secrets, as
// each component would, writes them, and looks for the secrets in every
// byte of the audit directory.
func TestNoSecrets(t *testing.T) {
	dir := t.TempDir()
	kek := testKEK(t)
	secrets := map[string]string{
		"secret access key":   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"session token":       "FwoGZXIvYXdzEBYaDHqa0AP1/mostlysecretsessiontokenvalue==",
		"session cookie":      "ztgate_session=MTcwMDAwMDAwMHxzZWNyZXRzZXNzaW9u",
		"sigv4 signature":     "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
		"presigned signature": "1d3ab1f0c0ffee5f80f77d5fa3beca038a248ff027d0445342fe2855ddc96317",
		"presigned token":     "IQoJb3JpZ2luX2VjEPresignedSessionToken",
		"password":            "correct horse battery staple",
		"totp code":           "492039",
		"oidc code":           "SplxlOBeZQQYbYS6WxSbIA",
		"client secret":       "oidc-client-secret-4f1e",
		"bearer token":        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
		"private key":         "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5ZQ9TRVKeyMaterial",
		"new access secret":   "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
		"typed secret":        "typed-struct-secret-value-0042",
		"api key":             "ak_live_51H8s0meApiKey",
	}
	s := func(k string) string { return secrets[k] }
	pemKey := "-----BEGIN EC PRIVATE KEY-----\n" + s("private key") + "\n-----END EC PRIVATE KEY-----\n"
	actor := Actor{
		Identity:   UserIdentity{Type: "IAMUser", ARN: "arn:zt:iam::123456789012:user/alice", AccountID: "123456789012", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", UserName: "alice"},
		SourceIP:   "198.51.100.4",
		UserAgent:  "aws-sdk-go-v2/1.30",
		AuthMethod: "sigv4",
	}
	stsResponse := map[string]any{
		"credentials": map[string]any{
			"accessKeyId":     "ASIAEXAMPLETEMPKEY01",
			"secretAccessKey": s("secret access key"),
			"sessionToken":    s("session token"),
			"expiration":      "2026-11-29T11:00:00Z",
		},
		"assumedRoleUser": map[string]any{"arn": "arn:zt:sts::123456789012:assumed-role/deployer/ci", "assumedRoleId": "AROA:ci"},
	}
	records := []*Record{
		IssuedEvent{
			Actor: actor, Source: SourceSTS, Name: "AssumeRole", RequestID: "r1",
			Resources:  []Resource{{ARN: "arn:zt:iam::123456789012:role/deployer", Type: "AWS::IAM::Role"}},
			Parameters: map[string]any{"roleArn": "arn:zt:iam::123456789012:role/deployer", "roleSessionName": "ci", "durationSeconds": 3600},
			Response:   stsResponse,
		}.Record(),
		DecisionEvent{
			Actor: actor, Source: SourceGateway, Name: "GET", Action: "http:GET", Decision: ExplicitDeny, RequestID: "r2",
			Parameters: map[string]any{
				"headers": http.Header{
					"Authorization":        {"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261129/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=" + s("sigv4 signature")},
					"Cookie":               {s("session cookie")},
					"X-Amz-Security-Token": {s("session token")},
					"User-Agent":           {"curl/8.5"},
				},
				"path": "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + s("presigned signature") + "&X-Amz-Security-Token=" + url.QueryEscape(s("presigned token")),
			},
		}.Record(),
		AuthFailureEvent{
			Actor: Actor{Identity: UserIdentity{UserName: "alice"}, SourceIP: "198.51.100.4"}, Source: SourceSignIn, Name: "ConsoleLogin", SignIn: true,
			Code: "InvalidPassword", Message: "the password or code is wrong",
			Parameters: map[string]any{"username": "alice", "password": s("password"), "totp": s("totp code")},
		}.Record(),
		AuthFailureEvent{
			Actor: actor, Source: SourceSignIn, Name: "OIDCCallback", Code: "InvalidGrant", Message: "the identity provider refused the code",
			Parameters: map[string]any{"query": "code=" + s("oidc code") + "&state=af0ifjsldkj", "client_secret": s("client secret"), "authorization": "Bearer " + s("bearer token")},
		}.Record(),
		IssuedEvent{
			Actor: actor, Source: SourcePKI, Name: "IssueCertificate",
			Parameters: map[string]any{"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----", "spiffeId": "spiffe://example.org/ci"},
			Response:   map[string]any{"serialNumber": "7f:3a:01", "privateKey": pemKey, "bundle": map[string]any{"key": pemKey}},
		}.Record(),
		AdminEvent{
			Actor: actor, Source: SourceIAM, Name: "CreateAccessKey",
			Parameters: map[string]any{"userName": "bob"},
			Response: map[string]any{
				"accessKey": map[string]any{"accessKeyId": "AKIANEWKEYEXAMPLE001", "secretAccessKey": s("new access secret"), "status": "Active"},
				"typed": struct {
					ID     string `json:"id"`
					Secret string `json:"clientSecret"`
				}{"app-1", s("typed secret")},
				"webhook": "https://hooks.example.com/x?api_key=" + s("api key"),
			},
		}.Record(),
		RevocationEvent{
			Source: SourceDetect, Name: "RevokeSession", ByService: true, Reason: "impossible travel finding f-123",
			Resources: []Resource{{ARN: "arn:zt:sts::123456789012:assumed-role/deployer/ci"}},
		}.Record(),
	}
	w := openTest(t, Options{Dir: dir, Node: "n1", KEK: kek})
	m := &Memory{}
	for _, r := range records {
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if err := m.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, verifyDir(t, dir))

	// The caller still has its secrets to send to its client.
	if stsResponse["credentials"].(map[string]any)["secretAccessKey"] != s("secret access key") {
		t.Error("Append redacted the caller's own map")
	}

	kekText, err := secret.EncodeKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	forms := func(v string) []string {
		return []string{v, url.QueryEscape(v), base64.StdEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v))}
	}
	var all []byte
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			all = append(all, b...)
		}
		return nil
	})
	for _, r := range m.Records() { // the fake holds what the writer writes
		b, _ := appendRecord(nil, &r)
		all = append(all, b...)
	}
	for what, v := range secrets {
		for _, f := range forms(v) {
			if bytes.Contains(all, []byte(f)) {
				t.Errorf("the %s appears in the audit directory", what)
			}
		}
	}
	if bytes.Contains(all, bytes.TrimSpace(kekText)) {
		t.Error("the key-encryption key appears in the audit directory")
	}
	for _, keep := range []string{"AKIAIOSFODNN7EXAMPLE", "ASIAEXAMPLETEMPKEY01", "AKIANEWKEYEXAMPLE001", "alice", "7f:3a:01", "af0ifjsldkj", "impossible travel"} {
		if !bytes.Contains(all, []byte(keep)) {
			t.Errorf("%q, which is not secret, is missing: redaction is too broad", keep)
		}
	}
	// The signing key is sealed: its private scalar is nowhere in the clear.
	k, err := loadOrCreateKey(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := k.priv.Bytes()
	for _, f := range []string{string(d), hex.EncodeToString(d), base64.StdEncoding.EncodeToString(d)} {
		if bytes.Contains(all, []byte(f)) {
			t.Error("the audit signing key is in the clear")
		}
	}
}
