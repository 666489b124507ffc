package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"testing"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/secret"
)

// discardRecorder builds nothing further and keeps nothing: the benchmark
// measures the gateway, not the audit writer (which has its own).
type discardRecorder struct{}

func (discardRecorder) Record(context.Context, *audit.Record) error { return nil }

func benchUpstream(b *testing.B) *url.URL {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	b.Cleanup(up.Close)
	return mustURL(up.URL)
}

func benchClient(b *testing.B, url, authorization string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	req, _ := http.NewRequest("GET", url, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkGateway is one allowed request through the gateway: path and
// host checks, routing, a bearer-token authenticator (fake), the context,
// a decision (fake), the audit record (built, not written), an identity
// assertion (fake) and the proxying, over real loopback connections.
func BenchmarkGateway(b *testing.B) {
	h := newHarness(b, Config{
		Audit:    discardRecorder{},
		Decider:  &allowAll{},
		Asserter: &fakeAsserter{},
		Routes:   []Route{{Name: "app", PathPrefix: "/app", Upstreams: []*url.URL{benchUpstream(b)}}},
	})
	benchClient(b, h.srv.URL+"/app/items/42?x=1", "Bearer alice")
}

// BenchmarkBareProxy is the peer: net/http/httputil's ReverseProxy alone,
// forwarding the same request to the same kind of upstream.
func BenchmarkBareProxy(b *testing.B) {
	target := benchUpstream(b)
	p := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}}
	front := httptest.NewServer(p)
	b.Cleanup(front.Close)
	benchClient(b, front.URL+"/app/items/42?x=1", "Bearer alice")
}

func BenchmarkCanonicalPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		CanonicalPath("/app/items/42/caf%C3%A9")
	}
}

type allowAll struct{}

func (*allowAll) Decide(*Identity, string, string) authz.Decision {
	return authz.Decision{Effect: authz.Allowed}
}

type denyAll struct{}

func (*denyAll) Decide(*Identity, string, string) authz.Decision { return authz.Decision{} }

// TestDecisionAllocs bounds the allocations of a request decided and
// refused in process: checks, routing, authentication (fake), context,
// decision (fake), audit record, refusal. The budget is what it measured
// when written, with a little room; raise it only knowingly.
func TestDecisionAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	gw, err := New(Config{
		Account: testAccount, Audit: discardRecorder{}, Decider: &denyAll{},
		Authenticators: []Authenticator{&fakeAuth{method: "jwt", users: map[string]Identity{"alice": user("alice")}}},
		Routes:         []Route{{Name: "app", Upstreams: []*url.URL{mustURL("http://127.0.0.1:1")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/app/items/42", nil)
	r.Header.Set("Authorization", "Bearer alice")
	w := httptest.NewRecorder()
	n := testing.AllocsPerRun(200, func() {
		clear(w.Header())
		w.Body.Reset()
		gw.ServeHTTP(w, r)
	})
	if w.Code != 403 {
		t.Fatalf("status %d", w.Code)
	}
	const budget = 45 // 42 measured
	t.Logf("%v allocations", n)
	if n > budget {
		t.Errorf("%v allocations, budget %d", n, budget)
	}
}

// BenchmarkGatewayAudit is the gateway under concurrent load (64 to 256
// clients) with the real audit writer in its default synchronous mode
// (each decision's record on disk before the answer goes out; a GET is
// forwarded meanwhile; records of concurrent requests share an fsync)
// against audit off, in the same run: what durable auditing costs the
// gateway's throughput. The writer in async mode (the same records
// encoded, chained, written and synced, but nobody waits for the disk)
// tells the cost of recording from the cost of waiting for it.
func BenchmarkGatewayAudit(b *testing.B) {
	for _, clients := range []int{64, 128, 256} {
		for _, mode := range []string{"off", "async", "sync"} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				var rec audit.Recorder = discardRecorder{}
				if mode != "off" {
					kek, err := secret.GenerateKEK(rand.Reader)
					if err != nil {
						b.Fatal(err)
					}
					am := audit.Sync
					if mode == "async" {
						am = audit.Async
					}
					w, err := audit.Open(audit.Options{Dir: b.TempDir(), Node: "bench", KEK: kek, Mode: am})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { w.Close() })
					rec = w
				}
				h := newHarness(b, Config{
					Audit:    rec,
					Decider:  &allowAll{},
					Asserter: &fakeAsserter{},
					Routes:   []Route{{Name: "app", PathPrefix: "/app", Upstreams: []*url.URL{benchUpstream(b)}}},
				})
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
				b.Cleanup(client.CloseIdleConnections)
				url := h.srv.URL + "/app/items/42?x=1"
				b.SetParallelism(clients / runtime.GOMAXPROCS(0))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer alice")
					for pb.Next() {
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}
