package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"slices"
	"time"
)

// Import is a CA brought from outside instead of generated: PEM text of
// the CA's certificates and of the first certificate's private key.
//
// With one self-signed CA certificate and its key (an imported root),
// ztgate makes its intermediate under it. With a chain, the first
// certificate is the signing certificate ztgate issues from (its key is
// KeyPEM), each next one its issuer, and the last a self-signed root: the
// root's key stays wherever it is kept.
type Import struct {
	CertPEM []byte
	KeyPEM  KeyPEM
}

// ImportFiles reads an Import from a certificate file and a key file.
func ImportFiles(certFile, keyFile string) (*Import, error) {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: import: %w", ErrConfig, err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: import: %w", ErrConfig, err)
	}
	return &Import{CertPEM: cert, KeyPEM: key}, nil
}

// authority is a CA's certificates and keys, as generated or imported,
// before they are sealed into a caRecord.
type authority struct {
	chain    []*x509.Certificate // signing certificate first, root last
	key      *PrivateKey         // chain[0]'s
	rootKey  *PrivateKey         // the root's, when held
	imported bool
}

// randomSerial draws a positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

// caSubject names one of the CA's certificates.
func caSubject(td TrustDomain, role string) pkix.Name {
	return pkix.Name{Organization: []string{"ztgate"}, CommonName: "ztgate " + role + " CA " + td.String()}
}

// newRoot makes a self-signed root for td.
func newRoot(td TrustDomain, now time.Time, ttl time.Duration) (*x509.Certificate, *PrivateKey, error) {
	key, err := generateKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               caSubject(td, "root"),
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key.s)
	if err != nil {
		return nil, nil, fmt.Errorf("create root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("create root: %w", err)
	}
	return cert, key, nil
}

// newIntermediate makes the signing certificate under root. It carries
// the URI name constraint spiffe://TD, which RFC 5280 spells as the host
// TD: every URI it certifies must name the trust domain, whoever asks.
func newIntermediate(td TrustDomain, root *x509.Certificate, rootKey *PrivateKey, now time.Time, ttl time.Duration) (*x509.Certificate, *PrivateKey, error) {
	key, err := generateKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(ttl)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     caSubject(td, "intermediate"),
		NotBefore:                   now.Add(-Backdate),
		NotAfter:                    notAfter,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		URIs:                        []*url.URL{td.ID().URL()},
		PermittedURIDomains:         []string{td.String()},
		PermittedDNSDomainsCritical: true, // marks the whole extension critical, as RFC 5280 asks
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey.s)
	if err != nil {
		return nil, nil, fmt.Errorf("create intermediate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("create intermediate: %w", err)
	}
	return cert, key, nil
}

// generate makes a new root and intermediate for td.
func generate(td TrustDomain, now time.Time, rootTTL, interTTL time.Duration) (*authority, error) {
	root, rootKey, err := newRoot(td, now, rootTTL)
	if err != nil {
		return nil, err
	}
	inter, key, err := newIntermediate(td, root, rootKey, now, interTTL)
	if err != nil {
		return nil, err
	}
	return &authority{chain: []*x509.Certificate{inter, root}, key: key, rootKey: rootKey}, nil
}

// importAuthority reads and checks an Import; with a root alone it makes
// the intermediate. Errors wrap ErrConfig and never quote the key.
func importAuthority(imp *Import, td TrustDomain, now time.Time, interTTL time.Duration) (*authority, error) {
	certs, err := parseCertsPEM(imp.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: import: certificates: %v", ErrConfig, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: import: no certificate in the certificate pem", ErrConfig)
	}
	key, err := parseKeyPEM(imp.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: import: key: %v", ErrConfig, err)
	}
	if key == nil {
		return nil, fmt.Errorf("%w: import: no private key in the key pem", ErrConfig)
	}
	if err := checkPublicKey(key.Public()); err != nil {
		return nil, fmt.Errorf("%w: import: %v", ErrConfig, err)
	}
	if !sameKey(certs[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: import: the private key is not the first certificate's", ErrConfig)
	}
	if len(certs) == 1 && selfSigned(certs[0]) {
		root := certs[0]
		if err := checkSigningCert(root, now); err != nil {
			return nil, fmt.Errorf("%w: import: root: %v", ErrConfig, err)
		}
		inter, interKey, err := newIntermediate(td, root, key, now, interTTL)
		if err != nil {
			return nil, fmt.Errorf("%w: import: %v", ErrConfig, err)
		}
		return &authority{chain: []*x509.Certificate{inter, root}, key: interKey, rootKey: key, imported: true}, nil
	}
	a := &authority{chain: certs, key: key, imported: true}
	if err := checkAuthority(a, td, now); err != nil {
		return nil, fmt.Errorf("%w: import: %v", ErrConfig, err)
	}
	return a, nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// checkSigningCert checks that c may sign certificates now.
func checkSigningCert(c *x509.Certificate, now time.Time) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return fmt.Errorf("certificate %q is not a ca (basicConstraints CA:true missing)", c.Subject)
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("certificate %q lacks the keyCertSign key usage", c.Subject)
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
	case !now.Before(c.NotAfter):
		return fmt.Errorf("certificate %q expired at %s", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkAuthority checks a CA's chain and key: every certificate a CA
// valid now, each signed by the next, the last a self-signed root, the
// key the first certificate's, and name constraints that let the first
// certificate certify SPIFFE IDs of td.
func checkAuthority(a *authority, td TrustDomain, now time.Time) error {
	if len(a.chain) == 0 {
		return fmt.Errorf("no certificates")
	}
	for _, c := range a.chain {
		if err := checkSigningCert(c, now); err != nil {
			return err
		}
	}
	if !sameKey(a.chain[0].PublicKey, a.key.Public()) {
		return fmt.Errorf("the private key is not the signing certificate's")
	}
	root := a.chain[len(a.chain)-1]
	if !selfSigned(root) {
		return fmt.Errorf("the last certificate, %q, is not a self-signed root", root.Subject)
	}
	if a.rootKey != nil && !sameKey(root.PublicKey, a.rootKey.Public()) {
		return fmt.Errorf("the root key is not the root certificate's")
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range a.chain[1 : len(a.chain)-1] {
		inter.AddCert(c)
	}
	if len(a.chain) > 1 {
		if _, err := a.chain[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}); err != nil {
			return fmt.Errorf("the chain does not verify: %v", err)
		}
	}
	signer := a.chain[0]
	if len(signer.PermittedURIDomains) > 0 && !slices.Contains(signer.PermittedURIDomains, td.String()) {
		return fmt.Errorf("the signing certificate's name constraints do not permit spiffe://%s", td)
	}
	if slices.Contains(signer.ExcludedURIDomains, td.String()) {
		return fmt.Errorf("the signing certificate's name constraints exclude spiffe://%s", td)
	}
	return nil
}
