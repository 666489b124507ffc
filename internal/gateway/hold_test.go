package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/ztgate/ztgate/internal/audit"
)

// gatedAudit is a synchronous recorder whose records become durable only
// when the test opens the gate, or fail when it closes it with an error.
type gatedAudit struct {
	audit.Memory
	gate     chan struct{}
	err      error
	mu       sync.Mutex
	submits  int
	recorded int
}

func newGatedAudit() *gatedAudit { return &gatedAudit{gate: make(chan struct{})} }

// open makes every record durable (err nil) or failed (err set).
func (a *gatedAudit) open(err error) {
	a.err = err
	close(a.gate)
}

func (a *gatedAudit) wait(ctx context.Context) error {
	select {
	case <-a.gate:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *gatedAudit) Record(ctx context.Context, r *audit.Record) error {
	a.mu.Lock()
	a.recorded++
	a.mu.Unlock()
	if err := a.Memory.Record(ctx, r); err != nil {
		return err
	}
	return a.wait(ctx)
}

func (a *gatedAudit) Submit(ctx context.Context, r *audit.Record) (func(context.Context) error, error) {
	a.mu.Lock()
	a.submits++
	a.mu.Unlock()
	if err := a.Memory.Record(ctx, r); err != nil {
		return nil, err
	}
	return a.wait, nil
}

func gatedHarness(t *testing.T, upstream http.Handler) (*harness, *gatedAudit) {
	t.Helper()
	up := serveGateway(t, upstream, nil)
	a := newGatedAudit()
	h := newHarness(t, Config{
		Audit:    a,
		Decider:  &prefixDecider{allow: []string{appARN("/")}},
		Asserter: &fakeAsserter{},
		Routes:   []Route{{Name: "app", Upstreams: []*url.URL{mustURL(up.URL)}}},
	})
	return h, a
}

type answer struct {
	resp *http.Response
	body string
	err  error
}

func send(h *harness, method, path string, header http.Header) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		req.Header = header
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			out <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out <- answer{resp: resp, body: string(b), err: err}
	}()
	return out
}

var bearerAlice = http.Header{"Authorization": {"Bearer alice"}}

// TestHeldAnswer: a GET is forwarded while its decision record is being
// made durable, but nothing of the answer reaches the client before it is.
func TestHeldAnswer(t *testing.T) {
	reached := make(chan struct{}, 1)
	h, a := gatedHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		w.Header().Set("X-Secret-Data", "yes")
		io.WriteString(w, "the data")
	}))
	got := send(h, "GET", "/app/x", bearerAlice)
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the GET was not forwarded while its record was pending")
	}
	select {
	case ans := <-got:
		t.Fatalf("an answer went out before its record was durable: %+v", ans)
	case <-time.After(200 * time.Millisecond):
	}
	a.open(nil)
	ans := <-got
	if ans.err != nil || ans.resp.StatusCode != 200 || ans.body != "the data" || ans.resp.Header.Get("X-Secret-Data") != "yes" {
		t.Fatalf("%+v", ans)
	}
	if a.submits != 1 || a.recorded != 0 {
		t.Errorf("submits %d, records waited on %d", a.submits, a.recorded)
	}
}

// TestHeldAnswerAuditFails: when the record cannot be made durable, the
// upstream's answer is dropped, and the client is told the request could
// not be audited.
func TestHeldAnswerAuditFails(t *testing.T) {
	h, a := gatedHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Secret-Data", "yes")
		io.WriteString(w, "the data")
	}))
	a.open(errors.New("disk full"))
	resp, body := h.do("GET", "/app/x", map[string]string{"Authorization": "Bearer alice", "Accept": "application/json"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "the data") || resp.Header.Get("X-Secret-Data") != "" ||
		!strings.Contains(body, "could not be recorded in the audit log") || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestUnsafeWaitsBeforeForwarding: a request that may change state
// reaches the upstream only once its record is durable.
func TestUnsafeWaitsBeforeForwarding(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE", "PROPFIND"} {
		t.Run(method, func(t *testing.T) {
			reached := make(chan struct{}, 1)
			h, a := gatedHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached <- struct{}{}
			}))
			got := send(h, method, "/app/x", bearerAlice)
			select {
			case <-reached:
				t.Fatal("forwarded before its record was durable")
			case <-time.After(200 * time.Millisecond):
			}
			a.open(nil)
			if ans := <-got; ans.err != nil || ans.resp.StatusCode != 200 {
				t.Fatalf("%+v", ans)
			}
			<-reached
			if a.submits != 0 || a.recorded != 1 {
				t.Errorf("submits %d, records waited on %d", a.submits, a.recorded)
			}
		})
	}
}

// TestHeldUpgrade: a WebSocket is not handed over when its record fails.
func TestHeldUpgrade(t *testing.T) {
	h, a := gatedHarness(t, websocket.Handler(func(ws *websocket.Conn) { io.Copy(ws, ws) }))
	a.open(errors.New("disk full"))
	cfg, err := websocket.NewConfig("ws://"+h.srv.Listener.Addr().String()+"/app/ws", "http://origin.example/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header = bearerAlice.Clone()
	if ws, err := websocket.DialConfig(cfg); err == nil {
		ws.Close()
		t.Fatal("the upgrade went through although its record failed")
	}
}

// TestHeldStreamAuditFails: when the record of a streamed answer (server-
// sent events) fails, the client gets the refusal whole and the upstream
// exchange ends, rather than running on discarded.
func TestHeldStreamAuditFails(t *testing.T) {
	stopped := make(chan struct{})
	h, a := gatedHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		defer close(stopped)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	a.open(errors.New("disk full"))
	resp, body := h.do("GET", "/app/events", map[string]string{"Authorization": "Bearer alice", "Accept": "application/json"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "data:") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream stream ran on after the refusal")
	}
}

// TestMTLSNamedOnly: a route without an auth list accepts every method
// but mtls, which admits workloads and devices only where a route names
// it.
func TestMTLSNamedOnly(t *testing.T) {
	up := newRecorder(t, "up")
	users := map[string]Identity{"alice": user("alice")}
	auths := []Authenticator{&fakeAuth{method: "jwt", users: users}, &fakeAuth{method: "mtls", users: users}}
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/"), ResourceARN(testAccount, "named", "/")}}, Asserter: &fakeAsserter{},
		Authenticators: auths,
		Routes: []Route{
			{Name: "app", Upstreams: []*url.URL{up.URL()}},
			{Name: "named", PathPrefix: "/named", Auth: []string{"mtls"}, Upstreams: []*url.URL{up.URL()}},
		},
	})
	cert := map[string]string{"X-Test-Client-Cert": "alice", "Accept": "application/json"}
	if resp, body := h.do("GET", "/app/x", cert, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unnamed mtls on a route without auth: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.do("GET", "/app/x", map[string]string{"Authorization": "Bearer alice"}, nil); resp.StatusCode != 200 {
		t.Fatalf("jwt on a route without auth: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.do("GET", "/named/x", cert, nil); resp.StatusCode != 200 {
		t.Fatalf("mtls on a route that names it: %d %s", resp.StatusCode, body)
	}
}
