package serve

import (
	"context"
	"encoding/json"
	"github.com/ztgate/ztgate/internal/agent"
	"github.com/ztgate/ztgate/internal/device"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ztgate/ztgate/internal/buildinfo"
	"github.com/ztgate/ztgate/internal/gateway"
	"github.com/ztgate/ztgate/internal/signin"
)

func (n *node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", n.m.instrument("healthz", http.HandlerFunc(n.healthz)))
	mux.Handle("GET /readyz", n.m.instrument("readyz", http.HandlerFunc(n.readyz)))
	mux.Handle("GET /metrics", n.m.instrument("metrics", promhttp.HandlerFor(n.m.reg, promhttp.HandlerOpts{})))
	mux.Handle("POST /{$}", n.m.instrument("sts", http.HandlerFunc(n.query)))
	mux.Handle("GET /{$}", n.m.instrument("sts", http.HandlerFunc(n.presigned)))
	mux.Handle("GET /.well-known/ztgate/jwks.json", n.m.instrument("jwks", http.HandlerFunc(n.jwks)))
	mux.Handle("GET "+BundlePath, n.m.instrument("bundle", n.caEndpoint((*pki.CA).BundleHandler)))
	mux.Handle("GET "+CRLPath, n.m.instrument("crl", n.caEndpoint((*pki.CA).CRLHandler)))
	devAPI := n.deviceEndpoint(func(r *device.Registry) http.Handler {
		return device.NewHandler(device.HandlerConfig{Registry: r, Audit: n.audit, Log: n.log})
	})
	mux.Handle("POST "+device.EnrollPath, n.m.instrument("device", limited(ratelimit.New(enrollPerMinute, time.Minute, nil), devAPI)))
	mux.Handle("POST "+device.RenewPath, n.m.instrument("device", limited(ratelimit.New(enrollPerMinute, time.Minute, nil), devAPI)))
	mux.Handle("POST "+device.PosturePath, n.m.instrument("device", limited(ratelimit.New(posturePerMinute, time.Minute, nil), devAPI)))
	joins := limited(ratelimit.New(enrollPerMinute, time.Minute, nil), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.agents.Handler().ServeHTTP(w, r)
	}))
	mux.Handle("/", n.m.instrument("other", http.NotFoundHandler()))
	// Everything but the gateway (which finds the client itself, with the
	// same proxies) learns who the client is from the request's context:
	// aws:SourceIp, audit records and rate limits name the client a
	// trusted proxy vouches for, never the proxy.
	prefixes, _ := n.cfg.Gateway.Proxies() // validated with the configuration
	trust := peer.NewProxies(prefixes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ztgate's own paths first, then the gateway's routes, then the
		// node's endpoints and the AWS query APIs.
		if strings.HasPrefix(r.URL.Path, agent.PathPrefix) {
			r = trust.Attach(r)
			if r.URL.Path == agent.PathPrefix+"join" {
				joins.ServeHTTP(w, r)
				return
			}
			n.agents.Handler().ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, signin.PathPrefix) {
			n.gateway()
			n.mu.Lock()
			si := n.signin
			n.mu.Unlock()
			if si != nil {
				si.Handler().ServeHTTP(w, trust.Attach(r))
				return
			}
		}
		if !strings.HasPrefix(r.URL.Path, "/.well-known/ztgate/") {
			if gw, _ := n.gateway(); gw != nil && gw.Owns(r) {
				gw.ServeHTTP(w, r)
				return
			}
		}
		mux.ServeHTTP(w, trust.Attach(r))
	})
}

// jwks serves the keys that verify the gateway's identity assertions.
func (n *node) jwks(w http.ResponseWriter, r *http.Request) {
	_, signer := n.gateway()
	if signer == nil {
		http.NotFound(w, r)
		return
	}
	signer.JWKSHandler().ServeHTTP(w, r)
}

// healthz answers while the process runs: liveness only.
func (n *node) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz answers 200 only when the node can decide requests: the store
// answers, the key-encryption key matches it, and the change feed is
// following the log. Reasons stay terse here; details go to the log.
func (n *node) readyz(w http.ResponseWriter, r *http.Request) {
	res := n.ready(r.Context())
	code := http.StatusOK
	if res.Status != "ready" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(res)
}

func (n *node) ready(ctx context.Context) readiness {
	res := readiness{Status: "ready", Checks: map[string]string{"store": "ok", "keys": "ok", "feed": "ok"}}
	fail := func(check, why string) {
		res.Status = "not ready"
		res.Checks[check] = why
	}
	n.mu.Lock()
	st, down := n.st, n.down
	n.mu.Unlock()
	if down {
		fail("node", "shutting down")
	}
	if n.kek == nil {
		fail("keys", "not loaded")
	}
	if st == nil {
		fail("store", "unavailable")
		fail("keys", "not verified against the store")
		fail("feed", "not started")
		return res
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		n.log.Warn("readiness: store does not answer", "err", err)
		fail("store", "unavailable")
	}
	if !st.Live() {
		fail("feed", "not following the change log")
	}
	if len(n.gwRoutes) > 0 {
		res.Checks["gateway"] = "ok"
		if gw, _ := n.gateway(); gw == nil {
			fail("gateway", "not started (see the log)")
		}
	}
	return res
}

// metrics is the node's Prometheus registry.
type metrics struct {
	gateway  *gateway.Metrics
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(n *node) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ztgate_http_requests_total", Help: "HTTP requests served by the main listener.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ztgate_http_request_duration_seconds", Help: "Time to serve HTTP requests on the main listener.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"handler"}),
	}
	bi := buildinfo.Get()
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ztgate_build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.Go},
	})
	info.Set(1)
	up := func(f func() bool) func() float64 {
		return func() float64 {
			if f() {
				return 1
			}
			return 0
		}
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, info,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ztgate_store_open", Help: "1 when the state store is open.",
		}, up(func() bool { _, err := n.Store(); return err == nil })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ztgate_change_feed_live", Help: "1 when the change feed is following the change log.",
		}, up(func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.st != nil && n.st.Live()
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ztgate_change_feed_revision", Help: "Highest store revision this node has read from the change log.",
		}, func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.st == nil {
				return 0
			}
			return float64(n.st.Head())
		}),
	)
	// The gateway's metrics register once; nothing else registers them.
	m.gateway, _ = gateway.NewMetrics(reg)
	return m
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *metrics) instrument(name string, h http.Handler) http.Handler {
	dur := m.duration.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		dur.Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
	})
}
