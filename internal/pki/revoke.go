package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Reason is a revocation reason code of RFC 5280 §5.3.1.
type Reason int

// The reasons Revoke accepts: those that apply to an end-entity
// certificate and are final (certificateHold is not: revocation never
// comes back).
const (
	ReasonUnspecified          Reason = 0
	ReasonKeyCompromise        Reason = 1
	ReasonAffiliationChanged   Reason = 3
	ReasonSuperseded           Reason = 4
	ReasonCessationOfOperation Reason = 5
	ReasonPrivilegeWithdrawn   Reason = 9
)

func (r Reason) valid() bool {
	switch r {
	case ReasonUnspecified, ReasonKeyCompromise, ReasonAffiliationChanged, ReasonSuperseded, ReasonCessationOfOperation, ReasonPrivilegeWithdrawn:
		return true
	}
	return false
}

// maxSerialBytes is the longest serial number RFC 5280 allows.
const maxSerialBytes = 20

// serialIndex is a serial number as a fixed-size map key, so that a lookup
// allocates nothing.
type serialIndex [maxSerialBytes]byte

func indexOf(serial *big.Int) (serialIndex, bool) {
	var k serialIndex
	if serial == nil || serial.Sign() <= 0 || serial.BitLen() > 8*maxSerialBytes {
		return k, false
	}
	serial.FillBytes(k[:])
	return k, true
}

// Revoke records that the certificate with serial number serial, which
// this CA issued, is revoked for reason, by whom. Every node refuses it
// once its change feed delivers the record; this node at once. Revoking a
// revoked certificate changes nothing and is no error. Errors wrap
// ErrUnknownCert, ErrRequest or a store error.
func (ca *CA) Revoke(ctx context.Context, serial *big.Int, reason Reason, by string) error {
	if _, ok := indexOf(serial); !ok {
		return fmt.Errorf("%w: serial number is not positive or longer than %d bytes", ErrUnknownCert, maxSerialBytes)
	}
	switch {
	case !reason.valid():
		return fmt.Errorf("%w: revocation reason %d is not one this ca uses", ErrRequest, reason)
	case by == "":
		return fmt.Errorf("%w: no revoker named", ErrRequest)
	}
	key := serialKey(serial)
	now := ca.clock().UTC()
	rev, err := ca.st.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, KindCert, key)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: serial %s was not issued by this ca", ErrUnknownCert, key)
		}
		if err != nil {
			return err
		}
		var c CertRecord
		if err := decodeRecord(rec, &c); err != nil {
			return err
		}
		v, err := json.Marshal(Revocation{Serial: key, Reason: reason, By: by, At: now, NotAfter: c.NotAfter})
		if err != nil {
			return err
		}
		_, err = tx.Create(ctx, KindRevoked, key, v)
		if errors.Is(err, store.ErrExists) {
			return nil // the first revocation stands
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", key, err)
	}
	if rev == 0 {
		return nil // already revoked: nothing was written
	}
	ca.log.Info("pki: certificate revoked", "serial", key, "reason", int(reason), "by", by)
	// This node refuses the certificate before Revoke returns, without
	// waiting for its own change to come back through the feed.
	ca.mu.Lock()
	defer ca.mu.Unlock()
	// The revocation is committed: a failure to apply it here (the
	// caller gone, the store hiccuping) leaves it to the feed, and is not
	// the caller's failure.
	if err := ca.rev.apply(context.WithoutCancel(ctx), ca.st, key, rev, ca.log); err != nil {
		ca.log.Warn("pki: applying a committed revocation failed; the change feed will", "serial", key, "err", err)
		return nil
	}
	ca.refreshCRL()
	return nil
}

// Revoked reports whether the CA revoked the certificate with this serial
// number. It reads memory only, kept current by Run, and allocates
// nothing.
func (ca *CA) Revoked(serial *big.Int) bool {
	k, ok := indexOf(serial)
	if !ok {
		return false
	}
	m := ca.rev.set.Load()
	if m == nil {
		return false
	}
	_, ok = m.entries[k]
	return ok
}

// revokedEntry is one revocation in memory.
type revokedEntry struct {
	serial   *big.Int
	reason   Reason
	at       time.Time
	notAfter time.Time
}

// revSet is the revocations at one store revision, immutable once built.
type revSet struct {
	entries map[serialIndex]revokedEntry
	rev     int64 // the store revision it reflects
}

// revocations is a node's view of the revocations in the store, in the
// way of session.Revocations: loaded once, then each change re-reads its
// record, and readers take no lock. Writers hold the CA's mutex.
type revocations struct {
	set atomic.Pointer[revSet]
	crl atomic.Pointer[crlView]
}

// load reads every revocation, replacing what was held.
func (r *revocations) load(ctx context.Context, st store.Store, rev int64, log *slog.Logger) error {
	recs, err := st.List(ctx, KindRevoked, "")
	if err != nil {
		return fmt.Errorf("pki: load revocations: %w", err)
	}
	s := &revSet{entries: make(map[serialIndex]revokedEntry, len(recs)), rev: rev}
	for _, rec := range recs {
		if e, ok := parseRevocation(rec, log); ok {
			k, _ := indexOf(e.serial)
			s.entries[k] = e
		}
	}
	r.set.Store(s)
	return nil
}

// apply brings the revocation of one serial in line with the store. The
// record is read rather than taken from the change, so that applying an
// old change again does no harm.
func (r *revocations) apply(ctx context.Context, st store.Store, key string, rev int64, log *slog.Logger) error {
	rec, err := st.Get(ctx, KindRevoked, key)
	var (
		e  revokedEntry
		ok bool
	)
	switch {
	case err == nil:
		e, ok = parseRevocation(rec, log)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("pki: revocation %s: %w", key, err)
	}
	serial, valid := parseSerialKey(key)
	if !valid {
		return nil // parseRevocation logged it
	}
	k, _ := indexOf(serial)
	s := &revSet{entries: map[serialIndex]revokedEntry{}, rev: rev}
	if old := r.set.Load(); old != nil {
		s.entries = maps.Clone(old.entries)
		s.rev = max(rev, old.rev)
	}
	if ok {
		s.entries[k] = e
	} else {
		delete(s.entries, k)
	}
	r.set.Store(s)
	return nil
}

// parseRevocation reads a revocation record. One whose key is a serial
// but whose value is unreadable still revokes that serial: revocation
// fails closed.
func parseRevocation(rec store.Record, log *slog.Logger) (revokedEntry, bool) {
	serial, ok := parseSerialKey(rec.Key)
	if !ok {
		log.Error("pki: revocation record key is not a serial number; ignored", "key", rec.Key, "revision", rec.Revision)
		return revokedEntry{}, false
	}
	var v Revocation
	if err := json.Unmarshal(rec.Value, &v); err != nil || v.At.IsZero() {
		log.Error("pki: unreadable revocation record: the serial stays revoked", "serial", rec.Key, "revision", rec.Revision)
		return revokedEntry{serial: serial, at: rec.Updated, notAfter: farFuture}, true
	}
	return revokedEntry{serial: serial, reason: v.Reason, at: v.At, notAfter: v.NotAfter}, true
}

// farFuture keeps an unreadable revocation on the CRL.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Prune deletes the records of certificates, and of revocations, whose
// certificate expired before before: a revocation of an expired
// certificate protects nothing, and the record of a certificate nobody
// can use any more is history for the audit log, not state. It returns
// how many records it deleted. It reads every record of both kinds, so
// call it now and then (daily), not per request.
func (ca *CA) Prune(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for _, kind := range []string{KindCert, KindRevoked} {
		recs, err := ca.st.List(ctx, kind, "")
		if err != nil {
			return n, fmt.Errorf("pki: prune %s: %w", kind, err)
		}
		var gone []string
		for _, rec := range recs {
			var v struct {
				NotAfter time.Time `json:"not_after"`
			}
			// An unreadable record is kept: it may be a revocation, and
			// those fail closed.
			if json.Unmarshal(rec.Value, &v) == nil && !v.NotAfter.IsZero() && v.NotAfter.Before(before) {
				gone = append(gone, rec.Key)
			}
		}
		for start := 0; start < len(gone); start += 500 {
			batch := gone[start:min(start+500, len(gone))]
			if _, err := ca.st.Update(ctx, func(tx store.Tx) error {
				for _, key := range batch {
					if _, err := tx.Delete(ctx, kind, key); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				}
				return nil
			}); err != nil {
				return n, fmt.Errorf("pki: prune %s: %w", kind, err)
			}
			n += len(batch)
		}
	}
	if n > 0 {
		ca.log.Info("pki: expired records pruned", "records", n, "expired_before", before)
	}
	return n, nil
}
