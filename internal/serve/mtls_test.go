package serve

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/ztgate/ztgate/internal/gateway"
)

// tlsTool finds curl or openssl; the test command requires them
// (ZTGATE_REQUIRE_TLS_TOOLS=1), elsewhere their absence skips.
func tlsTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ZTGATE_REQUIRE_TLS_TOOLS") == "1" {
			t.Fatalf("%s is required (ZTGATE_REQUIRE_TLS_TOOLS=1) but not on PATH", name)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}

const mtlsAccount = "111122223333"

// mtlsNode starts a node with a TLS listener and the route billing, which
// accepts client certificates only and admits spiffe://example.org/web
// to GET by its resource policy.
func mtlsNode(t *testing.T, upstream string) (p *proc, dir, tlsAddr string) {
	t.Helper()
	dir = t.TempDir()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
iam: {account: "%s"}
ca: {trust_domain: example.org}
gateway:
  tls: {listen: "127.0.0.1:0", names: "localhost, 127.0.0.1"}
  routes:
    - name: billing
      path_prefix: /billing
      upstreams: [%s]
      auth: [mtls]
      policy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"SPIFFE": "spiffe://example.org/web"}, "Action": "http:GET", "Resource": "arn:zt:gateway::%s:route/billing/*"}]}'
`, mtlsAccount, upstream, mtlsAccount)
	file := filepath.Join(t.TempDir(), "ztgate.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p = start(t, dir, "--dev", "--config", file)
	p.waitReady(true, 20*time.Second)
	b, err := os.ReadFile(filepath.Join(dir, TLSAddrFile))
	if err != nil {
		t.Fatalf("no %s: %v", TLSAddrFile, err)
	}
	return p, dir, strings.TrimSpace(string(b))
}

// ztgateCmd runs the ztgate binary and returns its output.
func ztgateCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ztgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var serialRE = regexp.MustCompile(`serial ([0-9a-f]+)`)

// issueSVID makes a key and an X.509-SVID with "ztgate ca issue" and
// returns the directory holding them and the certificate's serial.
func issueSVID(t *testing.T, dir, id string) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "svid")
	text := ztgateCmd(t, "ca", "issue", "--data-dir", dir, "--spiffe-id", id, "--out", out)
	m := serialRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no serial in %q", text)
	}
	if fi, err := os.Stat(filepath.Join(out, "svid.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("svid.key: %v %v", fi, err)
	}
	return out, m[1]
}

func curlCert(t *testing.T, curl, svid, url string) (int, string, error) {
	t.Helper()
	args := []string{"-sS", "--max-time", "20", "--cacert", filepath.Join(svid, "bundle.pem"), "-w", "\n%{http_code}", url}
	if _, err := os.Stat(filepath.Join(svid, "svid.pem")); err == nil {
		args = append(args, "--cert", filepath.Join(svid, "svid.pem"), "--key", filepath.Join(svid, "svid.key"))
	}
	out, err := exec.Command(curl, args...).CombinedOutput()
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	if err != nil || i < 0 {
		return 0, s, fmt.Errorf("curl: %v: %s", err, s)
	}
	var code int
	fmt.Sscan(s[i+1:], &code)
	return code, s[:i], nil
}

// TestMTLSGateway: workloads reach an mtls route with X.509-SVIDs from
// ztgate's CA through curl and openssl s_client; the route's policy on
// the SPIFFE ID allows one and denies another; a revoked certificate is
// refused on a new connection and on the next request of an open one.
func TestMTLSGateway(t *testing.T) {
	curl, openssl := tlsTool(t, "curl"), tlsTool(t, "openssl")
	var seen struct{ sub, path string }
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.path = r.URL.Path
		seen.sub = ""
		if a := r.Header.Get(gateway.AssertionHeader); a != "" {
			// The assertion's claims, unverified here (the gateway's
			// tests verify it): whom the upstream is told about.
			if parts := strings.Split(a, "."); len(parts) == 3 {
				seen.sub = parts[1]
			}
		}
		io.WriteString(w, "invoices for "+r.Header.Get("X-Forwarded-User"))
	}))
	defer up.Close()
	p, dir, tlsAddr := mtlsNode(t, up.URL)
	base := "https://" + tlsAddr

	// The trust bundle, as go-spiffe reads it, names the trust domain.
	code, body := p.get(BundlePath)
	if code != 200 {
		t.Fatalf("bundle: %d %s", code, body)
	}
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString("example.org"), []byte(body))
	if err != nil || len(b.X509Authorities()) == 0 {
		t.Fatalf("bundle: %v", err)
	}
	if show := ztgateCmd(t, "ca", "show", "--data-dir", dir); !strings.Contains(show, "trust domain: example.org") {
		t.Fatalf("ca show: %s", show)
	}

	// Refused requests: another trust domain, a reserved-looking but
	// malformed ID, bad TTLs; nothing is issued.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--spiffe-id", "spiffe://other.org/web"}, "trust domain"},
		{[]string{"--spiffe-id", "spiffe://example.org/a/../b"}, "spiffe id"},
		{[]string{"--spiffe-id", "spiffe://example.org/web", "--ttl", "-5m"}, "ttl"},
		{[]string{"--spiffe-id", "spiffe://example.org/web", "--ttl", "1s"}, "shorter than 1m"},
		{[]string{"--spiffe-id", "spiffe://example.org/device/dev-aaaaaaaaaaaaaaaa"}, "enrollment and joining only"},
	} {
		args := append([]string{"ca", "issue", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "x")}, tc.args...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil || !strings.Contains(strings.ToLower(string(out)), tc.want) {
			t.Errorf("ztgate %v: %v %s", tc.args, err, out)
		}
	}

	web, webSerial := issueSVID(t, dir, "spiffe://example.org/web")
	batch, _ := issueSVID(t, dir, "spiffe://example.org/batch")
	// A directory already holding a key is not overwritten unasked.
	if out, err := exec.Command(binary, "ca", "issue", "--data-dir", dir, "--spiffe-id", "spiffe://example.org/web", "--out", web).CombinedOutput(); err == nil || !strings.Contains(string(out), "--force") {
		t.Errorf("ca issue into a directory holding a key: %v %s", err, out)
	}

	// curl with the allowed workload's SVID.
	code, body, err = curlCert(t, curl, web, base+"/billing/invoices")
	if err != nil || code != 200 || !strings.HasPrefix(body, "invoices for") || seen.path != "/billing/invoices" || seen.sub == "" {
		t.Fatalf("web: %d %q %v (upstream saw %+v)", code, body, err, seen)
	}
	// Another workload: authenticated, denied by the policy.
	if code, body, err = curlCert(t, curl, batch, base+"/billing/invoices"); err != nil || code != 403 {
		t.Fatalf("batch: %d %q %v", code, body, err)
	}
	// No certificate: the route takes nothing else.
	noCert := t.TempDir()
	if err := os.WriteFile(filepath.Join(noCert, "bundle.pem"), mustRead(t, filepath.Join(web, "bundle.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body, err = curlCert(t, curl, noCert, base+"/billing/invoices"); err != nil || code != 401 {
		t.Fatalf("no certificate: %d %q %v", code, body, err)
	}

	// openssl s_client verifies the server against the bundle and
	// presents the SVID.
	cmd := exec.Command(openssl, "s_client", "-connect", tlsAddr, "-servername", "localhost", "-quiet",
		"-CAfile", filepath.Join(web, "bundle.pem"), "-cert", filepath.Join(web, "svid.pem"), "-key", filepath.Join(web, "svid.key"),
		"-verify_return_error")
	cmd.Stdin = strings.NewReader("GET /billing/statements HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HTTP/1.1 200") || !strings.Contains(string(out), "invoices for") {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}

	// openssl s_client with a workload the policy does not name.
	cmd = exec.Command(openssl, "s_client", "-connect", tlsAddr, "-servername", "localhost", "-quiet",
		"-CAfile", filepath.Join(batch, "bundle.pem"), "-cert", filepath.Join(batch, "svid.pem"), "-key", filepath.Join(batch, "svid.key"))
	cmd.Stdin = strings.NewReader("GET /billing/statements HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "HTTP/1.1 403") {
		t.Fatalf("openssl s_client as batch: %v\n%s", err, out)
	}

	// A Go client keeps one connection open across the revocation.
	cert, err := tls.LoadX509KeyPair(filepath.Join(web, "svid.pem"), filepath.Join(web, "svid.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustRead(t, filepath.Join(web, "bundle.pem")))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots}, MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	get := func() int {
		resp, err := client.Get(base + "/billing/invoices")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(); c != 200 {
		t.Fatalf("before revocation: %d", c)
	}
	if out := ztgateCmd(t, "ca", "revoke", "--data-dir", dir, "--serial", webSerial, "--reason", "keyCompromise"); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %s", out)
	}
	// The open connection's next request is refused.
	if c := get(); c != 401 {
		t.Fatalf("open connection after revocation: %d", c)
	}
	// A new connection does not get past the handshake.
	if code, body, err := curlCert(t, curl, web, base+"/billing/invoices"); err == nil {
		t.Fatalf("a revoked certificate was accepted: %d %q", code, body)
	}
	// Nor does openssl s_client: the handshake ends with an alert.
	cmd = exec.Command(openssl, "s_client", "-connect", tlsAddr, "-servername", "localhost", "-quiet",
		"-CAfile", filepath.Join(web, "bundle.pem"), "-cert", filepath.Join(web, "svid.pem"), "-key", filepath.Join(web, "svid.key"))
	cmd.Stdin = strings.NewReader("GET /billing/statements HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	if out, _ := cmd.CombinedOutput(); strings.Contains(string(out), "HTTP/1.1") || !strings.Contains(string(out), "alert") {
		t.Fatalf("openssl s_client with a revoked certificate:\n%s", out)
	}
	// The CRL lists it.
	code, body = p.get(CRLPath)
	crl, err := x509.ParseRevocationList([]byte(body))
	if code != 200 || err != nil {
		t.Fatalf("crl: %d %v", code, err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		listed = listed || fmt.Sprintf("%x", e.SerialNumber) == webSerial
	}
	if !listed {
		t.Errorf("the CRL does not list %s", webSerial)
	}

	// Issuance, decisions and the revocation are on the audit record,
	// without any private key.
	text := auditText(t, dir)
	if n := strings.Count(text, `"errorCode":"CertificateRefused"`); n != 5 {
		t.Errorf("%d refused issuances on record, want 5", n)
	}
	for _, want := range []string{`"eventName":"TLSHandshake"`, `"errorCode":"CertificateRejected"`, `"eventName":"IssueCertificate"`, `"eventName":"RevokeCertificate"`, `"arn":"spiffe://example.org/web"`, `"type":"Workload"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit log has no %s", want)
		}
	}
	key := mustRead(t, filepath.Join(web, "svid.key"))
	blk, _ := pem.Decode(key)
	if blk == nil || strings.Contains(text, string(key)) || strings.Contains(text, fmt.Sprintf("%x", blk.Bytes[len(blk.Bytes)-32:])) {
		t.Error("a private key reached the audit log")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
