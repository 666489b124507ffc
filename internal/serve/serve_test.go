package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// binary is the ztgate built for these tests: the nodes run as real
// processes, as they do in production.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ztgate-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ztgate")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/ztgate/ztgate/cmd/ztgate").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build ztgate: %v\n%s", err, out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	pgtest.Main(m)
}

// proc is one running "ztgate serve".
type proc struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	addr   string
	exited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs ztgate serve with args plus --data-dir dir and waits until it
// has written its listen address.
func start(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: dir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("node %s log:\n%s", dir, p.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "listen.addr")); err == nil {
			p.addr = strings.TrimSpace(string(b))
			return p
		}
		select {
		case err := <-p.exited:
			t.Fatalf("ztgate serve exited: %v\n%s", err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ztgate serve did not start in 20s:\n%s", p.stderr.String())
		}
	}
}

func (p *proc) get(path string) (int, string) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until /readyz says 200 (or, with want false, 503).
func (p *proc) waitReady(want bool, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := p.get("/readyz")
		if (code == http.StatusOK) == want {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("readyz: %d %s, waited %v for ready=%v", code, body, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM (or the signal given) and expects a clean exit.
func (p *proc) stop(sig ...os.Signal) {
	p.t.Helper()
	sig = append(sig, syscall.SIGTERM)
	p.cmd.Process.Signal(sig[0])
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("no exit 20s after SIGTERM")
	}
}

func (p *proc) client() *control.Client {
	return control.NewClient(filepath.Join(p.dir, "ztgate.sock"))
}

func checkEndpoints(t *testing.T, p *proc) {
	t.Helper()
	if code, body := p.get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	p.waitReady(true, 10*time.Second)
	code, body := p.get("/readyz")
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "ready" {
		t.Fatalf("readyz: %d %s", code, body)
	}
	code, body = p.get("/metrics")
	for _, want := range []string{"ztgate_build_info{", "ztgate_store_open 1", "ztgate_change_feed_live 1", `ztgate_http_requests_total{code="200",handler="readyz"}`, "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics lack %q: %d\n%s", want, code, body)
		}
	}
}

func TestServeDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, dir, "--dev")
	if !strings.Contains(p.stdout.String(), "http://"+p.addr) {
		t.Fatalf("stdout does not say where to go: %q", p.stdout.String())
	}
	checkEndpoints(t, p)
	for _, f := range []string{"config.yaml", "kek.key", "ztgate.db"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", f, fi.Mode().Perm())
		}
	}
	// Logs are JSON when not on a terminal.
	line, _, _ := strings.Cut(p.stderr.String(), "\n")
	if !json.Valid([]byte(line)) {
		t.Errorf("log line is not JSON: %q", line)
	}
	// A second process on the same data directory is refused.
	second := exec.Command(binary, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another ztgate process") {
		t.Fatalf("second node on one directory: %v %s", err, out)
	}
	// A change through the control socket is on the audit record.
	if _, err := p.client().Put(context.Background(), "note", "hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	p.stop()
	out, err = exec.Command(binary, "audit", "verify", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify after a clean stop: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "audit", "query", "--data-dir", dir, "--format", "json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"eventName":"PutRecord"`) || strings.Contains(string(out), "world") {
		t.Fatalf("audit query: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "listen.addr")); !os.IsNotExist(err) {
		t.Errorf("listen.addr left behind: %v", err)
	}
	// It starts again on what it wrote the first time; state survives.
	p2 := start(t, dir, "--dev")
	p2.waitReady(true, 10*time.Second)
	p2.stop()
}

func TestServeWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary, "serve", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no configuration") || !strings.Contains(string(out), "--dev") {
		t.Fatalf("serve without config: %v %s", err, out)
	}
}

func TestServeBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nstore:\n  driver: postgres\n  postgres:\n    dns: postgres://x\n"), 0o600)
	out, err := exec.Command(binary, "serve", "--config", cfg, "--data-dir", dir).CombinedOutput()
	want := cfg + `:5:5: store.postgres.dsn: unknown key "dns"`
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("serve with misspelled key: %v\n%s\nwant %s", err, out, want)
	}
	for _, tc := range []struct {
		content string
		code    int
	}{
		{"listen: 127.0.0.1:0\n", 0},
		{"listen: 127.0.0.1:0\nlog:\n  levle: info\n", 1},
		{"listen: [1]\n", 1},
	} {
		os.WriteFile(cfg, []byte(tc.content), 0o600)
		out, err := exec.Command(binary, "config", "validate", cfg).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code {
			t.Errorf("config validate %q: exit %d, want %d\n%s", tc.content, code, tc.code, out)
		}
	}
}

// TestServeBadRoutes: a route the gateway would refuse stops the start
// with the reason, instead of leaving every route down behind a node that
// says it is ready.
func TestServeBadRoutes(t *testing.T) {
	for _, tc := range []struct{ route, want string }{
		{"path_prefix: /a/../b\n      upstreams: [http://127.0.0.1:9]", "path prefix"},
		{"path_prefix: /\n      upstreams: ['http://127.0.0.1:9/?x=1']", "upstream"},
		{"path_prefix: /\n      upstreams: [http://127.0.0.1:9]\n      auth: [jwt]", "jwt needs sts.web_identity.issuers"},
		{"path_prefix: /\n      upstreams: [http://127.0.0.1:9]\n      auth: [session, session]", "given twice"},
		{"host: 'exämple.localhost'\n      upstreams: [http://127.0.0.1:9]", "host"},
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config.yaml")
		os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ngateway:\n  routes:\n    - name: a\n      "+tc.route+"\n"), 0o600)
		cmd := exec.Command(binary, "serve", "--dev", "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%q: the node started", tc.route)
			continue
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(string(out), "gateway.routes") || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: %v\n%s\nwant an error about %s", tc.route, err, out, tc.want)
		}
	}
}

func TestServeWrongKEK(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "--dev")
	p.waitReady(true, 10*time.Second)
	p.stop()
	os.Remove(filepath.Join(dir, "kek.key"))
	k, _ := secret.GenerateKEK(rand.Reader)
	if err := secret.WriteKEKFile(filepath.Join(dir, "kek.key"), k); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is not the one this data directory was sealed with") {
		t.Fatalf("serve with another key: %v\n%s", err, out)
	}
	// ZTGATE_KEK takes precedence over the file, and is checked the same.
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ZTGATE_KEK=garbage")
	out, err = cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "garbage") {
		t.Fatalf("serve with a malformed ZTGATE_KEK: %v\n%s", err, out)
	}
}

// pgConfig writes a configuration for a PostgreSQL-backed node.
func pgConfig(t *testing.T, dir, dsn, node string) string {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	cfg := filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf("node:\n  name: %s\nlog:\n  level: debug\nstore:\n  driver: postgres\n  postgres:\n    dsn: %q\n    connect_timeout: 1s\n", node, dsn)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sharedKEK gives nodes of one cluster the same key-encryption key.
func sharedKEK(t *testing.T, dirs ...string) {
	t.Helper()
	k, _ := secret.GenerateKEK(rand.Reader)
	for _, d := range dirs {
		os.MkdirAll(d, 0o700)
		if err := secret.WriteKEKFile(filepath.Join(d, "kek.key"), k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	sharedKEK(t, dir)
	p := start(t, dir, "--config", pgConfig(t, dir, dsn, "pg-1"))
	checkEndpoints(t, p)
	p.stop(syscall.SIGINT)
}

// TestServePostgresUnreachable: a node whose server is down starts, is
// live but not ready, says why, and becomes ready when the server comes.
func TestServePostgresUnreachable(t *testing.T) {
	c := pgtest.NewCluster(t)
	dsn := c.DSN("postgres")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sharedKEK(t, dir)
	p := start(t, dir, "--config", pgConfig(t, dir, strings.Replace(dsn, "postgres@", "postgres:topsecretpw@", 1), "pg-down"))
	if code, _ := p.get("/healthz"); code != 200 {
		t.Fatalf("healthz while the store is down: %d", code)
	}
	code, body := p.get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"store":"unavailable"`) {
		t.Fatalf("readyz while the store is down: %d %s", code, body)
	}
	if _, err := p.client().Put(context.Background(), "k", "k", []byte("v")); err == nil {
		t.Fatal("a write was accepted with no store")
	}
	if err := c.StartAgain(); err != nil {
		t.Fatal(err)
	}
	p.waitReady(true, 20*time.Second)
	if strings.Contains(p.stderr.String(), "topsecretpw") {
		t.Fatal("the log shows the database password")
	}
	p.stop()
}

// watcher follows a node's change feed through its control socket.
type watcher struct {
	ch     chan store.Change
	cancel context.CancelFunc
}

func watch(t *testing.T, p *proc) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{ch: make(chan store.Change, 10000), cancel: cancel}
	go func() {
		for ctx.Err() == nil {
			p.client().Watch(ctx, -1, func(c store.Change) error {
				w.ch <- c
				return nil
			})
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(cancel)
	return w
}

func (w *watcher) expect(t *testing.T, key string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(within)
	for {
		select {
		case c := <-w.ch:
			if c.Key == key {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("change %q not observed within %v", key, within)
		}
	}
}

// TestTwoNodeChangeFeed runs two nodes on one PostgreSQL server: a change
// written through either is seen by the other within a second, including
// after the server restarts and after one node's listener is cut off.
func TestTwoNodeChangeFeed(t *testing.T) {
	c := pgtest.NewCluster(t)
	dsn := c.CreateDB(t, "ztgate")
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	sharedKEK(t, da, db)
	a := start(t, da, "--config", pgConfig(t, da, dsn, "node-a"))
	b := start(t, db, "--config", pgConfig(t, db, dsn, "node-b"))
	a.waitReady(true, 10*time.Second)
	b.waitReady(true, 10*time.Second)
	wa, wb := watch(t, a), watch(t, b)
	time.Sleep(200 * time.Millisecond) // let the watch streams open

	ctx := context.Background()
	write := func(p *proc, key string) {
		t.Helper()
		if _, err := p.client().Put(ctx, "revocation", key, []byte("x")); err != nil {
			t.Fatalf("write %s: %v", key, err)
		}
	}
	write(a, "a-1")
	if d := wb.expect(t, "a-1", time.Second); d > time.Second {
		t.Fatalf("a-1 took %v", d)
	}
	write(b, "b-1")
	wa.expect(t, "b-1", time.Second)

	// Restart the server under both nodes.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	a.waitReady(false, 10*time.Second)
	if err := c.StartAgain(); err != nil {
		t.Fatal(err)
	}
	a.waitReady(true, 20*time.Second)
	b.waitReady(true, 20*time.Second)
	write(a, "a-2")
	wb.expect(t, "a-2", time.Second)
	write(b, "b-2")
	wa.expect(t, "b-2", time.Second)

	// Cut node B's listener and write at once: the notification is lost
	// to B, and B must still get the change by re-reading the log.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ztgate-listener node-b'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate node-b's listener: %d %v", killed, err)
	}
	write(a, "a-3")
	wb.expect(t, "a-3", time.Second)
	write(b, "b-3")
	wa.expect(t, "b-3", time.Second)

	a.stop()
	b.stop()
}

// TestDevOnAnotherDataDir: --dev given on a data directory it did not set
// up, whose store has users (here one made by "ztgate init" and given an
// administrator), makes no administrator and no demo user there: it says
// so and serves the directory as it is.
func TestDevOnAnotherDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prod")
	ztgateCmd(t, "init", dir)
	p := start(t, dir)
	p.waitReady(true, 20*time.Second)
	ztgateCmd(t, "iam", "bootstrap-admin", "--data-dir", dir, "--user-name", "root-admin", "--out", filepath.Join(t.TempDir(), "creds"))
	p.stop()
	p = start(t, dir, "--dev")
	p.waitReady(true, 20*time.Second)
	for _, f := range []string{"admin.credentials", "demo.credentials", "dev"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("--dev wrote %s into a data directory it did not set up", f)
		}
	}
	p.stop()
	if !strings.Contains(p.stderr.String(), "was not set up by --dev") {
		t.Errorf("no warning in the log:\n%s", p.stderr.String())
	}
}

// TestBootstrapAdmin: a deployment set up without --dev gets its first
// administrator through the control socket, and signs IAM calls with its
// key; a second one under the same name is refused.
func TestBootstrapAdmin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prod")
	ztgateCmd(t, "init", dir)
	p := start(t, dir)
	p.waitReady(true, 20*time.Second)
	out := ztgateCmd(t, "iam", "bootstrap-admin", "--data-dir", dir)
	if !strings.Contains(out, "user/admin") {
		t.Fatalf("bootstrap-admin: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "admin.credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.credentials: %v %v", fi, err)
	}
	if users := ztgateCmd(t, "iam", "list-users", "--data-dir", dir); !strings.Contains(users, `"UserName": "admin"`) {
		t.Fatalf("list-users with the new key: %s", users)
	}
	b, err := exec.Command(binary, "iam", "bootstrap-admin", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "again")).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "exists") {
		t.Fatalf("a second bootstrap-admin: %v %s", err, b)
	}
	if text := auditText(t, dir); !strings.Contains(text, `"eventName":"CreateAccessKey"`) {
		t.Error("the administrator's making is not on record")
	}
	p.stop()
}
