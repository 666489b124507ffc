package device

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// MaxReportSize bounds a posture report, in bytes of compact JWS: room for
// a chain of a few certificates and the facts, refused unread beyond.
const MaxReportSize = 16 << 10

// Accepted is a posture report the registry accepted.
type Accepted struct {
	DeviceID string
	Report   Report
	SignedAt time.Time
	Serial   string // of the certificate that signed it
	// Compliant is the device's compliance with this report, now.
	Compliant bool
}

// AcceptReport verifies a signed posture report and records it as its
// device's last.
//
// In order: the size (ErrTooLarge, unread); the JWS form and header
// (ErrMalformed); the certificate chain, from x5c or the registered
// device named by kid, with the CA: trusted, valid now, not revoked
// (ErrCertificate, ErrRevoked); a /device/ ID of a registered device
// that is not revoked and holds that certificate (ErrCertificate,
// ErrUnknownDevice, ErrRevoked); the signature, with the certificate's
// key and the algorithm its type calls for (ErrSignature); only then the
// claims, sub naming the device (ErrMalformed); iat within MaxClockSkew
// of now (ErrStale, ErrFuture) and later than the last accepted report's
// (ErrReplay). The last two checks are made again in the transaction that
// stores the report, so that two nodes cannot both accept one report.
func (r *Registry) AcceptReport(ctx context.Context, jws []byte) (*Accepted, error) {
	acc, _, err := r.acceptReport(ctx, jws)
	return acc, err
}

// acceptReport is AcceptReport, which also returns the device the report
// claims to come from, as soon as it is known, for the record of a
// refusal.
func (r *Registry) acceptReport(ctx context.Context, jws []byte) (acc *Accepted, claimed string, err error) {
	if len(jws) > MaxReportSize {
		return nil, "", fmt.Errorf("%w: report of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(jws), MaxReportSize)
	}
	j, err := parseCompact(jws, reportJWS)
	if err != nil {
		return nil, "", err
	}
	claimed = claimedDevice(j)
	acc, err = r.verifyReport(ctx, j)
	return acc, claimed, err
}

// claimedDevice is the device a report says it comes from, unverified,
// for the record of a refusal: its kid, or its leaf certificate's ID.
func claimedDevice(j *compactJWS) string {
	if j.header.Kid != "" {
		return j.header.Kid
	}
	if len(j.chain) > 0 {
		if svid, err := pki.ParseSVID(j.chain[:1]); err == nil {
			if id, ok := IDOf(svid.ID); ok {
				return id
			}
		}
	}
	return ""
}

// verifyReport is the rest of AcceptReport, on a parsed report.
func (r *Registry) verifyReport(ctx context.Context, j *compactJWS) (*Accepted, error) {
	sg, err := r.authenticate(ctx, j, false)
	if err != nil {
		return nil, err
	}
	id, st := sg.id, sg.st
	sub, iat, report, err := parseClaims(sg.payload)
	if err != nil {
		return nil, err
	}
	if sub != id {
		return nil, fmt.Errorf("%w: report sub %s is not the signing device %s", ErrMalformed, quote(sub), id)
	}
	now := r.clock()
	if err := fresh(iat, now); err != nil {
		return nil, err
	}
	// The facts are as fresh as their collection, not their signature:
	// a report signs what was collected just before, never facts of long
	// ago or of the future.
	if d := iat.Sub(report.CollectedAt); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, fmt.Errorf("%w: collected_at %s is more than %s from the report's iat %s", ErrMalformed,
			report.CollectedAt.Format(time.RFC3339), MaxClockSkew, iat.Format(time.RFC3339))
	}
	if st.posture != nil && !iat.After(st.posture.SignedAt) {
		return nil, replayed("report", iat, st.posture.SignedAt)
	}
	p := &postureRecord{DeviceID: id, Report: report, SignedAt: iat, ReceivedAt: now.UTC(), Serial: sg.serial}
	if err := r.store(ctx, p); err != nil {
		return nil, err
	}
	if err := r.apply(ctx, id); err != nil {
		r.log.Warn("device: accepted report not yet in memory; the change feed will bring it", "device", id, "err", err)
	}
	return &Accepted{DeviceID: id, Report: report, SignedAt: iat, Serial: sg.serial, Compliant: r.compliant(p, now)}, nil
}

// signer is the device that signed a JWS whose signature verified.
type signer struct {
	id      string
	st      *state // the device, registered and not revoked
	chain   []*x509.Certificate
	serial  string // of chain[0], lowercase hex
	payload []byte // decoded, not yet read
}

// authenticate is what a report and a renewal have in common: the
// certificate chain, from x5c or the registered device named by kid,
// verified by the CA: trusted, valid now, not revoked (ErrCertificate,
// ErrRevoked); a /device/ ID of a registered device that is not revoked
// and holds that certificate (ErrCertificate, ErrUnknownDevice,
// ErrRevoked); the signature, with the certificate's key and the
// algorithm its type calls for (ErrSignature). It returns the signer and
// the payload, which nothing has read before. With fromStore, the device
// is read from the store rather than memory, which may not yet hold a
// certificate another node just issued.
func (r *Registry) authenticate(ctx context.Context, j *compactJWS, fromStore bool) (*signer, error) {
	noun := j.kind.noun
	chain := j.chain
	if chain == nil {
		st, err := r.known(ctx, j.header.Kid, fromStore)
		if err != nil {
			return nil, err
		}
		if chain, err = st.dev.currentChain(); err != nil {
			return nil, err
		}
	}
	svid, err := r.ca.VerifySVID(chain)
	if err != nil {
		if errors.Is(err, pki.ErrRevoked) {
			return nil, fmt.Errorf("%w: %w", ErrRevoked, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	id, ok := IDOf(svid.ID)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a device's spiffe id", ErrCertificate, quote(svid.ID.String()))
	}
	if j.header.Kid != "" && j.header.Kid != id {
		return nil, fmt.Errorf("%w: %s kid %s is not the certificate's device %s", ErrMalformed, noun, j.header.Kid, id)
	}
	st, err := r.known(ctx, id, fromStore)
	if err != nil {
		return nil, err
	}
	serial := serialHex(chain[0])
	if !st.dev.hasSerial(serial) {
		// A certificate for this ID that the registry did not issue to
		// the device (a workload entry naming a /device/ path) proves
		// nothing about the device.
		return nil, fmt.Errorf("%w: certificate %s was not issued to device %s", ErrCertificate, serial, id)
	}
	if err := j.verify(chain[0].PublicKey); err != nil {
		return nil, err
	}
	payload, _ := b64url.DecodeString(j.payload) // checked by parseCompact
	return &signer{id: id, st: st, chain: chain, serial: serial, payload: payload}, nil
}

// known returns the state of a registered device that is not revoked:
// from memory, or, for a device enrolled on another node whose record the
// feed has not brought yet (or always, with fromStore), from the store.
func (r *Registry) known(ctx context.Context, id string, fromStore bool) (*state, error) {
	var st *state
	if !fromStore {
		st = r.lookup(id)
	}
	if st == nil {
		d, p, err := r.read(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownDevice, quote(id))
		}
		if err != nil {
			return nil, err
		}
		st = &state{dev: d, posture: p}
	}
	if st.dev.Revoked != nil {
		return nil, fmt.Errorf("%w: %s revoked at %s", ErrRevoked, id, st.dev.Revoked.At.Format(time.RFC3339))
	}
	return st, nil
}

// fresh refuses a report or renewal signed more than MaxClockSkew from
// now.
func fresh(iat, now time.Time) error {
	switch {
	case iat.After(now.Add(MaxClockSkew)):
		return fmt.Errorf("%w: signed at %s, more than %s after the server's time %s", ErrFuture, iat.Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))
	case iat.Before(now.Add(-MaxClockSkew)):
		return fmt.Errorf("%w: signed at %s, more than %s before the server's time %s", ErrStale, iat.Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// replayed refuses a report or renewal (noun) signed at iat, not after
// the last one accepted.
func replayed(noun string, iat, last time.Time) error {
	return fmt.Errorf("%w: %s signed at %s, not after the last %s accepted (%s)", ErrReplay, noun, iat.Format(time.RFC3339), noun, last.Format(time.RFC3339))
}

// store writes p as its device's last report in a transaction that
// checks again that the device is registered and not revoked, and that p
// is newer than the report on record. A write that races another
// report's is tried again, and then judged against the winner.
func (r *Registry) store(ctx context.Context, p *postureRecord) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		_, err := r.st.Update(ctx, func(tx store.Tx) error {
			rec, err := tx.Get(ctx, KindDevice, p.DeviceID)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: %s", ErrUnknownDevice, p.DeviceID)
			}
			if err != nil {
				return err
			}
			d, err := decodeDevice(rec)
			if err != nil {
				return err
			}
			if d.Revoked != nil {
				return fmt.Errorf("%w: %s revoked at %s", ErrRevoked, d.ID, d.Revoked.At.Format(time.RFC3339))
			}
			old, err := tx.Get(ctx, KindPosture, p.DeviceID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				_, err = tx.Create(ctx, KindPosture, p.DeviceID, v)
				return err
			case err != nil:
				return err
			}
			if last, err := decodePosture(old); err == nil && !p.SignedAt.After(last.SignedAt) {
				return replayed("report", p.SignedAt, last.SignedAt)
			}
			_, err = tx.Replace(ctx, KindPosture, p.DeviceID, v, old.Revision)
			return err
		})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrUnknownDevice), errors.Is(err, ErrRevoked), errors.Is(err, ErrReplay):
			return err
		case attempt < 2 && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)):
			continue
		}
		return fmt.Errorf("device: record posture of %s: %w", p.DeviceID, err)
	}
}
