package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// x509Watcher collects what a Workload API watch delivers.
type x509Watcher struct{ updates chan *workloadapi.X509Context }

func (w x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) { w.updates <- c }
func (w x509Watcher) OnX509ContextWatchError(error)                  {}

// TestAgentWorkloadAPI: "ztgate agent run" joins a node with a one-time
// token and serves the SPIFFE Workload API; go-spiffe's client, attested
// by its uid, fetches and watches the SVID of its registration entry and
// sees it rotate; with that SVID it is admitted by an mtls route.
func TestAgentWorkloadAPI(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "billing") }))
	defer up.Close()
	_, dir, tlsAddr := mtlsNode(t, up.URL)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(bundle, []byte(ztgateCmd(t, "ca", "show", "--data-dir", dir, "--format", "bundle")), 0o644); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(ztgateCmd(t, "agent", "token", "create", "--data-dir", dir, "--name", "host-1"))
	// Stdout holds the token alone (details go to stderr).
	token = token[strings.LastIndexByte(token, '\n')+1:]
	ztgateCmd(t, "agent", "entry", "create", "--data-dir", dir, "--spiffe-id", "spiffe://example.org/web", "--parent", "host-1",
		"--selector", "unix:uid:"+strconv.Itoa(os.Getuid()), "--ttl", "6s")

	agentDir := filepath.Join(t.TempDir(), "agent")
	sock := filepath.Join(agentDir, "agent.sock")
	cmd := exec.Command(binary, "agent", "run", "--server", "https://"+tlsAddr, "--trust-bundle", bundle,
		"--data-dir", agentDir, "--socket", sock, "--sync-interval", "1s")
	cmd.Env = append(os.Environ(), "ZTGATE_JOIN_TOKEN="+token)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the agent opened no socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	client, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+sock))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	w := x509Watcher{updates: make(chan *workloadapi.X509Context, 16)}
	go client.WatchX509Context(ctx, w)

	var first *workloadapi.X509Context
	select {
	case first = <-w.updates:
	case <-ctx.Done():
		t.Fatal("no SVID from the agent")
	}
	svid := first.DefaultSVID()
	if svid.ID.String() != "spiffe://example.org/web" {
		t.Fatalf("SVID for %s", svid.ID)
	}
	if life := svid.Certificates[0].NotAfter.Sub(svid.Certificates[0].NotBefore); life > 5*time.Minute {
		t.Errorf("lifetime %v, want the entry's 6s (plus backdating)", life)
	}

	// The SVID from the Workload API opens the mtls route.
	cert, key, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, c := range first.Bundles.Bundles()[0].X509Authorities() {
		roots.AddCert(c)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots}}}
	resp, err := hc.Get("https://" + tlsAddr + "/billing/invoices")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "billing" {
		t.Fatalf("mtls route with the agent's SVID: %d %s", resp.StatusCode, b)
	}

	// Rotation at half-life: a new certificate before the first expires.
	deadline := svid.Certificates[0].NotAfter
	for {
		select {
		case c := <-w.updates:
			next := c.DefaultSVID()
			if next.Certificates[0].SerialNumber.Cmp(svid.Certificates[0].SerialNumber) == 0 {
				continue
			}
			if !time.Now().Before(deadline) {
				t.Fatalf("rotated only at %v, after the old SVID expired at %v", time.Now(), deadline)
			}
			if next.ID != svid.ID {
				t.Fatalf("rotated to %s", next.ID)
			}
			return
		case <-ctx.Done():
			t.Fatalf("no rotation before %v", deadline)
		}
	}
}
