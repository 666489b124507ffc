package signin

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Failed sign-ins allowed per window: per user name (whether or not the
// user exists, so that the limit tells nothing) and per client address.
// The counts are per node.
const (
	userFailures   = 10
	clientFailures = 50
	failureWindow  = 15 * time.Minute
	maxTracked     = 100000
)

// limiter counts failures per key in fixed windows.
type limiter struct {
	max int
	per time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int, per time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, per: per, now: now, m: map[string]*window{}}
}

// blocked reports whether key has used up its failures.
func (l *limiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	return w != nil && l.now().Sub(w.start) < l.per && w.n >= l.max
}

// fail counts one failure for key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[key]
	if w == nil || now.Sub(w.start) >= l.per {
		if w == nil && len(l.m) >= maxTracked {
			l.pruneLocked(now)
			if len(l.m) >= maxTracked {
				// Under a flood of distinct keys, forget one at random
				// rather than grow without bound.
				for k := range l.m {
					delete(l.m, k)
					break
				}
			}
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.n++
}

// reset forgets key's failures.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

func (l *limiter) prune() {
	l.mu.Lock()
	l.pruneLocked(l.now())
	l.mu.Unlock()
}

func (l *limiter) pruneLocked(now time.Time) {
	for k, w := range l.m {
		if now.Sub(w.start) >= l.per {
			delete(l.m, k)
		}
	}
}

// peerIP is the address of the connection's peer.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey is the rate-limit key of a client address: IPv6 clients are
// counted per /64, which one client usually holds whole.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

func userKey(name string) string { return "u:" + strings.ToLower(name) }
