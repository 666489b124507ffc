package device

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// MaxRenewalSize bounds a renewal request, in bytes of compact JWS: a
// chain of up to four certificates and a CSR for any key the CA
// certifies (an RSA key of 8192 bits makes a CSR of about 2 KiB), the
// CSR encoded twice; refused unread beyond.
const MaxRenewalSize = 32 << 10

// MaxLiveCertificates bounds the unexpired certificates a device may
// hold: a renewal beyond is refused (ErrLimit) until one expires. A device
// renewing at half-life holds two; the bound keeps a device that renews
// in a loop from growing its record, and the CA's, without end.
const MaxLiveCertificates = 8

// renewalClaims is a renewal's payload as signed: the device it renews
// (sub), when it was signed (iat, seconds since the epoch), and the
// certificate request for the new certificate (csr, the DER in base64url
// without padding).
type renewalClaims struct {
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	CSR string `json:"csr"`
}

// Renewal is a device certificate renewed.
type Renewal struct {
	Device Device
	// Chain is the device's new certificate chain, leaf first, up to (not
	// including) the root.
	Chain []*x509.Certificate
	// Previous is the serial of the certificate that signed the request.
	Previous string
	// SignedAt is the request's iat.
	SignedAt time.Time
	// Resent: the request came from an earlier certificate of the device
	// with a CSR for the current certificate's key, as a device sends
	// again when the answer to its renewal was lost. Chain is the current
	// chain, issued then; nothing was issued now.
	Resent bool
}

// Renew verifies a signed renewal request and certifies the key of the
// CSR it carries (the device's old key or a new one) as the same device:
// the same device ID and SPIFFE ID, the registry's certificate lifetime.
//
// The request is checked as a posture report is, in the same order: the
// size (ErrTooLarge, unread); the JWS form and header, typ RenewalType
// and the chain in x5c (ErrMalformed); the chain with the CA: trusted,
// valid now, not revoked (ErrCertificate, ErrRevoked), so that an expired
// certificate renews nothing and its device enrolls again; a /device/ ID
// of a registered device that is not revoked and holds that certificate
// (ErrCertificate, ErrUnknownDevice, ErrRevoked); the signature, with the
// certificate's key (ErrSignature); only then the claims: sub naming the
// device (ErrMalformed), iat within MaxClockSkew of now (ErrStale,
// ErrFuture) and later than the last renewal accepted from the device
// (ErrReplay); the CSR, by pki.ParseCSR's rules (form, signature, key
// type, no CA powers) and naming no URI but the device's own (ErrCSR);
// then the signing certificate must be the device's current one, the
// last issued (ErrCertificate); last, the device must hold fewer than
// MaxLiveCertificates unexpired certificates (ErrLimit).
//
// Only the current certificate renews, so that a key the device has
// replaced cannot, if it leaked, make itself a successor. The exception
// is harmless: a request from an earlier certificate whose CSR proves
// possession of the current certificate's key is a device sending again
// because the answer was lost, and is answered with the current chain,
// issuing nothing (Renewal.Resent).
//
// The certificate renewed from stays valid until it expires rather than
// being revoked: connections and processes that hold it finish, the CRL
// does not grow with every renewal, and a renewal is no sign of
// compromise. It can no longer renew, so a leaked old key lives at most
// its certificate's remaining life; revoking the device (Revoke) revokes
// every certificate it holds, old and new.
//
// The new certificate is recorded on the device in a transaction that
// checks the device, the replay and the current certificate again; when
// it fails (two renewals raced), the certificate is revoked and not
// returned.
func (r *Registry) Renew(ctx context.Context, jws []byte) (*Renewal, error) {
	ren, _, err := r.renew(ctx, jws)
	return ren, err
}

// renew is Renew, which also returns the device the request claims to
// come from, as soon as it is known, for the record of a refusal.
func (r *Registry) renew(ctx context.Context, jws []byte) (ren *Renewal, claimed string, err error) {
	if len(jws) > MaxRenewalSize {
		return nil, "", fmt.Errorf("%w: renewal of %d bytes exceeds the %d-byte limit", ErrTooLarge, len(jws), MaxRenewalSize)
	}
	j, err := parseCompact(jws, renewalJWS)
	if err != nil {
		return nil, "", err
	}
	claimed = claimedDevice(j)
	ren, err = r.verifyRenewal(ctx, j)
	return ren, claimed, err
}

// verifyRenewal is the rest of Renew, on a parsed request.
func (r *Registry) verifyRenewal(ctx context.Context, j *compactJWS) (*Renewal, error) {
	// From the store: a renewal is rare, and must see the certificates
	// and the last renewal every node has recorded.
	sg, err := r.authenticate(ctx, j, true)
	if err != nil {
		return nil, err
	}
	id, d := sg.id, sg.st.dev
	sub, iat, csrDER, err := parseRenewal(sg.payload)
	if err != nil {
		return nil, err
	}
	if sub != id {
		return nil, fmt.Errorf("%w: renewal sub %s is not the signing device %s", ErrMalformed, quote(sub), id)
	}
	if err := fresh(iat, r.clock()); err != nil {
		return nil, err
	}
	if !iat.After(d.LastRenewal) {
		return nil, replayed("renewal", iat, d.LastRenewal)
	}
	sid, err := spiffeID(r.ca.TrustDomain(), id)
	if err != nil {
		return nil, fmt.Errorf("device: spiffe id: %w", err)
	}
	csr, err := pki.ParseCSR(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCSR, err)
	}
	switch {
	case len(csr.URIs) > 1:
		return nil, fmt.Errorf("%w: %w: the csr names %d uris; a renewal keeps the device's id %s", ErrCSR, pki.ErrRequest, len(csr.URIs), sid)
	case len(csr.URIs) == 1 && csr.URIs[0].String() != sid.String():
		return nil, fmt.Errorf("%w: %w: the csr names uri %s; a renewal keeps the device's id %s", ErrCSR, pki.ErrRequest, quote(csr.URIs[0].String()), sid)
	}
	cur, ok := d.current()
	if !ok {
		return nil, fmt.Errorf("%w: device %s has no current certificate", ErrCertificate, id)
	}
	if cur.Serial != sg.serial {
		return r.resend(ctx, sg, cur, csr, iat)
	}
	if err := d.checkLive(r.clock()); err != nil {
		return nil, err
	}

	chain, err := r.sign(ctx, csrDER, id, sid, "device renewal "+id+" (certificate "+sg.serial+")")
	if err != nil {
		return nil, err
	}
	leaf := chain[0]
	issued := certRecord{Serial: serialHex(leaf), NotAfter: leaf.NotAfter.UTC(), Chain: rawChain(chain)}
	dev, err := r.commitRenewal(ctx, id, sg.serial, iat, &issued)
	if err != nil {
		// Nobody may hold a certificate the device record does not list.
		if rerr := r.ca.Revoke(context.WithoutCancel(ctx), leaf.SerialNumber, pki.ReasonCessationOfOperation, "device renewal "+id+" (not completed)"); rerr != nil {
			r.log.Error("device: cannot revoke the certificate of a renewal that failed", "device", id, "serial", issued.Serial, "err", rerr)
		}
		return nil, err
	}
	r.log.Info("device: certificate renewed", "device", id, "previous", sg.serial, "serial", issued.Serial, "not_after", leaf.NotAfter)
	return &Renewal{Device: r.viewAfter(ctx, dev), Chain: chain, Previous: sg.serial, SignedAt: iat}, nil
}

// resend answers a renewal signed by an earlier certificate than cur,
// the device's current one: with cur's chain when the CSR is for cur's
// key, which only the holder of that key can sign, since the chain is no
// secret and issuing nothing gives nothing away; otherwise the request
// is refused, because the earlier certificate was superseded.
func (r *Registry) resend(ctx context.Context, sg *signer, cur certRecord, csr *x509.CertificateRequest, iat time.Time) (*Renewal, error) {
	superseded := fmt.Errorf("%w: certificate %s of device %s is superseded by %s: only the current certificate renews", ErrCertificate, sg.serial, sg.id, cur.Serial)
	chain, err := parseChain(cur.Chain)
	if err != nil || len(chain) == 0 || !sameKey(chain[0].PublicKey, csr.PublicKey) {
		return nil, superseded
	}
	if _, err := r.ca.VerifySVID(chain); err != nil {
		return nil, fmt.Errorf("%w (and the current one does not verify: %w)", superseded, err)
	}
	dev, err := r.commitRenewal(ctx, sg.id, cur.Serial, iat, nil)
	if err != nil {
		return nil, err
	}
	r.log.Info("device: current certificate sent again", "device", sg.id, "previous", sg.serial, "serial", cur.Serial)
	return &Renewal{Device: r.viewAfter(ctx, dev), Chain: chain, Previous: sg.serial, SignedAt: iat, Resent: true}, nil
}

// viewAfter brings memory in line with a device record just written, and
// returns the device with its last report.
func (r *Registry) viewAfter(ctx context.Context, d *deviceRecord) Device {
	if err := r.apply(ctx, d.ID); err != nil {
		r.log.Warn("device: renewed device not yet in memory; the change feed will bring it", "device", d.ID, "err", err)
	}
	var p *postureRecord
	if st := r.lookup(d.ID); st != nil {
		p = st.posture
	}
	return view(d, p)
}

// commitRenewal records a renewal signed at iat on device id, in a
// transaction that requires the device registered and not revoked, iat
// later than its last renewal, and want its current certificate; then
// appends issued (nil when nothing was issued) to its certificates,
// dropping the chains of those expired. A write that races another is
// tried again, and then judged against the winner.
func (r *Registry) commitRenewal(ctx context.Context, id, want string, iat time.Time, issued *certRecord) (*deviceRecord, error) {
	now := r.clock().UTC()
	for attempt := 0; ; attempt++ {
		var d *deviceRecord
		_, err := r.st.Update(ctx, func(tx store.Tx) error {
			rec, err := tx.Get(ctx, KindDevice, id)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: %s", ErrUnknownDevice, id)
			}
			if err != nil {
				return err
			}
			if d, err = decodeDevice(rec); err != nil {
				return err
			}
			if d.Revoked != nil {
				return fmt.Errorf("%w: %s revoked at %s", ErrRevoked, id, d.Revoked.At.Format(time.RFC3339))
			}
			if !iat.After(d.LastRenewal) {
				return replayed("renewal", iat, d.LastRenewal)
			}
			if cur, ok := d.current(); !ok || cur.Serial != want {
				return fmt.Errorf("%w: certificate %s is no longer the current certificate of device %s", ErrCertificate, want, id)
			}
			if issued != nil {
				if err := d.checkLive(now); err != nil {
					return err
				}
			}
			d.LastRenewal = iat
			if issued != nil {
				for i := range d.Certificates {
					if c := &d.Certificates[i]; !now.Before(c.NotAfter) {
						c.Chain = nil
					}
				}
				d.Certificates = append(d.Certificates, *issued)
			}
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = tx.Replace(ctx, KindDevice, id, v, rec.Revision)
			return err
		})
		switch {
		case err == nil:
			return d, nil
		case errors.Is(err, ErrUnknownDevice), errors.Is(err, ErrRevoked), errors.Is(err, ErrReplay), errors.Is(err, ErrCertificate), errors.Is(err, ErrLimit):
			return nil, err
		case attempt < 2 && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)):
			continue
		}
		return nil, fmt.Errorf("device: record renewal of %s: %w", id, err)
	}
}

// checkLive refuses one more certificate for a device that holds
// MaxLiveCertificates unexpired at now.
func (d *deviceRecord) checkLive(now time.Time) error {
	live := 0
	for _, c := range d.Certificates {
		if c.Withdrawn.IsZero() && now.Before(c.NotAfter) {
			live++
		}
	}
	if live >= MaxLiveCertificates {
		return fmt.Errorf("%w: device %s holds %d unexpired certificates, at most %d", ErrLimit, d.ID, live, MaxLiveCertificates)
	}
	return nil
}

// withdraw revokes a certificate issued by a renewal that will not be
// delivered (its issuance could not be audited) and marks it withdrawn
// on its device, so that the certificate it renewed is current again and
// the device can renew once more. It tries both, whatever fails.
func (r *Registry) withdraw(ctx context.Context, id string, leaf *x509.Certificate, by string) error {
	var errs []error
	if err := r.ca.Revoke(ctx, leaf.SerialNumber, pki.ReasonCessationOfOperation, by); err != nil {
		errs = append(errs, err)
	}
	serial, now := serialHex(leaf), r.clock().UTC()
	_, err := r.st.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, KindDevice, id)
		if err != nil {
			return err
		}
		d, err := decodeDevice(rec)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(d.Certificates, func(c certRecord) bool { return c.Serial == serial })
		if i < 0 || !d.Certificates[i].Withdrawn.IsZero() {
			return nil
		}
		d.Certificates[i].Withdrawn = now
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		_, err = tx.Replace(ctx, KindDevice, id, v, rec.Revision)
		return err
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("device: withdraw certificate %s of %s: %w", serial, id, err))
	}
	if err := r.apply(ctx, id); err != nil {
		r.log.Warn("device: withdrawn certificate not yet in memory; the change feed will bring it", "device", id, "err", err)
	}
	return errors.Join(errs...)
}

// parseRenewal reads and checks a verified renewal payload: one JSON
// object of exactly sub (a string), iat (whole seconds, in range) and csr
// (base64url DER, not empty). Unlike a report's, unknown members are
// refused: a renewal asks for a certificate, and a member this server
// does not know could only be a request it would silently ignore. Errors
// wrap ErrMalformed and quote nothing of the payload.
func parseRenewal(payload []byte) (sub string, iat time.Time, csrDER []byte, err error) {
	var w struct {
		Sub *string         `json:"sub"`
		Iat json.RawMessage `json:"iat"`
		CSR *string         `json:"csr"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return "", iat, nil, fmt.Errorf("%w: renewal claims are not a json object of sub, iat and csr", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", iat, nil, fmt.Errorf("%w: data after the renewal claims", ErrMalformed)
	}
	if w.Sub == nil || w.Iat == nil || w.CSR == nil {
		return "", iat, nil, fmt.Errorf("%w: renewal lacks sub, iat or csr", ErrMalformed)
	}
	// RawMessage, not json.Number, which would take "123" in quotes.
	n, perr := strconv.ParseInt(string(w.Iat), 10, 64)
	if perr != nil || n <= 0 || n > maxIat {
		return "", iat, nil, fmt.Errorf("%w: renewal iat is not a whole number of seconds in range", ErrMalformed)
	}
	if csrDER, err = b64url.DecodeString(*w.CSR); err != nil || len(csrDER) == 0 {
		return "", iat, nil, fmt.Errorf("%w: renewal csr is not base64url der", ErrMalformed)
	}
	return *w.Sub, time.Unix(n, 0).UTC(), csrDER, nil
}

// parseChain parses a stored chain.
func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	chain := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	return chain, nil
}
