package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevicePosture: a device enrolls with a one-time token, presents its
// certificate to a route whose policy requires posture reported within
// five seconds, is denied while it has reported nothing, is allowed once
// "ztgate device posture" has sent a signed report, denied when that
// report is stale, allowed after the next, and refused once revoked. A
// replayed token enrolls nothing.
func TestDevicePosture(t *testing.T) {
	curl := tlsTool(t, "curl")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "portal") }))
	defer up.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
iam: {account: "%[1]s"}
ca: {trust_domain: example.org}
gateway:
  tls: {listen: "127.0.0.1:0", names: "localhost, 127.0.0.1"}
  routes:
    - name: portal
      path_prefix: /portal
      upstreams: [%[2]s]
      auth: [mtls]
      policy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"SPIFFE": "spiffe://example.org/device/*"}, "Action": "http:GET", "Resource": "arn:zt:gateway::%[1]s:route/portal/*", "Condition": {"NumericLessThanEquals": {"zt:DevicePostureAge": "5"}, "Bool": {"zt:DeviceManaged": "true"}}}]}'
`, mtlsAccount, up.URL)
	file := filepath.Join(t.TempDir(), "ztgate.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--dev", "--config", file)
	p.waitReady(true, 20*time.Second)
	tlsAddr := strings.TrimSpace(string(mustRead(t, filepath.Join(dir, TLSAddrFile))))
	server := "https://" + tlsAddr
	roots := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(roots, []byte(ztgateCmd(t, "ca", "show", "--data-dir", dir, "--format", "pem")), 0o644); err != nil {
		t.Fatal(err)
	}

	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(ztgateCmd(t, "device", "token", "create", "--data-dir", dir, "--name", "laptop-1", "--managed", "--group", "laptops")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token: %v", err)
	}
	devDir := filepath.Join(t.TempDir(), "device")
	out := ztgateCmd(t, "device", "enroll", "--server", server, "--ca-file", roots, "--token", tok.Token, "--out", devDir)
	if !strings.Contains(out, "enrolled as") {
		t.Fatalf("enroll: %s", out)
	}
	// The token is spent.
	if b, err := exec.Command(binary, "device", "enroll", "--server", server, "--ca-file", roots, "--token", tok.Token, "--out", filepath.Join(t.TempDir(), "again")).CombinedOutput(); err == nil ||
		!strings.Contains(string(b), "already used or unknown") {
		t.Fatalf("replayed token: %v %s", err, b)
	}

	get := func() (int, string) {
		t.Helper()
		args := []string{"-sS", "--max-time", "20", "--cacert", roots, "--cert", filepath.Join(devDir, "device.crt"), "--key", filepath.Join(devDir, "device.key"),
			"-w", "\n%{http_code}", server + "/portal/home"}
		b, err := exec.Command(curl, args...).CombinedOutput()
		s := string(b)
		i := strings.LastIndexByte(s, '\n')
		if err != nil || i < 0 {
			t.Fatalf("curl: %v %s", err, s)
		}
		var code int
		fmt.Sscan(s[i+1:], &code)
		return code, s[:i]
	}
	// No posture yet: the policy's freshness condition cannot hold.
	if code, body := get(); code != 403 {
		t.Fatalf("before any report: %d %s", code, body)
	}
	out = ztgateCmd(t, "device", "posture", "--dir", devDir, "--server", server, "--ca-file", roots)
	if !strings.Contains(out, "accepted") {
		t.Fatalf("posture: %s", out)
	}
	if code, body := get(); code != 200 || body != "portal" {
		t.Fatalf("after a fresh report: %d %s", code, body)
	}
	// The report goes stale: denied again until the next one.
	time.Sleep(7 * time.Second)
	if code, body := get(); code != 403 {
		t.Fatalf("with stale posture: %d %s", code, body)
	}
	ztgateCmd(t, "device", "posture", "--dir", devDir, "--server", server, "--ca-file", roots)
	if code, body := get(); code != 200 {
		t.Fatalf("after reporting again: %d %s", code, body)
	}
	// Renewal: a new certificate (new key, new serial) for the same
	// device, which the gateway accepts at once.
	oldCert := string(mustRead(t, filepath.Join(devDir, "device.crt")))
	ztgateCmd(t, "device", "renew", "--dir", devDir, "--server", server, "--ca-file", roots, "--force")
	if string(mustRead(t, filepath.Join(devDir, "device.crt"))) == oldCert {
		t.Fatal("renew left the certificate as it was")
	}
	if code, body := get(); code != 200 {
		t.Fatalf("with the renewed certificate: %d %s", code, body)
	}

	// The decision's record names the device.
	text := auditText(t, dir)
	if !strings.Contains(text, `"eventName":"EnrollDevice"`) || !strings.Contains(text, `"eventName":"ReportDevicePosture"`) || !strings.Contains(text, `"type":"Device"`) {
		t.Error("the audit log lacks the enrollment, the report or a device decision")
	}
	if strings.Contains(text, tok.Token) {
		t.Error("the enrollment token reached the audit log")
	}

	// A second device reports through "ztgate agent run --device-dir".
	if err := json.Unmarshal([]byte(ztgateCmd(t, "device", "token", "create", "--data-dir", dir, "--name", "host-2", "--managed")), &tok); err != nil {
		t.Fatal(err)
	}
	dev2 := filepath.Join(t.TempDir(), "device2")
	ztgateCmd(t, "device", "enroll", "--server", server, "--ca-file", roots, "--token", tok.Token, "--out", dev2)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(bundle, []byte(ztgateCmd(t, "ca", "show", "--data-dir", dir, "--format", "bundle")), 0o644); err != nil {
		t.Fatal(err)
	}
	join := strings.TrimSpace(ztgateCmd(t, "agent", "token", "create", "--data-dir", dir, "--name", "host-2"))
	join = join[strings.LastIndexByte(join, '\n')+1:]
	agentDir := t.TempDir()
	agentCmd := exec.Command(binary, "agent", "run", "--server", server, "--trust-bundle", bundle, "--data-dir", agentDir,
		"--device-dir", dev2, "--device-ca-file", roots, "--posture-interval", "10s")
	agentCmd.Env = append(os.Environ(), "ZTGATE_JOIN_TOKEN="+join)
	agentLog := &syncBuffer{}
	agentCmd.Stdout, agentCmd.Stderr = agentLog, agentLog
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agentCmd.Process.Kill(); agentCmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(agentLog.String(), "device posture reported"); {
		if time.Now().After(deadline) {
			t.Fatalf("the agent reported no posture:\n%s", agentLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	dev2Get := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", roots, "--cert", filepath.Join(dev2, "device.crt"), "--key", filepath.Join(dev2, "device.key"),
		"-o", "/dev/null", "-w", "%{http_code}", server+"/portal/home")
	if b, err := dev2Get.CombinedOutput(); err != nil || string(b) != "200" {
		t.Fatalf("device reporting through the agent: %v %s", err, b)
	}

	var devs []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(ztgateCmd(t, "device", "list", "--data-dir", dir)), &devs); err != nil || len(devs) != 2 {
		t.Fatalf("device list: %v %+v", err, devs)
	}
	for _, d := range devs {
		if d.Name == "laptop-1" {
			ztgateCmd(t, "device", "revoke", "--data-dir", dir, d.ID, "--reason", "lost")
		}
	}
	args := []string{"-sS", "--max-time", "20", "--cacert", roots, "--cert", filepath.Join(devDir, "device.crt"), "--key", filepath.Join(devDir, "device.key"), server + "/portal/home"}
	if b, err := exec.Command(curl, args...).CombinedOutput(); err == nil {
		t.Fatalf("a revoked device got through: %s", b)
	}
}

// TestEnrollRateLimit: a client that keeps trying enrollment tokens is
// slowed down: past 30 attempts a minute it gets 429 without the
// attempt being made (no store read, no audit record).
func TestEnrollRateLimit(t *testing.T) {
	p, _ := startDevNode(t)
	codes := map[int]int{}
	for range enrollPerMinute + 5 {
		resp, err := http.Post("http://"+p.addr+"/.well-known/ztgate/device/enroll", "application/json",
			strings.NewReader(`{"token":"ztdev_guess","csr":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusTooManyRequests] != 5 || codes[http.StatusTooManyRequests]+codes[http.StatusBadRequest]+codes[http.StatusUnauthorized]+codes[http.StatusForbidden] != enrollPerMinute+5 {
		t.Fatalf("answers %v", codes)
	}
}
