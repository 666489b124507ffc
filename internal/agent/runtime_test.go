package agent

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ztgate/ztgate/internal/audit"
)

// x509Watcher collects a Workload API watcher's updates.
type x509Watcher struct{ updates chan *workloadapi.X509Context }

func (w *x509Watcher) OnX509ContextUpdate(c *workloadapi.X509Context) { w.updates <- c }
func (w *x509Watcher) OnX509ContextWatchError(error)                  {}

func (w *x509Watcher) next(t testing.TB) *workloadapi.X509Context {
	t.Helper()
	select {
	case c := <-w.updates:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no x509 context update")
		return nil
	}
}

func watch(t *testing.T, ra *runningAgent) *x509Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client, err := workloadapi.New(ctx, ra.addr())
	if err != nil {
		t.Fatal(err)
	}
	w := &x509Watcher{updates: make(chan *workloadapi.X509Context, 64)}
	done := make(chan struct{})
	go func() { client.WatchX509Context(ctx, w); close(done) }()
	t.Cleanup(func() { cancel(); <-done; client.Close() })
	return w
}

// A workload's SVID is renewed at half of its entry's TTL, and its
// watcher sees the new one; the agent renews its own SVID the same way,
// and keeps working on the new one.
func TestRotation(t *testing.T) {
	e := newEnv(t, func(c *ServerConfig) { c.AgentTTL = 3 * time.Second })
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID(), "--ttl", "3s")
	ra := e.startAgent(tok)
	firstTLS, first := ra.creds(t)

	w := watch(t, ra)
	c1 := w.next(t)
	s1 := c1.SVIDs[0]
	if got := time.Until(s1.Certificates[0].NotAfter); got > 4*time.Second {
		t.Fatalf("svid lives %s, the entry says 3s", got)
	}
	for {
		c := w.next(t)
		if s := c.SVIDs[0]; s.Certificates[0].SerialNumber.Cmp(s1.Certificates[0].SerialNumber) != 0 {
			if s.ID != s1.ID {
				t.Fatalf("rotated to %s", s.ID)
			}
			break
		}
	}

	// Two renewals of the agent: the second is made over mTLS with the
	// first renewal's certificate.
	waitFor(t, "two agent renewals", func() bool { return len(e.records(audit.CategoryIssued, "RenewAgentSVID")) >= 2 })
	_, now := ra.creds(t)
	if now.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) == 0 {
		t.Fatal("svid.pem still holds the first certificate")
	}
	a, _, err := getAgent(context.Background(), e.st, "web1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Previous == "" || a.Serial == serialText(first.Certificates[0].SerialNumber) {
		t.Fatalf("agent record after renewals: %+v", a)
	}
	// The first certificate, superseded twice, is refused.
	st, body := e.rawClient(&firstTLS).call(http.MethodGet, EndpointEntries, nil)
	wantRefusal(t, st, body, http.StatusUnauthorized, CodeCertificateSuperseded)
	if ra.logs.has("the server refuses this agent") {
		t.Fatalf("the agent was refused while renewing:\n%s", ra.logs)
	}
}

// An entry added while the agent runs reaches the workload; one deleted
// stops being handed out.
func TestEntryChangesAtRunTime(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	ra := e.startAgent(tok)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := workloadapi.FetchX509SVID(ctx, ra.addr())
	cancel()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("before the entry: %v", err)
	}
	w := watch(t, ra)
	id := e.entry("web1", "spiffe://example.org/late", "--selector", selfUID())
	if got := w.next(t).SVIDs[0].ID.String(); got != "spiffe://example.org/late" {
		t.Fatalf("got %s", got)
	}
	e.entry("web1", "spiffe://example.org/second", "--selector", selfUID())
	waitFor(t, "two svids", func() bool {
		svids, err := workloadapi.FetchX509SVIDs(testCtx(t), ra.addr())
		return err == nil && len(svids) == 2
	})
	e.mustAdmin("entry", "delete", "--id", id)
	waitFor(t, "the deleted entry's svid to go", func() bool {
		svids, err := workloadapi.FetchX509SVIDs(testCtx(t), ra.addr())
		return err == nil && len(svids) == 1 && svids[0].ID.String() == "spiffe://example.org/second"
	})
}

// While the server is down, workloads keep (and new ones get) the SVIDs
// the agent holds; once it is back, the agent carries on.
func TestServerDown(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	before, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr())
	if err != nil {
		t.Fatal(err)
	}
	e.stopTLS()
	waitFor(t, "the agent to notice", func() bool { return ra.logs.has("call to the server failed") })
	time.Sleep(500 * time.Millisecond) // several sync periods
	during, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr())
	if err != nil {
		t.Fatalf("while the server is down: %v\n%s", err, ra.logs)
	}
	if during.Certificates[0].SerialNumber.Cmp(before.Certificates[0].SerialNumber) != 0 {
		t.Fatal("a new svid while the server is down?")
	}
	if n := strings.Count(ra.logs.String(), "call to the server failed"); n > 3 {
		t.Errorf("the outage was logged %d times", n)
	}
	e.restartTLS()
	waitFor(t, "the agent to reconnect", func() bool { return ra.logs.has("server reachable again") })
	e.entry("web1", "spiffe://example.org/after", "--selector", selfUID())
	waitFor(t, "the new entry after the outage", func() bool {
		svids, err := workloadapi.FetchX509SVIDs(testCtx(t), ra.addr())
		return err == nil && len(svids) == 2
	})
}

// An agent restarts from its saved state without a token, and a
// restart with the server down still serves the Workload API.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	_, first := ra.creds(t)
	ra.stop(t)
	if !ra.logs.has("agent stopped") {
		t.Fatalf("no clean stop in the log:\n%s", ra.logs)
	}

	again := e.startAgentIn(ra.dir, "")
	if _, err := workloadapi.FetchX509SVID(testCtx(t), again.addr()); err != nil {
		t.Fatalf("after restart: %v\n%s", err, again.logs)
	}
	_, now := again.creds(t)
	if now.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) != 0 {
		t.Fatal("the restart joined again instead of reusing the identity")
	}
	if len(e.records(audit.CategoryIssued, "JoinAgent")) != 1 {
		t.Fatal("joined twice")
	}
	again.stop(t)

	// Down server: the agent starts, and retries.
	e.stopTLS()
	down := e.startAgentIn(ra.dir, "")
	waitFor(t, "the failure to be logged", func() bool { return down.logs.has("call to the server failed") })
	e.restartTLS()
	waitFor(t, "an svid after the server came back", func() bool {
		_, err := workloadapi.FetchX509SVID(testCtx(t), down.addr())
		return err == nil
	})
}
