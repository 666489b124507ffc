package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"
)

// Adapters that make plain functions into pipeline steps.
type (
	// ValidateRequestFunc is a RequestValidator.
	ValidateRequestFunc func(csr *x509.CertificateRequest) error
	// ModifyCertFunc is a CertModifier.
	ModifyCertFunc func(tmpl *x509.Certificate) error
	// ValidateCertFunc is a CertValidator.
	ValidateCertFunc func(tmpl *x509.Certificate) error
)

// ValidateRequest calls f.
func (f ValidateRequestFunc) ValidateRequest(csr *x509.CertificateRequest) error { return f(csr) }

// ModifyCert calls f.
func (f ModifyCertFunc) ModifyCert(tmpl *x509.Certificate) error { return f(tmpl) }

// ValidateCert calls f.
func (f ValidateCertFunc) ValidateCert(tmpl *x509.Certificate) error { return f(tmpl) }

// The package's own steps, each with the interface guards of its stages.
var (
	_ RequestValidator = identity{}
	_ CertModifier     = identity{}
	_ CertModifier     = serialNumber{}
	_ CertModifier     = validity{}
	_ CertModifier     = leafUsage{}
	_ CertValidator    = lifetimeCap{}
	_ CertValidator    = inTrustDomain{}
	_ CertValidator    = notCA{}
	_ CertValidator    = keyOf{}
)

// identity puts the request's SPIFFE ID and subject in the certificate,
// and refuses a CSR that names another URI than the one granted: a CSR's
// names are never taken, but one that asks for another identity reveals a
// confused or hostile requester.
type identity struct {
	id      ID
	subject pkix.Name
}

func (s identity) ValidateRequest(csr *x509.CertificateRequest) error {
	for _, u := range csr.URIs {
		if s.id.IsZero() || len(csr.URIs) > 1 || u.String() != s.id.String() {
			return fmt.Errorf("%w: csr names uri %s but the request grants %s", ErrRequest, quote(u.String()), quote(s.id.String()))
		}
	}
	return nil
}

func (s identity) ModifyCert(c *x509.Certificate) error {
	c.URIs = nil
	if !s.id.IsZero() {
		c.URIs = append(c.URIs, s.id.URL())
	}
	c.Subject = s.subject
	if len(c.Subject.ToRDNSequence()) == 0 {
		c.Subject = pkix.Name{Organization: []string{"ztgate"}}
	}
	return nil
}

// serialNumber draws a random positive 128-bit serial.
type serialNumber struct{}

func (serialNumber) ModifyCert(c *x509.Certificate) error {
	n, err := randomSerial()
	if err != nil {
		return err
	}
	c.SerialNumber = n
	return nil
}

// validity sets notBefore Backdate before now, for peers whose clock is a
// little behind, and notAfter ttl after now, within the issuer's own
// validity.
type validity struct {
	now      time.Time
	ttl, max time.Duration
	issuer   *x509.Certificate
}

func (s validity) ModifyCert(c *x509.Certificate) error {
	switch {
	case s.ttl < 0:
		return fmt.Errorf("%w: negative ttl %s", ErrLifetime, s.ttl)
	case s.ttl > s.max:
		return fmt.Errorf("%w: ttl %s exceeds the maximum %s", ErrLifetime, s.ttl, s.max)
	case !s.now.Before(s.issuer.NotAfter):
		return fmt.Errorf("%w: the signing certificate expired at %s", ErrCA, s.issuer.NotAfter.UTC().Format(time.RFC3339))
	}
	c.NotBefore = s.now.Add(-Backdate)
	if c.NotBefore.Before(s.issuer.NotBefore) {
		c.NotBefore = s.issuer.NotBefore
	}
	c.NotAfter = s.now.Add(s.ttl)
	if c.NotAfter.After(s.issuer.NotAfter) {
		c.NotAfter = s.issuer.NotAfter
	}
	return nil
}

// leafUsage makes the certificate an end entity that signs: key usage
// digitalSignature (and keyEncipherment for RSA keys, for TLS 1.2 RSA key
// exchange), extended key usage serverAuth and clientAuth.
type leafUsage struct{}

func (leafUsage) ModifyCert(c *x509.Certificate) error {
	c.BasicConstraintsValid, c.IsCA = true, false
	c.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := c.PublicKey.(*rsa.PublicKey); ok {
		c.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return nil
}

// lifetimeCap refuses a validity period longer than the maximum, or
// backdated more than Backdate, whatever the options did.
type lifetimeCap struct {
	now time.Time
	max time.Duration
}

func (s lifetimeCap) ValidateCert(c *x509.Certificate) error {
	switch {
	case !c.NotAfter.After(c.NotBefore):
		return fmt.Errorf("%w: notAfter %s is not after notBefore %s", ErrLifetime, c.NotAfter.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339))
	case c.NotAfter.Sub(s.now) > s.max:
		return fmt.Errorf("%w: lifetime %s exceeds the maximum %s", ErrLifetime, c.NotAfter.Sub(s.now), s.max)
	case c.NotBefore.Before(s.now.Add(-Backdate)):
		return fmt.Errorf("%w: notBefore backdated more than %s", ErrLifetime, Backdate)
	}
	return nil
}

// inTrustDomain is the CA's own name constraint: at most one URI, and it
// a SPIFFE ID of a workload of the trust domain. The intermediate carries
// the same constraint for verifiers; this refuses before signing.
type inTrustDomain struct{ td TrustDomain }

func (s inTrustDomain) ValidateCert(c *x509.Certificate) error {
	if len(c.URIs) > 1 {
		return fmt.Errorf("%w: %d uri sans; an x509-svid has exactly one", ErrRequest, len(c.URIs))
	}
	for _, u := range c.URIs {
		id, err := ParseID(u.String())
		if err != nil {
			return err
		}
		if !id.MemberOf(s.td) {
			return fmt.Errorf("%w: spiffe id %s is not in trust domain %s", ErrTrustDomain, quote(id.String()), quote(s.td.String()))
		}
		if id.Path() == "" {
			return fmt.Errorf("%w: spiffe id %s names the trust domain, not a workload", ErrInvalidID, quote(id.String()))
		}
	}
	return nil
}

// notCA refuses CA powers and a leaf that cannot sign, whatever the
// options did: the X509-SVID rules for a leaf.
type notCA struct{}

func (notCA) ValidateCert(c *x509.Certificate) error {
	switch {
	case c.IsCA || !c.BasicConstraintsValid:
		return fmt.Errorf("%w: the certificate would be a ca (or lack basicConstraints)", ErrCARequest)
	case c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return fmt.Errorf("%w: the certificate would have keyCertSign or cRLSign", ErrCARequest)
	case c.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return fmt.Errorf("%w: the certificate would lack the digitalSignature key usage", ErrRequest)
	}
	return nil
}

// keyOf refuses a template whose key is not the CSR's: only the CSR
// proves possession.
type keyOf struct{ csr *x509.CertificateRequest }

func (s keyOf) ValidateCert(c *x509.Certificate) error {
	if !sameKey(c.PublicKey, s.csr.PublicKey) {
		return fmt.Errorf("%w: the certificate's key is not the csr's", ErrRequest)
	}
	return nil
}
