package serve

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/device"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/ratelimit"
)

// Devices returns the device registry, or nil while the store is not
// open.
func (n *node) Devices() *device.Registry {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.devices
}

// deviceEndpoint serves what mk makes of the device registry, made once
// the registry is open.
func (n *node) deviceEndpoint(mk func(*device.Registry) http.Handler) http.Handler {
	var once sync.Once
	var h http.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg := n.Devices()
		if reg == nil {
			http.Error(w, "the device registry is not ready", http.StatusServiceUnavailable)
			return
		}
		once.Do(func() { h = mk(reg) })
		h.ServeHTTP(w, r)
	})
}

// deviceLoop follows enrollments, posture reports and revocations from
// other nodes once the registry is open, and prunes spent enrollment
// tokens daily.
func (n *node) deviceLoop(ctx context.Context) {
	var reg *device.Registry
	for reg == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		reg = n.Devices()
	}
	go func() {
		t := time.NewTicker(24 * time.Hour)
		defer t.Stop()
		for {
			if _, err := reg.PruneTokens(ctx, time.Now().Add(-7*24*time.Hour)); err != nil && ctx.Err() == nil {
				n.log.Warn("pruning spent enrollment tokens failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	n.follow(ctx, "the device registry", func() runner { return reg })
}

// Attempts per client address and minute at the endpoints that anyone
// may call before they hold an identity: enrollment and joining (each
// costs a store read and an audit record), and posture reports (each a
// signature verification).
const (
	enrollPerMinute  = 30
	posturePerMinute = 600
)

// limited answers 429 to a client that has made more than l allows.
func limited(l *ratelimit.Limiter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.Allow(ratelimit.ClientKey(peer.FromRequest(r).IP())) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"code":"TooManyRequests","message":"Too many attempts from this address; try again in a minute."}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
