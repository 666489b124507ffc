package gateway

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// upstreamTransport sends a route's requests to its upstreams, in turn,
// skipping those that failed within UpstreamBackoff. A request without a
// body whose connection could not be made is tried on the next upstream:
// it never reached the first.
type upstreamTransport struct {
	upstreams []*upstream
	h1        *http.Transport // HTTP/1.1, or HTTP/2 over TLS by ALPN
	def       http.RoundTripper
	next      atomic.Uint64
	clock     func() time.Time
}

var _ http.RoundTripper = (*upstreamTransport)(nil)

func newUpstreamTransport(rt *route, clock func() time.Time) *upstreamTransport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	h1 := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A proxy passes encodings through; it never decodes them.
		DisableCompression: true,
	}
	if rt.UpstreamTLS != nil {
		h1.TLSClientConfig = rt.UpstreamTLS.Clone()
	}
	t := &upstreamTransport{upstreams: rt.upstreams, h1: h1, def: h1, clock: clock}
	if rt.H2C {
		h2c := h1.Clone()
		var p http.Protocols
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		h2c.Protocols = &p
		t.def = h2c
	}
	return t
}

func (t *upstreamTransport) closeIdle() {
	t.h1.CloseIdleConnections()
	if c, ok := t.def.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req, whose URL holds the path relative to the upstream.
func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr := t.def
	if isUpgrade(req) {
		tr = t.h1
	}
	path, escaped := req.URL.Path, req.URL.RawPath
	n := len(t.upstreams)
	first := int(t.next.Add(1) % uint64(n))
	now := t.clock()
	send := func(up *upstream) (*http.Response, error) {
		out := req.WithContext(req.Context()) // a shallow copy with its own URL
		u := *req.URL
		up.target(&u, path, escaped)
		out.URL = &u
		resp, err := tr.RoundTrip(out)
		if err != nil && req.Context().Err() == nil {
			up.downUntil.store(now.Add(UpstreamBackoff))
		}
		return resp, err
	}
	if n == 1 {
		return send(t.upstreams[0])
	}
	// Healthy upstreams first, from this request's turn on; then, if all
	// of them failed recently, the others.
	retry := req.Body == nil || req.Body == http.NoBody
	var down uint64 // routes have at most 64 upstreams
	for i, up := range t.upstreams {
		if up.downUntil.after(now) {
			down |= 1 << i
		}
	}
	var err error
	for pass := uint64(0); pass < 2; pass++ {
		for i := range n {
			j := (first + i) % n
			if down>>j&1 != pass {
				continue
			}
			up := t.upstreams[j]
			var resp *http.Response
			resp, err = send(up)
			if err == nil || !retry || !dialError(err) || req.Context().Err() != nil {
				return resp, err
			}
		}
	}
	return nil, err
}

// dialError reports whether err is a failure to connect: the request
// never left.
func dialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// atomicTime is a time read and written atomically.
type atomicTime struct{ ns atomic.Int64 }

func (a *atomicTime) store(t time.Time) { a.ns.Store(t.UnixNano()) }

func (a *atomicTime) after(t time.Time) bool { return a.ns.Load() > t.UnixNano() }
