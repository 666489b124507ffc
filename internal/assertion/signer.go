package assertion

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// Defaults and limits of Config.
const (
	DefaultTTL       = 5 * time.Minute
	DefaultRotate    = 24 * time.Hour
	DefaultIssuer    = "ztgate"
	DefaultCacheSize = 10000

	// MaxTTL bounds an assertion's lifetime: it is a bearer credential
	// once it leaves the gateway.
	MaxTTL = time.Hour
)

const (
	// jwksMaxAge is how long upstreams may cache the JWKS.
	jwksMaxAge = 5 * time.Minute
	// publishLead is how long a scheduled key is in the JWKS before it
	// signs: twice the max-age, so every upstream that follows the cache
	// headers has it in time.
	publishLead = 2 * jwksMaxAge
	// maintainEvery is how often Run calls Maintain.
	maintainEvery = time.Minute
)

// Config is what New needs. Store and KEK are required.
type Config struct {
	Store store.Store // keys are records of kind KeyKind
	KEK   *secret.KEK // seals the private keys
	// TTL is an assertion's lifetime: DefaultTTL when zero, at most MaxTTL.
	TTL time.Duration
	// Rotate is how long a key signs before the next one takes over, when
	// Run (or Maintain) is running: DefaultRotate when zero, at least TTL.
	// A new key is announced ten minutes before it signs, so keys last at
	// least that long whatever Rotate says.
	Rotate time.Duration
	Clock  func() time.Time // time.Now when nil
	// Rand supplies the jti of each assertion; crypto/rand.Reader when
	// nil. It must be safe for concurrent use. Keys and signatures always
	// come from the system's secure source: Go 1.26 ignores any other.
	Rand   io.Reader
	Issuer string // the iss claim: DefaultIssuer when empty
	// CacheSize bounds the assertions Cached keeps: DefaultCacheSize when
	// zero.
	CacheSize int
	Log       *slog.Logger // key creation, deletion and Run's failures; discarded when nil
}

// Signer signs assertions with the cluster's current key and publishes the
// keys that verify them. It is safe for concurrent use.
type Signer struct {
	st     store.Store
	kek    *secret.KEK
	ttl    time.Duration
	rotate time.Duration
	clock  func() time.Time
	rand   io.Reader
	issuer string
	log    *slog.Logger

	keys atomic.Pointer[keySet]   // replaced whole by load
	jwks atomic.Pointer[jwksView] // the last JWKS built, reused while valid
	mu   sync.Mutex               // serializes load, Rotate and Maintain

	cache cache
}

var (
	_ fmt.Formatter  = (*Signer)(nil)
	_ slog.LogValuer = (*Signer)(nil)
)

// keySet is the keys loaded from the store, immutable once built.
type keySet struct {
	keys []*signingKey // by generation, ascending; none retired at load
	rev  int64         // the store's revision before they were read
}

// signing returns the key that signs at now: the newest that has started.
func (ks *keySet) signing(now time.Time) *signingKey {
	for i := len(ks.keys) - 1; i >= 0; i-- {
		if !ks.keys[i].active.After(now) {
			return ks.keys[i]
		}
	}
	// Every key starts after now: this node's clock is behind the one
	// that made them. Use the one that started first, which the other
	// nodes have signed with.
	first := ks.keys[0]
	for _, k := range ks.keys[1:] {
		if k.active.Before(first.active) {
			first = k
		}
	}
	return first
}

// New returns a Signer with the keys in c.Store, creating the first key
// when there is none. Nodes that start at once create one key between them.
func New(ctx context.Context, c Config) (*Signer, error) {
	switch {
	case c.Store == nil:
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	case c.KEK.ID() == "":
		return nil, fmt.Errorf("%w: no key-encryption key", ErrConfig)
	case c.TTL < 0 || c.TTL > MaxTTL:
		return nil, fmt.Errorf("%w: ttl %s outside (0, %s]", ErrConfig, c.TTL, MaxTTL)
	case c.Rotate < 0:
		return nil, fmt.Errorf("%w: negative rotation period", ErrConfig)
	case c.CacheSize < 0:
		return nil, fmt.Errorf("%w: negative cache size", ErrConfig)
	}
	s := &Signer{
		st:     c.Store,
		kek:    c.KEK,
		ttl:    cmp.Or(c.TTL, DefaultTTL),
		rotate: cmp.Or(c.Rotate, DefaultRotate),
		clock:  c.Clock,
		rand:   c.Rand,
		issuer: cmp.Or(c.Issuer, DefaultIssuer),
		log:    c.Log,
	}
	if s.rotate < s.ttl {
		return nil, fmt.Errorf("%w: rotation period %s shorter than ttl %s", ErrConfig, s.rotate, s.ttl)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cache.init(cmp.Or(c.CacheSize, DefaultCacheSize))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Format prints the signing key's id only, whatever the verb: a Signer
// holds private keys and recently signed assertions.
func (s *Signer) Format(f fmt.State, _ rune) {
	io.WriteString(f, "[assertion signer "+s.current().kid+"]")
}

// LogValue makes log/slog print the signing key's id only.
func (s *Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", s.current().kid))
}

func (s *Signer) current() *signingKey { return s.keys.Load().signing(s.clock()) }

// KeyID returns the id of the key that signs now.
func (s *Signer) KeyID() string { return s.current().kid }

// Sign signs c with the current key. IssuedAt (now), Expires (IssuedAt
// plus the TTL), ID (16 random bytes) and Issuer are filled in when zero.
// Subject and Audience are required; a lifetime longer than the TTL is
// refused. Errors wrap ErrClaims when the claims are at fault.
func (s *Signer) Sign(c Claims) (string, error) {
	now := s.clock()
	return s.sign(s.keys.Load().signing(now), &c, now)
}

// payloadBufs recycles the buffers claims are written to before encoding.
var payloadBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sign fills in c's missing claims and signs it with k.
func (s *Signer) sign(k *signingKey, c *Claims, now time.Time) (string, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.Expires.IsZero() {
		c.Expires = c.IssuedAt.Add(s.ttl)
	}
	if c.Issuer == "" {
		c.Issuer = s.issuer
	}
	if c.ID == "" {
		var id [16]byte
		if _, err := io.ReadFull(s.rand, id[:]); err != nil {
			return "", fmt.Errorf("assertion: jti: %w", err)
		}
		c.ID = b64.EncodeToString(id[:])
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrClaims, err)
	}
	if c.Expires.Sub(c.IssuedAt) > s.ttl {
		// Keys are published for 2×TTL after their last use: a longer
		// lived assertion would stop verifying before it expires.
		return "", fmt.Errorf("%w: lifetime %s longer than the ttl %s", ErrClaims, c.Expires.Sub(c.IssuedAt), s.ttl)
	}
	var device []byte
	if len(c.Device) > 0 {
		var err error
		if device, err = json.Marshal(c.Device); err != nil {
			return "", fmt.Errorf("%w: device is not json: %w", ErrClaims, err)
		}
	}
	buf := payloadBufs.Get().(*[]byte)
	payload := appendClaims((*buf)[:0], c, device)
	out := make([]byte, 0, len(k.header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(sigSize))
	out = append(out, k.header...)
	out = b64.AppendEncode(out, payload)
	if cap(payload) <= 64<<10 { // a huge one would stay pinned in the pool
		*buf = payload
		payloadBufs.Put(buf)
	}
	digest := sha256.Sum256(out)
	der, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("assertion: sign with key %s: %w", k.kid, err)
	}
	var sig [sigSize]byte
	if !derToRaw(der, &sig) {
		return "", fmt.Errorf("assertion: sign with key %s: unexpected signature encoding", k.kid)
	}
	out = append(out, '.')
	out = b64.AppendEncode(out, sig[:])
	return string(out), nil
}

// Reload re-reads the keys from the store, for when another node rotated
// or deleted one (Run does it on every such change). On error the keys
// held before stay in use.
func (s *Signer) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

// Rotate makes a new key that signs from now on: for emergencies, since an
// upstream that cached the JWKS may refuse the new key's tokens until it
// refetches. Scheduled rotation, through Maintain, announces keys first.
func (s *Signer) Rotate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	var err error
	for range 16 { // each ErrExists is another node's success
		// The next generation is read inside the transaction; ErrExists
		// means another node took it between that read and the write.
		_, err = s.st.Update(ctx, func(tx store.Tx) error {
			recs, err := tx.List(ctx, KeyKind, "")
			if err != nil {
				return err
			}
			var last int64
			for _, r := range recs {
				if gen, ok := parseRecordKey(r.Key); ok && gen > last {
					last = gen
				}
			}
			return s.create(ctx, tx, last+1, now, now)
		})
		if !errors.Is(err, store.ErrExists) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("assertion: rotate: %w", err)
	}
	return s.load(ctx)
}

// Maintain rotates on schedule and forgets old keys: when the current key
// is due for replacement within the publishing lead and no successor
// exists, it creates one that starts signing at the end of the rotation
// period, never less than the lead from now; and it deletes the records of
// keys that have left the JWKS. Every node may call it: a successor that
// another node created first is taken as is. Run calls it every minute.
func (s *Signer) Maintain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	ks := s.keys.Load()
	newest := ks.keys[len(ks.keys)-1]
	changed := false
	if !newest.active.After(now) && !now.Before(newest.active.Add(s.rotate-publishLead)) {
		active := newest.active.Add(s.rotate)
		if earliest := now.Add(publishLead); active.Before(earliest) {
			active = earliest
		}
		_, err := s.st.Update(ctx, func(tx store.Tx) error {
			return s.create(ctx, tx, newest.gen+1, now, active)
		})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("assertion: rotate: %w", err)
		}
		changed = true
	}
	deleted, err := s.deleteRetired(ctx, now)
	if err != nil {
		return fmt.Errorf("assertion: delete retired keys: %w", err)
	}
	if changed || deleted > 0 {
		return s.load(ctx)
	}
	return nil
}

// deleteRetired deletes the records of keys that left the JWKS at least a
// TTL ago (the extra TTL is for nodes whose clock is behind).
func (s *Signer) deleteRetired(ctx context.Context, now time.Time) (int, error) {
	var gone []*keyRecord
	_, err := s.st.Update(ctx, func(tx store.Tx) error {
		gone = gone[:0]
		recs, err := tx.List(ctx, KeyKind, "")
		if err != nil {
			return err
		}
		keys, _ := parseRecords(recs, true) // unreadable records are left for load to report
		for i, k := range keys {
			if r := k.retires(s.ttl); !r.IsZero() && !now.Before(r.Add(s.ttl)) {
				if _, err := tx.Delete(ctx, KeyKind, recordKey(k.gen)); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				gone = append(gone, keys[i].rec)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, r := range gone {
		s.log.Info("assertion key deleted", "kid", r.Kid)
	}
	return len(gone), nil
}

// create writes generation gen, a new key that signs from active. The
// caller's transaction commits it; ErrExists means another node made that
// generation first.
func (s *Signer) create(ctx context.Context, tx store.Tx, gen int64, now, active time.Time) error {
	r, v, err := newKeyRecord(s.kek, now, active)
	if err != nil {
		return err
	}
	if _, err := tx.Create(ctx, KeyKind, recordKey(gen), v); err != nil {
		return err
	}
	s.log.Info("assertion key created", "kid", r.Kid, "generation", gen, "active", r.Active)
	return nil
}

// load reads the keys from the store, creating the first when there is
// none, and makes them current. The caller holds s.mu.
func (s *Signer) load(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		// The revision is read before the list, so a change made between
		// the two is seen again by Run, never missed.
		rev, err := s.st.Revision(ctx)
		if err != nil {
			return fmt.Errorf("assertion: load keys: %w", err)
		}
		recs, err := s.st.List(ctx, KeyKind, "")
		if err != nil {
			return fmt.Errorf("assertion: load keys: %w", err)
		}
		if len(recs) == 0 && attempt == 0 {
			now := s.clock()
			_, err := s.st.Update(ctx, func(tx store.Tx) error {
				return s.create(ctx, tx, 1, now, now)
			})
			if err != nil && !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("assertion: create the first key: %w", err)
			}
			continue // read what was written, by this node or another
		}
		if len(recs) == 0 {
			return fmt.Errorf("assertion: load keys: the first key vanished after it was created")
		}
		ks, err := s.build(recs, rev)
		if err != nil {
			return fmt.Errorf("assertion: load keys: %w", err)
		}
		s.keys.Store(ks)
		return nil
	}
}

// loadedKey is a record parsed, its private half still sealed.
type loadedKey struct {
	signingKey
	rec *keyRecord
}

// parseRecords reads records and works out when each key stops signing.
// With lenient set, records that cannot be read are skipped rather than
// reported.
func parseRecords(recs []store.Record, lenient bool) ([]*loadedKey, error) {
	keys := make([]*loadedKey, 0, len(recs))
	for _, rec := range recs {
		r, gen, err := parseRecord(rec)
		if err != nil {
			if lenient {
				continue
			}
			return nil, err
		}
		keys = append(keys, &loadedKey{signingKey: signingKey{gen: gen, kid: r.Kid, active: r.Active}, rec: r})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].gen < keys[j].gen })
	// A key stops signing when the first later key starts.
	var next time.Time
	for i := len(keys) - 1; i >= 0; i-- {
		keys[i].until = next
		if next.IsZero() || keys[i].active.Before(next) {
			next = keys[i].active
		}
	}
	return keys, nil
}

// build opens the keys still in the JWKS. A record that cannot be read or
// opened is an error: a node must not silently sign with, or publish, fewer
// keys than its peers.
func (s *Signer) build(recs []store.Record, rev int64) (*keySet, error) {
	keys, err := parseRecords(recs, false)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	ks := &keySet{rev: rev}
	for i, k := range keys {
		if r := k.retires(s.ttl); !r.IsZero() && !now.Before(r) {
			continue
		}
		priv, err := k.rec.open(s.kek, k.gen)
		if err != nil {
			return nil, err
		}
		sk := k.rec.signingKey(k.gen, priv)
		sk.until = keys[i].until
		ks.keys = append(ks.keys, sk)
	}
	if len(ks.keys) == 0 {
		// Cannot happen: the newest key never retires.
		return nil, fmt.Errorf("%w: no usable key", ErrKeyRecord)
	}
	return ks, nil
}

// Run keeps the signer current until ctx ends: it reloads the keys when the
// store's change feed reports a change to one, and calls Maintain every
// minute. Failures to reload or maintain are logged and retried; Run
// returns only when ctx ends (nil) or the feed fails.
func (s *Signer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	watchErr := make(chan error, 1)
	go func() { watchErr <- s.watch(ctx, s.keys.Load().rev, changed) }()
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for maintain := true; ; {
		if maintain {
			if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("assertion key maintenance failed", "err", err)
			}
			maintain = false
		}
		select {
		case <-ctx.Done():
			<-watchErr
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-changed:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("assertion key reload failed", "err", err)
			}
		case <-t.C:
			maintain = true
		}
	}
}

// watch follows the change feed from rev and signals changed, without
// blocking, on each change to a key record.
func (s *Signer) watch(ctx context.Context, rev int64, changed chan<- struct{}) error {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default: // a reload is already due
		}
	}
	// Changes were pruned before this node saw them: reload in full, from
	// a revision read before the reload.
	reload := func(ctx context.Context) error {
		r, err := s.st.Revision(ctx)
		if err != nil {
			return fmt.Errorf("assertion keys: %w", err)
		}
		rev = r
		signal()
		return nil
	}
	return store.Follow(ctx, s.st.Watch, "assertion keys", func() int64 { return rev }, reload, func(_ context.Context, c store.Change) error {
		if c.Kind == KeyKind {
			signal()
		}
		return nil
	})
}

// jwksView is a JWKS as published between two moments at which a key
// leaves it.
type jwksView struct {
	set         *keySet // built from
	body        []byte
	etag        string
	from, until time.Time // valid for from <= now < until; zero until: for ever
}

func (v *jwksView) validAt(set *keySet, now time.Time) bool {
	return v.set == set && !now.Before(v.from) && (v.until.IsZero() || now.Before(v.until))
}

// JWKS returns the key set upstreams verify assertions with: the current
// key, any key announced to succeed it, and keys that stopped signing less
// than twice the TTL ago, newest first.
func (s *Signer) JWKS() []byte {
	return bytes.Clone(s.jwksAt(s.clock()).body)
}

func (s *Signer) jwksAt(now time.Time) *jwksView {
	set := s.keys.Load()
	if v := s.jwks.Load(); v != nil && v.validAt(set, now) {
		return v
	}
	v := &jwksView{set: set}
	b := []byte(`{"keys":[`)
	n := 0
	for i := len(set.keys) - 1; i >= 0; i-- {
		k := set.keys[i]
		r := k.retires(s.ttl)
		if !r.IsZero() && !now.Before(r) {
			if r.After(v.from) {
				v.from = r
			}
			continue
		}
		if !r.IsZero() && (v.until.IsZero() || r.Before(v.until)) {
			v.until = r
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, k.jwk...)
		n++
	}
	v.body = append(b, "]}"...)
	sum := sha256.Sum256(v.body)
	v.etag = strconv.Quote(hex.EncodeToString(sum[:12]))
	s.jwks.Store(v)
	return v
}

// JWKSHandler serves JWKS to GET and HEAD, as application/jwk-set+json
// that upstreams may cache for five minutes, with an ETag for conditional
// requests.
func (s *Signer) JWKSHandler() http.Handler {
	maxAge := "max-age=" + strconv.Itoa(int(jwksMaxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		v := s.jwksAt(s.clock())
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", maxAge)
		h.Set("ETag", v.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.body))
	})
}
