package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// RevocationKind is the store kind of session revocations. A record's key
// is the ARN of the principal whose sessions are revoked; its value a
// [Revocation] in JSON.
const RevocationKind = "session-revocation"

// ErrRevoked classifies a token refused because its principal's sessions
// were revoked after it was issued.
var ErrRevoked = errors.New("session: revoked")

// Revocation refuses every session token of a principal issued before
// Before. Tokens carry their issue time to the nanosecond (tokens of
// earlier versions to the second, rounded down, which refuses those issued
// in the same second just after Before: the error falls on the safe side).
type Revocation struct {
	Before time.Time `json:"before"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// Revoke records that every session of principal issued before r.Before is
// refused, and returns the write's revision. A revocation already on record
// with a later Before is kept: revoking never brings sessions back.
func Revoke(ctx context.Context, s store.Store, principal string, r Revocation) (int64, error) {
	if !strings.HasPrefix(principal, "arn:") {
		return 0, fmt.Errorf("%w: principal %q is not an ARN", store.ErrInvalid, principal)
	}
	if r.Before.IsZero() {
		return 0, fmt.Errorf("%w: revocation without a time", store.ErrInvalid)
	}
	r.Before = r.Before.UTC()
	return s.Update(ctx, func(tx store.Tx) error {
		old, err := tx.Get(ctx, RevocationKind, principal)
		if err == nil {
			var o Revocation
			if json.Unmarshal(old.Value, &o) == nil && o.Before.After(r.Before) {
				r.Before = o.Before
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, RevocationKind, principal, v)
		return err
	})
}

// Revocations is a node's view of the session revocations in the store:
// loaded once with Load and kept current by Run, so that checking a token
// neither reads the store nor allocates. The zero value holds none.
type Revocations struct {
	Log *slog.Logger // where unreadable records are reported; slog.Default when nil

	// m is replaced whole on every change, so readers take no lock.
	m atomic.Pointer[map[string]time.Time]

	mu  sync.Mutex // serializes writers
	st  store.Store
	pos int64 // the revision the map reflects
}

// RevokedBefore returns the time before which principal's sessions are
// refused, if they are. It is safe on a nil *Revocations.
func (r *Revocations) RevokedBefore(principal string) (time.Time, bool) {
	if r == nil {
		return time.Time{}, false
	}
	m := r.m.Load()
	if m == nil {
		return time.Time{}, false
	}
	t, ok := (*m)[principal]
	return t, ok
}

// Check returns an error wrapping [ErrRevoked] when the session c was
// issued before a revocation of its principal or, for a role session, of
// its role. It is safe on a nil *Revocations.
func (r *Revocations) Check(c *Claims) error {
	if before, ok := r.RevokedBefore(c.Principal); ok && c.Issued.Before(before) {
		return fmt.Errorf("%w: sessions of %s issued before %s", ErrRevoked, c.Principal, before.Format(time.RFC3339))
	}
	if c.Role != nil {
		if before, ok := r.RevokedBefore(c.Role.RoleARN); ok && c.Issued.Before(before) {
			return fmt.Errorf("%w: sessions of %s issued before %s", ErrRevoked, c.Role.RoleARN, before.Format(time.RFC3339))
		}
	}
	return nil
}

// Load reads every revocation in s, replacing what r held, and positions
// r to follow s's change feed from there.
func (r *Revocations) Load(ctx context.Context, s store.Store) error {
	// The revision is read before the list: a change between the two is
	// seen again by Run, which re-reads the record, so none is missed.
	rev, err := s.Revision(ctx)
	if err != nil {
		return fmt.Errorf("session revocations: %w", err)
	}
	recs, err := s.List(ctx, RevocationKind, "")
	if err != nil {
		return fmt.Errorf("session revocations: %w", err)
	}
	m := make(map[string]time.Time, len(recs))
	for _, rec := range recs {
		if t, ok := r.parse(rec); ok {
			m[rec.Key] = t
		}
	}
	r.mu.Lock()
	r.st, r.pos = s, rev
	r.m.Store(&m)
	r.mu.Unlock()
	return nil
}

// Run follows the change feed of the store given to Load until ctx ends or
// the feed fails, applying each change to a revocation. When the feed has
// lost changes it reloads in full. Run may be called again after an error:
// it resumes where it stopped.
func (r *Revocations) Run(ctx context.Context) error {
	r.mu.Lock()
	s := r.st
	r.mu.Unlock()
	if s == nil {
		return errors.New("session revocations: Run before Load")
	}
	from := func() int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pos
	}
	reload := func(ctx context.Context) error { return r.Load(ctx, s) }
	return store.Follow(ctx, s.Watch, "session revocations", from, reload, func(ctx context.Context, c store.Change) error {
		if c.Kind == RevocationKind {
			if err := r.apply(ctx, s, c.Key); err != nil {
				return err // pos is unchanged: the change is applied again
			}
		}
		r.mu.Lock()
		r.pos = c.Revision
		r.mu.Unlock()
		return nil
	})
}

// apply brings the revocation of principal in line with the store. The
// record is read rather than taken from the change, so that applying an
// old change again does no harm.
func (r *Revocations) apply(ctx context.Context, s store.Store, principal string) error {
	rec, err := s.Get(ctx, RevocationKind, principal)
	var (
		t  time.Time
		ok bool
	)
	switch {
	case err == nil:
		t, ok = r.parse(rec)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("session revocations: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var m map[string]time.Time
	if old := r.m.Load(); old != nil {
		m = maps.Clone(*old)
	}
	if m == nil {
		m = make(map[string]time.Time, 1)
	}
	if ok {
		m[principal] = t
	} else {
		delete(m, principal)
	}
	r.m.Store(&m)
	return nil
}

// unreadable is the revoked-before time of a record that cannot be read:
// a revocation fails closed, refusing every session of its principal.
var unreadable = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func (r *Revocations) parse(rec store.Record) (time.Time, bool) {
	var v Revocation
	if err := json.Unmarshal(rec.Value, &v); err != nil || v.Before.IsZero() {
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("unreadable session revocation: refusing every session of its principal", "principal", rec.Key, "revision", rec.Revision)
		return unreadable, true
	}
	return v.Before, true
}
