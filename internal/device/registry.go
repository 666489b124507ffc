package device

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// Defaults and limits of Config.
const (
	// DefaultCertTTL is a device certificate's lifetime unless
	// Config.CertTTL says otherwise; the CA's maximum caps it.
	DefaultCertTTL = 30 * 24 * time.Hour
	// DefaultTokenTTL is an enrollment token's lifetime when the request
	// names none; MaxTokenTTL caps any.
	DefaultTokenTTL = 24 * time.Hour
	MaxTokenTTL     = 30 * 24 * time.Hour
	// DefaultMaxPostureAge is how old a report may be for its device to
	// count as compliant.
	DefaultMaxPostureAge = time.Hour
	// MaxClockSkew is how far a report's iat may lie from the server's
	// time, either way.
	MaxClockSkew = 5 * time.Minute
)

// Authority is what the registry needs of the CA; *pki.CA is one.
type Authority interface {
	Sign(ctx context.Context, req pki.Request, opts ...pki.SignOption) ([]*x509.Certificate, error)
	Revoke(ctx context.Context, serial *big.Int, reason pki.Reason, by string) error
	VerifySVID(chain []*x509.Certificate) (*pki.SVID, error)
	TrustDomain() pki.TrustDomain
}

var _ Authority = (*pki.CA)(nil)

// Config is what Open needs. Store and CA are required.
type Config struct {
	Store store.Store
	CA    Authority
	Clock func() time.Time // time.Now when nil
	Log   *slog.Logger     // unreadable records, failed clean-ups; discarded when nil

	// CertTTL is a device certificate's lifetime: DefaultCertTTL when
	// zero, and never above MaxCertTTL.
	CertTTL time.Duration
	// MaxCertTTL is the CA's cap on any certificate (its ca.max_ttl):
	// pki.DefaultMaxTTL when zero. The CA refuses a longer lifetime
	// rather than shorten it, so the registry shortens it.
	MaxCertTTL time.Duration
	// TokenTTL is an enrollment token's lifetime when its request names
	// none: DefaultTokenTTL when zero.
	TokenTTL time.Duration
	// MaxPostureAge is how old the last report may be for the device to
	// be compliant: DefaultMaxPostureAge when zero.
	MaxPostureAge time.Duration
}

// Registry is the device registry of one node. It is safe for concurrent
// use; Context and the other readers of memory take no lock.
type Registry struct {
	st       store.Store
	ca       Authority
	clock    func() time.Time
	log      *slog.Logger
	certTTL  time.Duration
	tokenTTL time.Duration
	maxAge   time.Duration

	// devs maps device IDs to their slots. The map is replaced whole when
	// a device appears or goes; a slot's state is replaced on every change
	// to its device or posture, so a report costs no copy of the map.
	devs atomic.Pointer[map[string]*slot]

	mu  sync.Mutex // serializes writers of devs and pos
	pos int64      // the store revision memory reflects
}

type slot struct{ v atomic.Pointer[state] }

// state is what memory holds of one device, immutable once stored, with
// the store revisions of its two records.
type state struct {
	dev     *deviceRecord
	posture *postureRecord // nil before the first report
	devRev  int64
	postRev int64
}

// Open loads the devices and their last reports from c.Store. Call Run in
// the background to keep them current with what every node writes.
func Open(ctx context.Context, c Config) (*Registry, error) {
	r := &Registry{
		st: c.Store, ca: c.CA, clock: c.Clock, log: c.Log,
		certTTL:  or(c.CertTTL, DefaultCertTTL),
		tokenTTL: or(c.TokenTTL, DefaultTokenTTL),
		maxAge:   or(c.MaxPostureAge, DefaultMaxPostureAge),
	}
	maxCert := or(c.MaxCertTTL, pki.DefaultMaxTTL)
	switch {
	case c.Store == nil || c.CA == nil:
		return nil, fmt.Errorf("%w: a store and a ca are required", ErrConfig)
	case c.CertTTL < 0 || c.MaxCertTTL < 0 || c.TokenTTL < 0 || c.MaxPostureAge < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	case r.tokenTTL > MaxTokenTTL:
		return nil, fmt.Errorf("%w: token ttl %s above %s", ErrConfig, r.tokenTTL, MaxTokenTTL)
	}
	r.certTTL = min(r.certTTL, maxCert)
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := r.Load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Load reads every device and report anew, replacing what memory holds.
// Run does so when the change feed has lost changes.
func (r *Registry) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load(ctx)
}

// load is Load with r.mu held.
func (r *Registry) load(ctx context.Context) error {
	// The revision is read first: a change made while loading is seen
	// again by Run, which re-reads its record, so none is missed.
	rev, err := r.st.Revision(ctx)
	if err != nil {
		return fmt.Errorf("device: load: %w", err)
	}
	devs, err := r.st.List(ctx, KindDevice, "")
	if err != nil {
		return fmt.Errorf("device: load devices: %w", err)
	}
	postures, err := r.st.List(ctx, KindPosture, "")
	if err != nil {
		return fmt.Errorf("device: load posture reports: %w", err)
	}
	m := make(map[string]*slot, len(devs))
	for _, rec := range devs {
		d, err := decodeDevice(rec)
		if err != nil {
			r.log.Error("device: unreadable device record ignored", "key", rec.Key, "revision", rec.Revision, "err", err)
			continue
		}
		s := new(slot)
		s.v.Store(&state{dev: d, devRev: rec.Revision})
		m[d.ID] = s
	}
	for _, rec := range postures {
		s := m[rec.Key]
		if s == nil {
			continue // a report of a device whose record is gone
		}
		p, err := decodePosture(rec)
		if err != nil {
			r.log.Error("device: unreadable posture record ignored", "key", rec.Key, "revision", rec.Revision, "err", err)
			continue
		}
		old := s.v.Load()
		s.v.Store(&state{dev: old.dev, devRev: old.devRev, posture: p, postRev: rec.Revision})
	}
	r.devs.Store(&m)
	r.pos = rev
	return nil
}

// Run follows the store's change feed until ctx ends, so that devices
// enrolled, revoked or reporting on any node reach this one. When the
// feed has lost changes it reloads in full. Run may be called again after
// an error: it resumes where it stopped.
func (r *Registry) Run(ctx context.Context) error {
	from := func() int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pos
	}
	reload := func(ctx context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.load(ctx)
	}
	return store.Follow(ctx, r.st.Watch, "device", from, reload, func(ctx context.Context, c store.Change) error {
		if c.Kind == KindDevice || c.Kind == KindPosture {
			if err := r.apply(ctx, c.Key); err != nil {
				return err // the position is unchanged: the change is applied again
			}
		}
		r.mu.Lock()
		r.pos = max(r.pos, c.Revision)
		r.mu.Unlock()
		return nil
	})
}

// apply brings memory's view of one device in line with the store. The
// records are read rather than taken from the change, so that applying
// an old change again does no harm; the node that wrote calls it too,
// so that it sees its own write before the feed brings it. A record read
// earlier than the one memory holds (two applies racing) never replaces
// it.
func (r *Registry) apply(ctx context.Context, id string) error {
	var (
		d            *deviceRecord
		p            *postureRecord
		dRev, pRev   int64
		deviceExists bool
	)
	rec, err := r.st.Get(ctx, KindDevice, id)
	switch {
	case err == nil:
		deviceExists = true
		if d, err = decodeDevice(rec); err != nil {
			r.log.Error("device: unreadable device record ignored", "key", id, "revision", rec.Revision, "err", err)
		}
		dRev = rec.Revision
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("device: read %s: %w", id, err)
	}
	if d != nil {
		rec, err := r.st.Get(ctx, KindPosture, id)
		switch {
		case err == nil:
			if p, err = decodePosture(rec); err != nil {
				r.log.Error("device: unreadable posture record ignored", "key", id, "revision", rec.Revision, "err", err)
			}
			pRev = rec.Revision
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("device: read posture of %s: %w", id, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.devs.Load()
	s := old[id]
	switch {
	case d == nil && s != nil && !deviceExists:
		m := maps.Clone(old)
		delete(m, id)
		r.devs.Store(&m)
	case d == nil:
		// An unreadable record leaves memory as it was: a revoked
		// device stays revoked.
	case s == nil:
		s = new(slot)
		s.v.Store(&state{dev: d, posture: p, devRev: dRev, postRev: pRev})
		m := maps.Clone(old)
		m[id] = s
		r.devs.Store(&m)
	default:
		cur := s.v.Load()
		if cur.devRev > dRev {
			d, dRev = cur.dev, cur.devRev
		}
		if cur.postRev > pRev {
			p, pRev = cur.posture, cur.postRev
		}
		s.v.Store(&state{dev: d, posture: p, devRev: dRev, postRev: pRev})
	}
	return nil
}

// lookup returns what memory holds of a device, or nil.
func (r *Registry) lookup(id string) *state {
	s := (*r.devs.Load())[id]
	if s == nil {
		return nil
	}
	return s.v.Load()
}

// Lookup returns the device as memory holds it, without reading the
// store.
func (r *Registry) Lookup(id string) (Device, bool) {
	st := r.lookup(id)
	if st == nil {
		return Device{}, false
	}
	return view(st.dev, st.posture), true
}

// Device reads one device from the store. Errors wrap ErrNotFound or a
// store error.
func (r *Registry) Device(ctx context.Context, id string) (Device, error) {
	d, p, err := r.read(ctx, id)
	if err != nil {
		return Device{}, err
	}
	return view(d, p), nil
}

// read reads a device and its last report from the store.
func (r *Registry) read(ctx context.Context, id string) (*deviceRecord, *postureRecord, error) {
	if !ValidID(id) {
		return nil, nil, fmt.Errorf("%w: no device %s", ErrNotFound, quote(id))
	}
	rec, err := r.st.Get(ctx, KindDevice, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: no device %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("device: read %s: %w", id, err)
	}
	d, err := decodeDevice(rec)
	if err != nil {
		return nil, nil, err
	}
	prec, err := r.st.Get(ctx, KindPosture, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return d, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("device: read posture of %s: %w", id, err)
	}
	p, err := decodePosture(prec)
	if err != nil {
		r.log.Error("device: unreadable posture record ignored", "key", id, "revision", prec.Revision, "err", err)
		return d, nil, nil
	}
	return d, p, nil
}

// Devices reads every device from the store, in ID order.
func (r *Registry) Devices(ctx context.Context) ([]Device, error) {
	recs, err := r.st.List(ctx, KindDevice, "")
	if err != nil {
		return nil, fmt.Errorf("device: list: %w", err)
	}
	postures, err := r.st.List(ctx, KindPosture, "")
	if err != nil {
		return nil, fmt.Errorf("device: list posture reports: %w", err)
	}
	ps := make(map[string]*postureRecord, len(postures))
	for _, rec := range postures {
		if p, err := decodePosture(rec); err == nil {
			ps[p.DeviceID] = p
		}
	}
	out := make([]Device, 0, len(recs))
	for _, rec := range recs {
		d, err := decodeDevice(rec)
		if err != nil {
			r.log.Error("device: unreadable device record ignored", "key", rec.Key, "revision", rec.Revision, "err", err)
			continue
		}
		out = append(out, view(d, ps[d.ID]))
	}
	return out, nil
}
