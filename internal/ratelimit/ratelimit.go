// Package ratelimit counts events per key in fixed windows, to slow down
// guessing and flooding: failed sign-ins per user and per client,
// enrollment and join attempts per client. Counts are per node and kept
// in memory, bounded in size.
package ratelimit

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// MaxTracked bounds the keys a Limiter remembers; under a flood of
// distinct keys it forgets some rather than grow.
const MaxTracked = 100000

// Limiter allows Max events per key in each window of Per.
type Limiter struct {
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

// New returns a Limiter of max events per key in windows of per; now is
// time.Now when nil.
func New(max int, per time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, per: per, now: now, m: map[string]*window{}}
}

// Blocked reports whether key has used up its events in this window.
func (l *Limiter) Blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	return w != nil && l.now().Sub(w.start) < l.per && w.n >= l.max
}

// Add counts one event for key.
func (l *Limiter) Add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(key)
}

func (l *Limiter) addLocked(key string) *window {
	now := l.now()
	w := l.m[key]
	if w == nil || now.Sub(w.start) >= l.per {
		if w == nil && len(l.m) >= MaxTracked {
			l.pruneLocked(now)
			if len(l.m) >= MaxTracked {
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
	return w
}

// Allow counts one event for key and reports whether it was within the
// limit, in one step: concurrent callers cannot all slip under it.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addLocked(key).n <= l.max
}

// Reset forgets key's events.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// Prune forgets the keys whose window has passed.
func (l *Limiter) Prune() {
	l.mu.Lock()
	l.pruneLocked(l.now())
	l.mu.Unlock()
}

func (l *Limiter) pruneLocked(now time.Time) {
	for k, w := range l.m {
		if now.Sub(w.start) >= l.per {
			delete(l.m, k)
		}
	}
}

// ClientKey is the key of a client address: IPv6 clients are counted per
// /64, which one client usually holds whole.
func ClientKey(ip string) string {
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

// UserKey is the key of a user name, compared without case.
func UserKey(name string) string { return "u:" + strings.ToLower(name) }
