package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus metrics. A nil *Metrics records
// nothing.
//
// A request is counted, and its duration observed, when the gateway is
// done with it: an answer is streamed, so the client can have all of it a
// moment before (or, for an upgraded connection, long before).
type Metrics struct {
	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	upstream  *prometheus.CounterVec
}

// Decision labels of ztgate_gateway_decisions_total.
const (
	labelAllowed      = "allowed"
	labelExplicitDeny = "explicitDeny"
	labelImplicitDeny = "implicitDeny"
	labelReportOnly   = "reportOnly"
)

// noRoute is the route label of requests that matched no route.
const noRoute = "-"

// NewMetrics creates the gateway's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ztgate_gateway_requests_total",
			Help: "Requests answered by the gateway, by route (\"-\" for none), method and status code.",
		}, []string{"route", "method", "code"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ztgate_gateway_decisions_total",
			Help: "Authorization decisions by route and outcome: allowed, explicitDeny, implicitDeny, or reportOnly (denied and served).",
		}, []string{"route", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ztgate_gateway_request_duration_seconds",
			Help:    "Time to answer a request, including the upstream's time and the streaming of its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"route"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ztgate_gateway_upstream_errors_total",
			Help: "Requests that failed because an upstream could not be reached or failed mid-request.",
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.decisions, m.duration, m.upstream} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) request(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) decision(route, label string) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(route, label).Inc()
}

func (m *Metrics) upstreamError(route string) {
	if m == nil {
		return
	}
	m.upstream.WithLabelValues(route).Inc()
}

// methodLabel bounds the method label: clients choose the method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
