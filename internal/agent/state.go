package agent

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/pki"
)

// The agent's files in its data directory. The directory is made 0711
// when the agent creates it, so that other users can reach the Workload
// API socket in it but not list it; svid.pem, which holds the private
// key, is 0600.
const (
	svidFile   = "svid.pem"    // the agent's X509-SVID chain, then its private key (PKCS#8)
	bundleFile = "bundle.json" // the trust bundle, SPIFFE format
	socketFile = "agent.sock"  // the Workload API, unless --socket says otherwise
)

// identity is the agent's own X509-SVID and its key.
type identity struct {
	svid *pki.SVID
	key  crypto.Signer
	cert *tls.Certificate
	name string
}

func newIdentity(svid *pki.SVID, key crypto.Signer) (*identity, error) {
	name, ok := agentName(svid.ID)
	if !ok {
		return nil, fmt.Errorf("the svid's spiffe id %s is not an agent's", svid.ID)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: svid.Certificates[0]}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return &identity{svid: svid, key: key, cert: cert, name: name}, nil
}

func (id *identity) leaf() *x509.Certificate { return id.svid.Certificates[0] }

// renewAt is half-way through the SVID's life. The CA backdates
// notBefore by pki.Backdate, which is not part of the life the agent was
// given.
func (id *identity) renewAt() time.Time {
	l := id.leaf()
	issued := l.NotBefore.Add(pki.Backdate)
	if issued.After(l.NotAfter) {
		issued = l.NotBefore
	}
	return issued.Add(l.NotAfter.Sub(issued) / 2)
}

// newKey makes a P-256 key and a CSR for it, in PEM. The CSR names
// nothing: the server decides the identity.
func newKey() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, "", err
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// checkIssued verifies an answer to a join or renewal: a valid
// X509-SVID of an agent (of want, when given), for key, that verifies
// against the bundle sent with it. It returns the identity and the
// bundle.
func checkIssued(resp SVIDResponse, key crypto.Signer, want string, now time.Time) (*identity, *pki.Bundle, error) {
	chain, err := parseChain(resp.ChainPEM)
	if err != nil {
		return nil, nil, err
	}
	svid, err := pki.ParseSVID(chain)
	if err != nil {
		return nil, nil, fmt.Errorf("the issued certificate: %w", err)
	}
	if want != "" && svid.ID.String() != want {
		return nil, nil, fmt.Errorf("the server issued %s, not this agent's %s", svid.ID, want)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, nil, errors.New("the issued certificate is not for this agent's key")
	}
	b, err := pki.ParseBundle(svid.ID.TrustDomain(), resp.Bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("the trust bundle sent with the certificate: %w", err)
	}
	if _, err := pki.VerifySVID(chain, b, now); err != nil {
		return nil, nil, fmt.Errorf("the issued certificate does not verify against its trust bundle: %w", err)
	}
	id, err := newIdentity(svid, key)
	if err != nil {
		return nil, nil, err
	}
	return id, b, nil
}

// saveIdentity writes the SVID and its key, atomically, in one file, so
// that a crash never leaves a key beside another key's certificate.
func saveIdentity(dir string, id *identity) error {
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return err
	}
	defer clear(der)
	var b bytes.Buffer
	b.WriteString(chainPEM(id.svid.Certificates))
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(b.Bytes())
	if err := datadir.WriteFile(filepath.Join(dir, svidFile), b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("saving the agent's svid: %w", err)
	}
	return nil
}

func saveBundle(dir string, raw []byte) error {
	if err := datadir.WriteFile(filepath.Join(dir, bundleFile), raw, 0o644); err != nil {
		return fmt.Errorf("saving the trust bundle: %w", err)
	}
	return nil
}

// loadState reads what an earlier run saved. An agent that never joined
// gets an error matching os.ErrNotExist.
func loadState(dir string) (*identity, *pki.Bundle, []byte, error) {
	path := filepath.Join(dir, svidFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	defer clear(data)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, nil, fmt.Errorf("%s holds a private key but is readable by others (mode %04o): make it 0600", path, fi.Mode().Perm())
	}
	svid, key, err := pki.ParseSVIDPEM(data, data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	id, err := newIdentity(svid, key.Signer())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, bundleFile))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the agent's svid is saved but not its trust bundle: %w", err)
	}
	b, err := pki.ParseBundle(svid.ID.TrustDomain(), raw)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, bundleFile), err)
	}
	return id, b, raw, nil
}

// parseTrustBundle reads --trust-bundle: a SPIFFE bundle (JSON, as
// "ztgate ca show --format bundle" prints) or PEM certificates. Its
// trust domain is not known before joining, and does not matter here:
// only the roots are used, to verify the server.
func parseTrustBundle(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		var roots []*x509.Certificate
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("trust bundle: a certificate does not parse: %v", err)
			}
			roots = append(roots, c)
		}
		if len(roots) == 0 {
			return nil, errors.New("trust bundle: no CERTIFICATE block")
		}
		return roots, nil
	}
	td, _ := pki.ParseTrustDomain("bootstrap.invalid")
	b, err := pki.ParseBundle(td, data)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: neither PEM certificates nor a SPIFFE bundle: %w", err)
	}
	roots := b.X509Authorities()
	if len(roots) == 0 {
		return nil, errors.New("trust bundle: the SPIFFE bundle has no x509-svid authorities")
	}
	return roots, nil
}
