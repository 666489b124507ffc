package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// SVID is an X.509-SVID: a leaf certificate that carries a SPIFFE ID, and
// the certificates that chain it toward a root.
type SVID struct {
	ID           ID
	Certificates []*x509.Certificate // leaf first
}

// ParseSVID applies the X509-SVID rules to a chain, leaf first, without
// verifying it (VerifySVID does): the leaf has exactly one URI SAN, a
// SPIFFE ID with a path, read from the certificate's own bytes so that no
// URL normalisation can change it; the leaf is not a CA, has the
// digitalSignature key usage and neither keyCertSign nor cRLSign; every
// other certificate is a CA with keyCertSign. Errors wrap ErrNotSVID,
// ErrInvalidID or ErrMalformed.
func ParseSVID(chain []*x509.Certificate) (*SVID, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificates", ErrNotSVID)
	}
	leaf := chain[0]
	uris, err := uriSANs(leaf)
	if err != nil {
		return nil, err
	}
	switch len(uris) {
	case 0:
		return nil, fmt.Errorf("%w: leaf certificate contains no uri san", ErrNotSVID)
	case 1:
	default:
		return nil, fmt.Errorf("%w: leaf certificate contains %d uri sans, not one", ErrNotSVID, len(uris))
	}
	id, err := ParseID(uris[0])
	if err != nil {
		return nil, fmt.Errorf("leaf certificate: %w", err)
	}
	switch {
	case id.Path() == "":
		return nil, fmt.Errorf("%w: leaf certificate spiffe id %s has no path", ErrNotSVID, quote(id.String()))
	case leaf.IsCA:
		return nil, fmt.Errorf("%w: leaf certificate must not have the ca flag set to true", ErrNotSVID)
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return nil, fmt.Errorf("%w: leaf certificate must have 'digitalSignature' set as key usage", ErrNotSVID)
	case leaf.KeyUsage&x509.KeyUsageCertSign != 0:
		return nil, fmt.Errorf("%w: leaf certificate must not have 'keyCertSign' set as key usage", ErrNotSVID)
	case leaf.KeyUsage&x509.KeyUsageCRLSign != 0:
		return nil, fmt.Errorf("%w: leaf certificate must not have 'cRLSign' set as key usage", ErrNotSVID)
	}
	for i, c := range chain[1:] {
		switch {
		case !c.IsCA:
			return nil, fmt.Errorf("%w: signing certificate %d must have the ca flag set to true", ErrNotSVID, i+1)
		case c.KeyUsage&x509.KeyUsageCertSign == 0:
			return nil, fmt.Errorf("%w: signing certificate %d must have 'keyCertSign' set as key usage", ErrNotSVID, i+1)
		}
	}
	return &SVID{ID: id, Certificates: chain}, nil
}

// uriSANs returns the URI entries of c's subject alternative name, as the
// certificate spells them.
func uriSANs(c *x509.Certificate) ([]string, error) {
	var uris []string
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		in := cryptobyte.String(ext.Value)
		var names cryptobyte.String
		if !in.ReadASN1(&names, asn1.SEQUENCE) || !in.Empty() {
			return nil, fmt.Errorf("%w: subject alternative name does not parse", ErrMalformed)
		}
		for !names.Empty() {
			var v cryptobyte.String
			var tag asn1.Tag
			if !names.ReadAnyASN1(&v, &tag) {
				return nil, fmt.Errorf("%w: subject alternative name does not parse", ErrMalformed)
			}
			if tag == asn1.Tag(6).ContextSpecific() { // uniformResourceIdentifier
				uris = append(uris, string(v))
			}
		}
	}
	return uris, nil
}

// ParseSVIDPEM reads an X.509-SVID and its private key from PEM: every
// CERTIFICATE block of certPEM, leaf first, and the first private key
// block of keyPEM (PKCS#8, SEC 1 or PKCS#1). It applies ParseSVID's rules
// and checks that the key is the leaf's (ErrKeyMismatch). certPEM and
// keyPEM may be the same text.
func ParseSVIDPEM(certPEM, keyPEM []byte) (*SVID, *PrivateKey, error) {
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("svid certificates: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("svid key: %w", err)
	}
	svid, err := ParseSVID(certs)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case key == nil:
		return nil, nil, fmt.Errorf("%w: no private key found", ErrKeyMismatch)
	case !sameKey(certs[0].PublicKey, key.Public()):
		return nil, nil, fmt.Errorf("%w: leaf certificate does not match private key", ErrKeyMismatch)
	}
	return svid, key, nil
}

// VerifySVID checks a presented chain, leaf first, as an X.509-SVID of
// bundle b's trust domain at time now: ParseSVID's rules, the leaf's
// SPIFFE ID in b's trust domain (ErrTrustDomain), every presented
// certificate within its validity period at now (ErrValidity), and a
// path from the leaf through the presented certificates to an X.509
// authority of b, honouring name constraints (ErrUntrusted). It reads no
// clock: now is the caller's.
func VerifySVID(chain []*x509.Certificate, b *Bundle, now time.Time) (*SVID, error) {
	svid, _, err := verifySVID(chain, b, now)
	return svid, err
}

// verifySVID is VerifySVID, also returning the verified chains.
func verifySVID(chain []*x509.Certificate, b *Bundle, now time.Time) (*SVID, [][]*x509.Certificate, error) {
	if b == nil || now.IsZero() {
		return nil, nil, fmt.Errorf("%w: VerifySVID needs a bundle and a time", ErrConfig)
	}
	svid, err := ParseSVID(chain)
	if err != nil {
		return nil, nil, err
	}
	if !svid.ID.MemberOf(b.td) {
		return nil, nil, fmt.Errorf("%w: spiffe id %s is not in trust domain %s", ErrTrustDomain, quote(svid.ID.String()), quote(b.td.String()))
	}
	for _, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			return nil, nil, fmt.Errorf("%w: certificate %s (serial %s) is not valid before %s", ErrValidity, quote(c.Subject.String()), serialKey(c.SerialNumber), c.NotBefore.UTC().Format(time.RFC3339))
		case now.After(c.NotAfter):
			return nil, nil, fmt.Errorf("%w: certificate %s (serial %s) expired at %s", ErrValidity, quote(c.Subject.String()), serialKey(c.SerialNumber), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if len(b.x509) == 0 {
		return nil, nil, fmt.Errorf("%w: the bundle of %s has no x509 authorities", ErrUntrusted, quote(b.td.String()))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         b.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, nil, fmt.Errorf("%w: %v", ErrValidity, err)
		}
		return nil, nil, fmt.Errorf("%w: chain of %s does not verify against the bundle of %s: %v", ErrUntrusted, quote(svid.ID.String()), quote(b.td.String()), err)
	}
	return svid, chains, nil
}

// VerifySVID checks a presented chain against the CA's own bundle at the
// CA's clock, and refuses a certificate the CA revoked (ErrRevoked). A
// peer that presents its leaf alone (openssl s_client, many devices) is
// verified with the CA's own intermediates.
func (ca *CA) VerifySVID(chain []*x509.Certificate) (*SVID, error) {
	if len(chain) > 0 {
		own := ca.mat.Load().chain
		full := chain
		for _, c := range own[:len(own)-1] {
			if !slices.ContainsFunc(chain, func(p *x509.Certificate) bool { return p.Equal(c) }) {
				if len(full) == len(chain) {
					full = slices.Clone(chain)
				}
				full = append(full, c)
			}
		}
		chain = full
	}
	svid, chains, err := verifySVID(chain, ca.Bundle(), ca.clock())
	if err != nil {
		return nil, err
	}
	// Issued by this CA: the root may be shared with other CAs (an
	// imported chain under an enterprise root), whose certificates are
	// not ours to accept nor to revoke.
	signer := ca.mat.Load().signer()
	ours := false
	for _, c := range chains {
		ours = ours || (len(c) > 1 && c[1].Equal(signer))
	}
	if !ours {
		return nil, fmt.Errorf("%w: %s was not issued by this ca's signing certificate", ErrUntrusted, quote(svid.ID.String()))
	}
	for _, c := range chain {
		if ca.Revoked(c.SerialNumber) {
			return nil, fmt.Errorf("%w: certificate serial %s", ErrRevoked, serialKey(c.SerialNumber))
		}
	}
	return svid, nil
}

// Recheck re-examines a chain that VerifySVID accepted earlier, such as
// at a TLS handshake, for one more use of it: the X509-SVID rules again,
// the validity period at the CA's clock, and revocation — everything that
// can change while a connection lives, without the signature checks that
// cannot. Never give it a chain VerifySVID has not accepted.
func (ca *CA) Recheck(chain []*x509.Certificate) (*SVID, error) {
	svid, err := ParseSVID(chain)
	if err != nil {
		return nil, err
	}
	now := ca.clock()
	for _, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			return nil, fmt.Errorf("%w: certificate %s (serial %s) is not valid before %s", ErrValidity, quote(c.Subject.String()), serialKey(c.SerialNumber), c.NotBefore.UTC().Format(time.RFC3339))
		case now.After(c.NotAfter):
			return nil, fmt.Errorf("%w: certificate %s (serial %s) expired at %s", ErrValidity, quote(c.Subject.String()), serialKey(c.SerialNumber), c.NotAfter.UTC().Format(time.RFC3339))
		case ca.Revoked(c.SerialNumber):
			return nil, fmt.Errorf("%w: certificate serial %s", ErrRevoked, serialKey(c.SerialNumber))
		}
	}
	return svid, nil
}
