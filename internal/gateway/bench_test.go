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
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
				switch mode {
				case "async":
					rec = benchWriter(b, audit.Async)
				case "sync":
					rec = benchWriter(b, audit.Sync)
				}
				l := newLoad(b, clients, rec)
				b.SetParallelism(clients / runtime.GOMAXPROCS(0))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := l.request()
					for pb.Next() {
						if !l.get(b, req) {
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}

// benchWriter opens an audit writer in a temporary directory.
func benchWriter(b *testing.B, mode audit.Mode) *audit.Writer {
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	w, err := audit.Open(audit.Options{Dir: b.TempDir(), Node: "bench", KEK: kek, Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return w
}

// BenchmarkGatewayAuditRatio measures what BenchmarkGatewayAudit does,
// synchronous audit against audit off, but alternates the two every
// auditSlice within one run, so that both see the same machine: on a
// shared host, throughput drifts by more than the difference measured
// between runs seconds apart. Each iteration is one slice of each, in
// alternating order; the result is the ratio of requests served in the
// same total time (sync/off), and the median of the iterations' ratios;
// with each mode's CPU time a request (the process's, all of it: load,
// gateway and upstream) and the CPUs it kept busy, which tell recording
// costs from waiting. Run it with a count of iterations, e.g.
// -benchtime 20x.
func BenchmarkGatewayAuditRatio(b *testing.B) {
	for _, clients := range []int{64, 128, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			off := newLoad(b, clients, discardRecorder{})
			synced := newLoad(b, clients, benchWriter(b, audit.Sync))
			off.run(b, auditSlice/4) // warm both: connections, buffers, zeros
			synced.run(b, auditSlice/4)
			var nOff, nSync int
			var cOff, cSync time.Duration
			var ratios []float64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				var o, s int
				var co, cs time.Duration
				if i%2 == 0 {
					o, co = off.run(b, auditSlice)
					s, cs = synced.run(b, auditSlice)
				} else {
					s, cs = synced.run(b, auditSlice)
					o, co = off.run(b, auditSlice)
				}
				nOff += o
				nSync += s
				cOff += co
				cSync += cs
				ratios = append(ratios, float64(s)/float64(o))
			}
			b.ReportMetric(float64(cOff.Microseconds())/float64(nOff), "off-cpu-µs/req")
			b.ReportMetric(float64(cSync.Microseconds())/float64(nSync), "sync-cpu-µs/req")
			b.ReportMetric(cOff.Seconds()/(float64(b.N)*auditSlice.Seconds()), "off-cpus")
			b.ReportMetric(cSync.Seconds()/(float64(b.N)*auditSlice.Seconds()), "sync-cpus")
			slices.Sort(ratios)
			b.ReportMetric(float64(nSync)/float64(nOff), "sync/off")
			b.ReportMetric(ratios[len(ratios)/2], "median-sync/off")
			b.ReportMetric(float64(nOff)/(float64(b.N)*auditSlice.Seconds()), "off-req/s")
			b.ReportMetric(float64(nSync)/(float64(b.N)*auditSlice.Seconds()), "sync-req/s")
		})
	}
}

// auditSlice is how long BenchmarkGatewayAuditRatio runs one mode before
// switching to the other.
const auditSlice = 250 * time.Millisecond

// load is a gateway with its audit recorder and a pool of clients.
type load struct {
	clients int
	client  *http.Client
	url     string
}

func newLoad(b *testing.B, clients int, rec audit.Recorder) *load {
	h := newHarness(b, Config{
		Audit:    rec,
		Decider:  &allowAll{},
		Asserter: &fakeAsserter{},
		Routes:   []Route{{Name: "app", PathPrefix: "/app", Upstreams: []*url.URL{benchUpstream(b)}}},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.Cleanup(client.CloseIdleConnections)
	return &load{clients: clients, client: client, url: h.srv.URL + "/app/items/42?x=1"}
}

// request is the request every client sends.
func (l *load) request() *http.Request {
	req, _ := http.NewRequest("GET", l.url, nil)
	req.Header.Set("Authorization", "Bearer alice")
	return req
}

// get sends req and reads the answer, which must be a 200.
func (l *load) get(b *testing.B, req *http.Request) bool {
	resp, err := l.client.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

// run sends requests from every client for d and returns how many were
// answered within it, and the CPU time the process used meanwhile.
func (l *load) run(b *testing.B, d time.Duration) (int, time.Duration) {
	cpu0 := cpuTime()
	var served atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for range l.clients {
		wg.Go(func() {
			req := l.request()
			n := 0
			for time.Now().Before(stop) {
				if !l.get(b, req) {
					return
				}
				if time.Now().Before(stop) {
					n++
				}
			}
			served.Add(int64(n))
		})
	}
	wg.Wait()
	return int(served.Load()), cpuTime() - cpu0
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
