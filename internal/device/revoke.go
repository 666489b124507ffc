package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// maxReasonLen bounds the reason recorded with a revocation.
const maxReasonLen = 512

// Revoke marks the device revoked and revokes every certificate issued to
// it, by whom and why. Every node refuses the device's reports and stops
// giving it facts once its change feed brings the device record, and
// refuses its certificates once it brings the revocations; this node at
// once. Revoking a revoked device keeps the first revocation and revokes
// its certificates again, so that a revocation interrupted half-way is
// completed by trying again. Errors wrap ErrNotFound, ErrInvalid, or a
// store or CA error.
func (r *Registry) Revoke(ctx context.Context, id, by, reason string) (Device, error) {
	switch {
	case by == "":
		return Device{}, fmt.Errorf("%w: no revoker named", ErrInvalid)
	case !printable(reason, maxReasonLen):
		return Device{}, fmt.Errorf("%w: a reason is at most %d bytes of printable text", ErrInvalid, maxReasonLen)
	case !ValidID(id):
		return Device{}, fmt.Errorf("%w: no device %s", ErrNotFound, quote(id))
	}
	now := r.clock().UTC()
	var d *deviceRecord
	_, err := r.st.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, KindDevice, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no device %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if d, err = decodeDevice(rec); err != nil {
			return err
		}
		if d.Revoked != nil {
			return nil // the first revocation stands
		}
		d.Revoked = &revocation{At: now, By: by, Reason: reason}
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, KindDevice, id, v)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Device{}, err
		}
		return Device{}, fmt.Errorf("device: revoke %s: %w", id, err)
	}
	if err := r.apply(ctx, id); err != nil {
		r.log.Warn("device: revoked device not yet in memory; the change feed will bring it", "device", id, "err", err)
	}
	var errs []error
	for _, c := range d.Certificates {
		serial, ok := new(big.Int).SetString(c.Serial, 16)
		if !ok {
			errs = append(errs, fmt.Errorf("device %s: certificate serial %s does not parse", id, quote(c.Serial)))
			continue
		}
		err := r.ca.Revoke(ctx, serial, pki.ReasonPrivilegeWithdrawn, by)
		if errors.Is(err, pki.ErrUnknownCert) && !now.Before(c.NotAfter) {
			continue // expired, and its record pruned: nothing left to refuse
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return view(d, nil), fmt.Errorf("device: revoke certificates of %s: %w", id, err)
	}
	r.log.Info("device: revoked", "device", id, "by", by, "certificates", len(d.Certificates))
	var p *postureRecord
	if st := r.lookup(id); st != nil {
		p = st.posture
	}
	return view(d, p), nil
}
