package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Request is what Sign makes a certificate from.
type Request struct {
	// CSR is a PKCS#10 request in DER. Only its public key is taken, and
	// its self-signature proves the requester holds the private key; the
	// subject and names come from the fields below.
	CSR []byte
	// ID is the SPIFFE ID the certificate carries as its one URI SAN,
	// which makes it an X.509-SVID; zero for none.
	ID ID
	// Subject is the certificate's subject: O=ztgate when empty.
	Subject pkix.Name
	// TTL is the lifetime: the configured default when zero, never above
	// the configured maximum. A certificate never outlives the CA's
	// signing certificate.
	TTL time.Duration
	// Requester names who asked, for the record of the certificate.
	Requester string
}

// A SignOption is one step of Sign's pipeline: a RequestValidator, a
// CertModifier, a CertValidator, or a value that is several of them.
// Sign refuses a value that is none.
type SignOption any

// RequestValidator checks the parsed CSR before anything is built.
type RequestValidator interface {
	ValidateRequest(csr *x509.CertificateRequest) error
}

// CertModifier shapes the certificate template.
type CertModifier interface {
	ModifyCert(tmpl *x509.Certificate) error
}

// CertValidator checks the finished template before it is signed.
type CertValidator interface {
	ValidateCert(tmpl *x509.Certificate) error
}

// Sign issues a certificate from the CA's signing certificate and returns
// it with the CA certificates a peer needs to reach the root (the root
// itself excluded), leaf first.
//
// Issuance is a pipeline of small steps, run in this order: the request
// validators (the CSR's size, form, signature and key, no CA request,
// names consistent with req), then the modifiers (identity and subject,
// a random 128-bit serial, the validity period backdated by Backdate, key
// usage digitalSignature, with keyEncipherment for RSA keys, and extended
// key usage serverAuth and clientAuth), then the caller's options in the
// order given, each run in its stage, and last the validators no option
// can skip (the lifetime cap, every URI a SPIFFE ID of the trust domain,
// no CA powers, the CSR's key). The certificate is recorded in the store
// (kind pki-cert) before it is returned; when that fails nothing is
// returned. Refusals wrap one of the package's sentinels.
func (ca *CA) Sign(ctx context.Context, req Request, opts ...SignOption) ([]*x509.Certificate, error) {
	if req.Requester == "" {
		return nil, fmt.Errorf("%w: no requester named", ErrRequest)
	}
	if req.ID.IsZero() && req.Subject.CommonName == "" {
		return nil, fmt.Errorf("%w: the certificate would name no one (no spiffe id, no common name)", ErrRequest)
	}
	csr, err := ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	m := ca.mat.Load()
	now := ca.clock()

	ttl := req.TTL
	if ttl == 0 {
		ttl = ca.ttl
	}
	steps := []SignOption{
		identity{id: req.ID, subject: req.Subject},
		serialNumber{},
		validity{now: now, ttl: ttl, max: ca.maxTTL, issuer: m.signer()},
		leafUsage{},
	}
	steps = append(steps, opts...)
	steps = append(steps,
		lifetimeCap{now: now, max: ca.maxTTL},
		inTrustDomain{td: ca.td},
		notCA{},
		keyOf{csr: csr},
	)
	tmpl := &x509.Certificate{PublicKey: csr.PublicKey}
	if err := runSteps(steps, csr, tmpl); err != nil {
		return nil, err
	}

	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.signer(), tmpl.PublicKey, m.key.s)
	if err != nil {
		return nil, fmt.Errorf("pki: sign: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: sign: %w", err)
	}
	chain := make([]*x509.Certificate, 0, 1+len(m.issuers))
	chain = append(append(chain, leaf), m.issuers...)
	if !req.ID.IsZero() {
		// The validators make this impossible; checked all the same, so
		// that a certificate that is not a valid X.509-SVID never leaves.
		if _, err := ParseSVID(chain); err != nil {
			return nil, fmt.Errorf("pki: issued certificate fails the x509-svid rules: %w", err)
		}
	}
	if err := ca.record(ctx, leaf, req, now); err != nil {
		return nil, err
	}
	ca.log.Debug("pki: certificate issued", "serial", serialKey(leaf.SerialNumber), "spiffe_id", req.ID.String(), "requester", req.Requester, "not_after", leaf.NotAfter)
	return chain, nil
}

// IssueSVID issues an X.509-SVID for id to the holder of the CSR's key,
// valid for ttl (the configured default, one hour unless set, when zero),
// recorded as asked for by requester. It returns the SVID and the CA
// certificates up to, not including, the root.
func (ca *CA) IssueSVID(ctx context.Context, csrDER []byte, id ID, ttl time.Duration, requester string) ([]*x509.Certificate, error) {
	if id.IsZero() {
		return nil, fmt.Errorf("%w: an x509-svid needs a spiffe id", ErrRequest)
	}
	return ca.Sign(ctx, Request{CSR: csrDER, ID: id, TTL: ttl, Requester: requester})
}

// runSteps runs each stage of the pipeline over every step that has it.
func runSteps(steps []SignOption, csr *x509.CertificateRequest, tmpl *x509.Certificate) error {
	for _, s := range steps {
		switch s.(type) {
		case RequestValidator, CertModifier, CertValidator:
		default:
			return fmt.Errorf("%w: sign option %T is not a pipeline step", ErrConfig, s)
		}
	}
	for _, s := range steps {
		if v, ok := s.(RequestValidator); ok {
			if err := v.ValidateRequest(csr); err != nil {
				return err
			}
		}
	}
	for _, s := range steps {
		if m, ok := s.(CertModifier); ok {
			if err := m.ModifyCert(tmpl); err != nil {
				return err
			}
		}
	}
	for _, s := range steps {
		if v, ok := s.(CertValidator); ok {
			if err := v.ValidateCert(tmpl); err != nil {
				return err
			}
		}
	}
	return nil
}

// record writes the certificate's CertRecord. Create, not Put: a serial
// is never reused, and a collision of random serials fails loudly.
func (ca *CA) record(ctx context.Context, leaf *x509.Certificate, req Request, now time.Time) error {
	r := CertRecord{
		Serial:    serialKey(leaf.SerialNumber),
		Subject:   leaf.Subject.String(),
		SPIFFEID:  req.ID.String(),
		NotBefore: leaf.NotBefore.UTC(),
		NotAfter:  leaf.NotAfter.UTC(),
		Requester: req.Requester,
		Issued:    now.UTC(),
		DER:       leaf.Raw,
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := ca.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, KindCert, r.Serial, v)
		return err
	}); err != nil {
		return fmt.Errorf("pki: record certificate %s: %w", r.Serial, err)
	}
	return nil
}
