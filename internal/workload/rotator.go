package workload

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

const (
	// issueTimeout bounds one call to the issuer, so that a hung server
	// delays the other entries' renewals by at most this much.
	issueTimeout = 30 * time.Second
	// Failed issuances and bundle reads are retried after a wait that
	// starts at minRetry and doubles up to maxRetry, jittered so that the
	// agents of a fleet do not return to a recovering server in step.
	// maxRetry is far below the default TTL's half-life, so an SVID is
	// renewed within maxRetry of the issuer's return.
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// rotator keeps one X509-SVID per registration entry, renews each at half
// of its life, and keeps the trust bundles current. It alone publishes
// states, from the goroutine that runs it; streams only read them.
type rotator struct {
	issuer        Issuer
	jwt           JWTIssuer // nil when the issuer has no JWT profile
	source        Entries
	clock         Clock
	log           *slog.Logger
	defaultTTL    time.Duration
	bundleRefresh time.Duration

	cur atomic.Pointer[state]

	// Owned by the goroutine running run.
	changed    <-chan struct{} // closed when source has new entries
	retry      map[string]retryState
	nextBundle time.Time
	bundleWait time.Duration
}

// retryState is an entry's failed issuance: when to try again, and the
// wait that got it there.
type retryState struct {
	at   time.Time
	wait time.Duration
}

func newRotator(cfg *Config, jwt JWTIssuer) *rotator {
	r := &rotator{
		issuer:        cfg.Issuer,
		jwt:           jwt,
		source:        cfg.Entries,
		clock:         cfg.Clock,
		log:           cfg.Log,
		defaultTTL:    cfg.DefaultTTL,
		bundleRefresh: cfg.BundleRefresh,
		retry:         make(map[string]retryState),
	}
	r.cur.Store(&state{
		svids:     map[string]*x509SVID{},
		attempted: map[string]bool{},
		changed:   make(chan struct{}),
	})
	return r
}

// load reads the entries, so that a workload is matched against them from
// the first call on, before any SVID exists.
func (r *rotator) load() {
	var entries []Entry
	entries, r.changed = r.source.Snapshot()
	r.setEntries(entries)
}

// run renews SVIDs and bundles until ctx ends. load must have been called.
func (r *rotator) run(ctx context.Context) {
	for {
		r.refreshBundles(ctx)
		r.dropExpired()
		r.renew(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.changed:
			r.load()
		case <-r.clock.At(r.nextWake()):
		}
	}
}

// publish makes a copy of the current state, lets edit change it, and
// makes the copy current, waking every stream.
func (r *rotator) publish(edit func(*state)) {
	old := r.cur.Load()
	st := &state{
		entries:    old.entries,
		svids:      maps.Clone(old.svids),
		attempted:  maps.Clone(old.attempted),
		bundle:     old.bundle,
		jwtBundles: old.jwtBundles,
		changed:    make(chan struct{}),
	}
	edit(st)
	r.cur.Store(st)
	close(old.changed)
}

// setEntries compiles entries and publishes them. Invalid entries are
// skipped, and logged: one bad entry from the server must not take every
// workload's identity away. An SVID survives a change of its entry unless
// the entry's SPIFFE ID changed, in which case the workload must no longer
// be handed the old identity.
func (r *rotator) setEntries(entries []Entry) {
	compiled := make([]*entry, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		c, err := compileEntry(e, r.defaultTTL)
		if err == nil && seen[c.id] {
			err = fmt.Errorf("%w %q: duplicate id", ErrEntry, clip(c.id))
		}
		if err != nil {
			r.log.Warn("registration entry skipped", "entry", clip(e.ID), "err", err)
			continue
		}
		seen[c.id] = true
		compiled = append(compiled, &c)
	}
	r.publish(func(st *state) {
		before := make(map[string]*entry, len(st.entries))
		for _, e := range st.entries {
			before[e.id] = e
		}
		svids := make(map[string]*x509SVID, len(compiled))
		attempted := make(map[string]bool, len(compiled))
		keep := make(map[string]bool, len(compiled))
		for _, e := range compiled {
			if old := before[e.id]; old != nil && old.spiffeID == e.spiffeID {
				keep[e.id] = true
				if s := st.svids[e.id]; s != nil {
					svids[e.id] = s
				}
				attempted[e.id] = st.attempted[e.id]
			}
		}
		for id := range r.retry {
			if !keep[id] {
				delete(r.retry, id) // gone, or a new identity: start afresh
			}
		}
		st.entries, st.svids, st.attempted = compiled, svids, attempted
	})
}

// dropExpired takes expired SVIDs out of the state: renewing them failed
// until they expired (the node out of reach), and no workload may be
// handed one.
func (r *rotator) dropExpired() {
	now := r.clock.Now()
	var gone []string
	for id, s := range r.cur.Load().svids {
		if !now.Before(s.expires) {
			gone = append(gone, id)
			r.log.Error("x509-svid expired before it could be renewed", "svid", s, "entry", id)
		}
	}
	if len(gone) > 0 {
		r.publish(func(st *state) {
			for _, id := range gone {
				delete(st.svids, id)
			}
		})
	}
}

// renew issues an SVID for every entry that has none, whose SVID is past
// its renewal time, or whose TTL changed, unless its last failure's wait
// has not passed.
func (r *rotator) renew(ctx context.Context) {
	for _, e := range r.cur.Load().entries {
		if ctx.Err() != nil {
			return
		}
		st := r.cur.Load()
		if st.bundle == nil {
			return // issuance is checked against the bundle; refreshBundles retries
		}
		now := r.clock.Now()
		if s := st.svids[e.id]; s != nil && s.ttl == e.ttl && now.Before(s.renewAt) {
			continue
		}
		if rs, ok := r.retry[e.id]; ok && now.Before(rs.at) {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, issueTimeout)
		svid, err := issueX509SVID(ictx, r.issuer, e, st.bundle, now)
		cancel()
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			rs := r.retry[e.id]
			rs.wait = nextWait(rs.wait)
			rs.at = now.Add(jitter(rs.wait))
			r.retry[e.id] = rs
			attrs := []any{"entry", e.id, "spiffe_id", e.spiffeID.String(), "retry_at", rs.at, "err", err}
			if old := st.svids[e.id]; old != nil {
				attrs = append(attrs, "current_expires", old.expires)
			}
			r.log.Warn("x509-svid issuance failed", attrs...)
		} else {
			delete(r.retry, e.id)
			r.log.Info("x509-svid issued", "svid", svid, "renew_at", svid.renewAt)
		}
		if svid != nil || !st.attempted[e.id] {
			r.publish(func(st *state) {
				st.attempted[e.id] = true
				if svid != nil {
					st.svids[e.id] = svid
				}
			})
		}
	}
}

// refreshBundles re-reads the trust bundles when due, and publishes them
// if they changed.
func (r *rotator) refreshBundles(ctx context.Context) {
	now := r.clock.Now()
	if now.Before(r.nextBundle) {
		return
	}
	if err := r.readBundles(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.bundleWait = nextWait(r.bundleWait)
		r.nextBundle = now.Add(jitter(r.bundleWait))
		r.log.Warn("trust bundle read failed", "retry_at", r.nextBundle, "err", err)
		return
	}
	r.bundleWait = 0
	r.nextBundle = now.Add(r.bundleRefresh)
}

func (r *rotator) readBundles(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	td, auths, err := r.issuer.Bundle(ctx)
	if err != nil {
		return err
	}
	b, err := newX509Bundle(td, auths)
	if err != nil {
		return err
	}
	if st := r.cur.Load(); !b.equal(st.bundle) {
		r.log.Info("trust bundle updated", "trust_domain", b.td.String(), "authorities", len(b.authorities))
		r.publish(func(st *state) { st.bundle = b })
	}
	if r.jwt == nil {
		return nil
	}
	raw, err := r.jwt.JWTBundles(ctx)
	if err != nil {
		return err
	}
	jb, err := newJWTBundles(raw)
	if err != nil {
		return err
	}
	if st := r.cur.Load(); !jb.equal(st.jwtBundles) {
		r.log.Info("jwt bundles updated", "trust_domains", len(jb.byTD))
		r.publish(func(st *state) { st.jwtBundles = jb })
	}
	return nil
}

// nextWake is the earliest time something is due: a renewal, a retry or
// the bundle refresh.
func (r *rotator) nextWake() time.Time {
	wake := r.nextBundle
	st := r.cur.Load()
	for _, e := range st.entries {
		t := time.Time{} // due now: no SVID yet
		if s := st.svids[e.id]; s != nil && s.ttl == e.ttl {
			t = s.renewAt
		}
		if rs, ok := r.retry[e.id]; ok && rs.at.After(t) {
			t = rs.at
		}
		if s := st.svids[e.id]; s != nil && s.expires.Before(t) {
			t = s.expires // to drop it
		}
		if st.bundle == nil {
			continue // nothing can be issued before the bundle is read
		}
		if t.Before(wake) {
			wake = t
		}
	}
	return wake
}

func nextWait(prev time.Duration) time.Duration {
	return min(max(2*prev, minRetry), maxRetry)
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
