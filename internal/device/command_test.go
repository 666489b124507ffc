package device

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/ztgate/ztgate/internal/testkit"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// runCommand runs "ztgate device ARGS..." with stdin and returns its
// output.
func runCommand(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := Command()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestEnrollAndPostureCommands(t *testing.T) {
	if _, err := CollectLinux(); err != nil {
		t.Skipf("this host's posture cannot be collected: %v", err)
	}
	// The server runs on the real clock: the command signs with it.
	clock := testkit.NewClock(time.Now())
	n := newNode(t, openSQLite(t, filepath.Join(t.TempDir(), "z.db"), "t"), newKEK(t), clock)
	mem := &audit.Memory{}
	srv := n.server(t, mem)
	tok, _ := n.token(t)
	dir := filepath.Join(t.TempDir(), "device")

	out, err := runCommand(t, tok+"\n", "enroll", "--server", srv.URL, "--ca-file", caFile(t, srv), "--token", "-", "--out", dir)
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if strings.Contains(out, tok) {
		t.Error("enroll prints the token")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v", fi.Mode(), err)
	}
	for _, f := range []string{KeyFile, CertFile, StateFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", f, fi.Mode(), err)
		}
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, CertFile))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	svid, _, err := pki.ParseSVIDPEM(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var st deviceState
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if err := json.Unmarshal(b, &st); err != nil || st.Server != srv.URL || st.SPIFFEID != svid.ID.String() || !strings.Contains(out, st.DeviceID) {
		t.Fatalf("state %s, %v; output %q", b, err, out)
	}

	// Enrolling over an enrolled device needs --force; the token is
	// spent anyway.
	if _, err := runCommand(t, "", "enroll", "--server", srv.URL, "--ca-file", caFile(t, srv), "--token", tok, "--out", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("enroll over an enrolled device: %v", err)
	}
	t.Setenv(EnvToken, tok)
	_, err = runCommand(t, "", "enroll", "--server", srv.URL, "--ca-file", caFile(t, srv), "--out", dir, "--force")
	if err == nil || !strings.Contains(err.Error(), "enrollment token already used or unknown") {
		t.Errorf("enroll with a used token: %v", err)
	}

	out, err = runCommand(t, "", "posture", "--dir", dir) // the CA enroll trusted, kept in the directory
	if err != nil {
		t.Fatalf("posture: %v\n%s", err, out)
	}
	d, ok := n.reg.Lookup(st.DeviceID)
	if !ok || d.Posture == nil || d.Platform != PlatformLinux || !strings.Contains(out, "accepted") {
		t.Fatalf("device after posture: %+v; output %q", d, out)
	}
	out, err = runCommand(t, "", "posture", "--dir", dir, "--dry-run")
	var rep Report
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.OS != PlatformLinux {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
}

// TestAdminCommands runs the administrator's commands against the admin
// API on a control socket, as a running node would serve it.
func TestAdminCommands(t *testing.T) {
	n := newEnv(t)
	dataDir, err := os.MkdirTemp("", "ztd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })

	// No node yet: said plainly.
	if _, err := runCommand(t, "", "list", "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "no running node") {
		t.Fatalf("list without a node: %v", err)
	}

	l, err := net.Listen("unix", filepath.Join(dataDir, "ztgate.sock"))
	if err != nil {
		t.Fatal(err)
	}
	mem := &audit.Memory{}
	srv := &http.Server{Handler: NewAdminHandler(AdminConfig{Registry: n.reg, Audit: mem})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	out, err := runCommand(t, "", "token", "create", "--data-dir", dataDir, "--name", "kiosk 7", "--group", "kiosks", "--ttl", "1h")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	var created TokenCreated
	if err := json.Unmarshal([]byte(out), &created); err != nil || !wellFormedToken(created.Token) || created.Enrollment.Name != "kiosk 7" {
		t.Fatalf("token create printed %s", out)
	}
	if _, err := runCommand(t, "", "token", "create", "--data-dir", dataDir, "--name", "x", "--ttl", "9999h"); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("a token for too long: %v", err)
	}
	out, err = runCommand(t, "", "token", "list", "--data-dir", dataDir)
	if err != nil || strings.Contains(out, created.Token) || !strings.Contains(out, created.Enrollment.ID) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	e, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: created.Token, CSR: newCSR(t, newP256(t))})
	if err != nil {
		t.Fatal(err)
	}
	id := e.Device.ID
	if out, err = runCommand(t, "", "list", "--data-dir", dataDir); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err = runCommand(t, "", "revoke", id, "--reason", "broken screen", "--data-dir", dataDir); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	var d Device
	out, err = runCommand(t, "", "show", id, "--data-dir", dataDir)
	if err != nil || json.Unmarshal([]byte(out), &d) != nil || !d.Revoked || d.RevokedReason != "broken screen" {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := runCommand(t, "", "show", "dev-aaaaaaaaaaaaaaaa", "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("show unknown: %v", err)
	}
	if out, err = runCommand(t, "", "token", "revoke", created.Enrollment.ID, "--data-dir", dataDir); err != nil {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	if n := len(mem.Records()); n != 4 { // create, refused create, revoke device, revoke token
		t.Errorf("%d audit records", n)
	}
	noSecrets(t, mem, created.Token)
}
