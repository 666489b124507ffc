package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// runCmd runs "ztgate agent run ARGS" until the returned stop is called.
func runCmd(t *testing.T, args ...string) (stop func() error, logs *syncBuffer) {
	t.Helper()
	cmd := Command()
	logs = &syncBuffer{}
	cmd.SetOut(logs)
	cmd.SetErr(logs)
	cmd.SetArgs(append([]string{"run"}, args...))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("did not stop")
		}
	}
	t.Cleanup(func() { stop() })
	return stop, logs
}

// runErr runs "ztgate agent run ARGS", which must fail on its own.
func runErr(t *testing.T, args ...string) error {
	t.Helper()
	cmd := Command()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"run"}, args...))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run %v: %v (context: %v)", args, err, ctx.Err())
	}
	return err
}

func waitSocket(t *testing.T, path string) {
	t.Helper()
	waitFor(t, "the workload api socket", func() bool { return listening(path) })
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunCommand(t *testing.T) {
	e := newEnv(t)
	dir := shortDir(t)
	var roots bytes.Buffer
	for _, c := range e.ca.Bundle().X509Authorities() {
		pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	pemBundle := writeFile(t, "roots.pem", roots.Bytes())
	jsonBundle := writeFile(t, "bundle.json", e.bundleJSON())
	foreign := writeFile(t, "foreign.pem", foreignRootPEM(t))

	t.Setenv(TokenEnv, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", "http://127.0.0.1:1"}, "https"},
		{[]string{"--server", "https://127.0.0.1:1/path"}, "nothing more"},
		{[]string{"--server", e.url()}, "give a join token"},
		{[]string{"--server", e.url(), "--join-token", "x"}, "nothing to verify"},
		{[]string{"--server", e.url(), "--join-token", "x", "--trust-bundle", jsonBundle}, "join token is unknown"},
		{[]string{"--server", e.url(), "--join-token", e.token("web9"), "--trust-bundle", foreign}, "does not verify"},
		{[]string{"--server", e.url(), "--join-token", "x", "--trust-bundle", writeFile(t, "junk", []byte("{}"))}, "trust bundle"},
		{[]string{"--server", e.url(), "--log-format", "xml"}, "log-format"},
	} {
		err := runErr(t, append(tc.args, "--data-dir", dir)...)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, svidFile)); err == nil {
		t.Fatal("a refused join left an identity")
	}

	// First start: the token from the environment, trust on first use.
	t.Setenv(TokenEnv, e.token("web1"))
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	stop, logs := runCmd(t, "--server", e.url(), "--data-dir", dir, "--insecure-bootstrap", "--sync-interval", "100ms", "--log-format", "json")
	waitSocket(t, filepath.Join(dir, socketFile))
	if _, err := workloadapi.FetchX509SVID(testCtx(t), workloadapi.WithAddr("unix://"+filepath.Join(dir, socketFile))); err != nil {
		t.Fatalf("fetch: %v\n%s", err, logs)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}
	for _, want := range []string{"insecure bootstrap", "agent joined", "agent stopped"} {
		if !logs.has(want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, socketFile)); err == nil {
		t.Error("the socket outlived the agent")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 && fi.Mode().Perm() != 0o711 {
		t.Errorf("data dir: %v %v", err, fi.Mode())
	}

	// Later starts: no token, a PEM bundle, a socket elsewhere.
	t.Setenv(TokenEnv, "")
	sock := filepath.Join(shortDir(t), "w.sock")
	stop, logs = runCmd(t, "--server", e.url(), "--data-dir", dir, "--trust-bundle", pemBundle, "--socket", sock, "--log-format", "json")
	waitSocket(t, sock)
	waitFor(t, "an svid on the second start", func() bool {
		_, err := workloadapi.FetchX509SVID(testCtx(t), workloadapi.WithAddr("unix://"+sock))
		return err == nil
	})
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if logs.has("agent joined") {
		t.Error("joined again")
	}
}

func foreignRootPEM(t testing.TB) []byte {
	key := newP256(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not ztgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
