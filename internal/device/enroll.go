package device

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// EnrollRequest is a device's enrollment.
type EnrollRequest struct {
	Token string // the enrollment token, as the administrator gave it
	CSR   []byte // PKCS#10, DER: the device's own key
	From  string // the address the request came from, for the record
}

// Enrollment is an enrolled device and its certificate chain, leaf first,
// up to (not including) the root.
type Enrollment struct {
	Device Device
	Chain  []*x509.Certificate
}

// Enroll consumes a token and certifies the CSR's key as a new device.
//
// The token is checked first, so that nothing is parsed for a caller
// without one; then the CSR (pki.ParseCSR's rules: form, signature, key,
// no CA request; and no URI of its own: the device ID is assigned here).
// The CA signs and records the certificate; then one transaction marks
// the token used and records the device. If that transaction fails (the
// token was used meanwhile), the certificate is revoked and not returned.
//
// Errors wrap ErrToken (unknown, used and expired alike), ErrCSR (and the
// pki error that says why), or a store or CA error.
func (r *Registry) Enroll(ctx context.Context, req EnrollRequest) (*Enrollment, error) {
	if !wellFormedToken(req.Token) {
		return nil, &tokenRefusal{reason: "malformed"}
	}
	hash := hashToken(req.Token)
	tok, err := r.usableToken(ctx, r.st, hash, r.clock())
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	if len(csr.URIs) > 0 {
		return nil, fmt.Errorf("%w: %w: the csr names a uri; the device id is assigned at enrollment", ErrCSR, pki.ErrRequest)
	}

	id := newID()
	sid, err := spiffeID(r.ca.TrustDomain(), id)
	if err != nil {
		return nil, fmt.Errorf("device: spiffe id: %w", err)
	}
	chain, err := r.sign(ctx, req.CSR, id, sid, "device enrollment "+tok.ID+" (token created by "+tok.CreatedBy+")")
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	now := r.clock().UTC()
	d := &deviceRecord{
		ID: id, Name: tok.Name, Owner: tok.Owner, Managed: tok.Managed, Groups: tok.Groups,
		SPIFFEID: sid.String(), EnrolledAt: now, EnrolledBy: tok.CreatedBy, EnrolledFrom: req.From,
		Enrollment: tok.ID,
		Certificates: []certRecord{{
			Serial: serialHex(leaf), NotAfter: leaf.NotAfter.UTC(), Chain: rawChain(chain),
		}},
	}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	dv, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	_, err = r.st.Update(ctx, func(tx store.Tx) error {
		t, err := r.usableToken(ctx, tx, hash, now)
		if err != nil {
			return err
		}
		t.UsedAt, t.DeviceID = now, id
		tv, err := json.Marshal(t)
		if err != nil {
			return err
		}
		if _, err := tx.Replace(ctx, KindToken, hash, tv, t.rev); err != nil {
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				return &tokenRefusal{reason: "used", id: t.ID}
			}
			return err
		}
		_, err = tx.Create(ctx, KindDevice, id, dv)
		return err
	})
	if err != nil {
		// The certificate names a device that does not exist: nobody may
		// hold it.
		if rerr := r.ca.Revoke(context.WithoutCancel(ctx), leaf.SerialNumber, pki.ReasonCessationOfOperation, "device enrollment "+tok.ID+" (not completed)"); rerr != nil {
			r.log.Error("device: cannot revoke the certificate of an enrollment that failed", "serial", serialHex(leaf), "err", rerr)
		}
		var tr *tokenRefusal
		if errors.As(err, &tr) {
			return nil, tr
		}
		if errors.Is(err, store.ErrConflict) { // a serialization failure: the token raced
			return nil, &tokenRefusal{reason: "used", id: tok.ID}
		}
		return nil, fmt.Errorf("device: record device %s: %w", id, err)
	}
	if err := r.apply(ctx, id); err != nil {
		r.log.Warn("device: enrolled device not yet in memory; the change feed will bring it", "device", id, "err", err)
	}
	r.log.Info("device: enrolled", "device", id, "name", d.Name, "token_id", tok.ID, "serial", serialHex(leaf), "not_after", leaf.NotAfter)
	return &Enrollment{Device: view(d, nil), Chain: chain}, nil
}

// storedToken is a token record with its revision.
type storedToken struct {
	tokenRecord
	rev int64
}

// usableToken reads the token whose hash is hash and refuses one that is
// unknown, used or expired at now.
func (r *Registry) usableToken(ctx context.Context, rd store.Reader, hash string, now time.Time) (*storedToken, error) {
	rec, err := rd.Get(ctx, KindToken, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &tokenRefusal{reason: "unknown"}
	}
	if err != nil {
		return nil, fmt.Errorf("device: read token: %w", err)
	}
	t := &storedToken{rev: rec.Revision}
	if err := decode(rec, &t.tokenRecord); err != nil {
		return nil, err
	}
	switch {
	case !t.UsedAt.IsZero():
		return nil, &tokenRefusal{reason: "used", id: t.ID}
	case !now.Before(t.ExpiresAt):
		return nil, &tokenRefusal{reason: "expired", id: t.ID}
	}
	return t, nil
}

// sign has the CA certify the CSR's key as device id, whose SPIFFE ID is
// sid: the same subject, lifetime and usage at enrollment and renewal.
// Errors wrap ErrCSR for what the CSR holds, or are the CA's.
func (r *Registry) sign(ctx context.Context, csrDER []byte, id string, sid pki.ID, requester string) ([]*x509.Certificate, error) {
	chain, err := r.ca.Sign(ctx, pki.Request{
		CSR:       csrDER,
		ID:        sid,
		Subject:   pkix.Name{CommonName: id, Organization: []string{"ztgate"}, OrganizationalUnit: []string{"device"}},
		TTL:       r.certTTL,
		Requester: requester,
	}, clientOnly)
	if err != nil {
		if isCSRError(err) {
			return nil, fmt.Errorf("%w: %w", ErrCSR, err)
		}
		return nil, fmt.Errorf("device: sign certificate: %w", err)
	}
	return chain, nil
}

// clientOnly narrows a device certificate's extended key usage to client
// authentication: a device proves who it is, it serves no one.
var clientOnly = pki.ModifyCertFunc(func(c *x509.Certificate) error {
	c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return nil
})

// isCSRError reports whether the CA refused the request for something
// the CSR holds, rather than for its own state.
func isCSRError(err error) bool {
	for _, e := range []error{pki.ErrMalformed, pki.ErrTooLarge, pki.ErrCSRSignature, pki.ErrKeyType, pki.ErrCARequest, pki.ErrRequest} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// serialHex is a certificate's serial as pki keys it: lowercase hex of
// its minimal bytes.
func serialHex(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber.Bytes()) }

func rawChain(chain []*x509.Certificate) [][]byte {
	out := make([][]byte, len(chain))
	for i, c := range chain {
		out[i] = c.Raw
	}
	return out
}
