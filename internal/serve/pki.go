package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/device"
	"github.com/ztgate/ztgate/internal/gateway"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/ratelimit"
)

// TLSAddrFile, in the data directory, holds the TLS listener's address
// while the node runs.
const TLSAddrFile = "tls.addr"

// The CA's public endpoints on every listener.
const (
	BundlePath = "/.well-known/ztgate/spiffe-bundle.json" // the trust bundle, SPIFFE format
	CRLPath    = "/.well-known/ztgate/crl"                // the CRL, DER
)

// caConfig is the CA's configuration, without its store.
func (n *node) caConfig() (pki.Config, error) {
	c := n.cfg.CA
	pc := pki.Config{KEK: n.kek, TrustDomain: c.TrustDomain, Log: n.log, DefaultTTL: c.SVIDTTL.D(), MaxTTL: c.MaxTTL.D()}
	if c.ImportCert != "" {
		imp, err := pki.ImportFiles(n.dir.Resolve(c.ImportCert), n.dir.Resolve(c.ImportKey))
		if err != nil {
			return pc, fmt.Errorf("ca.import_cert_file: %w", err)
		}
		pc.Import = imp
	}
	return pc, nil
}

// caEndpoint serves one of the CA's documents once the CA is open.
func (n *node) caEndpoint(h func(*pki.CA) http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ca := n.CA()
		if ca == nil {
			http.Error(w, "the certificate authority is not ready", http.StatusServiceUnavailable)
			return
		}
		h(ca).ServeHTTP(w, r)
	})
}

// CA returns the node's certificate authority, or nil while the store is
// not open.
func (n *node) CA() *pki.CA {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ca
}

// caLoop follows revocations and CA changes from other nodes once the CA
// is open.
func (n *node) caLoop(ctx context.Context) {
	n.follow(ctx, "certificate revocations", func() runner {
		if ca := n.CA(); ca != nil {
			return ca
		}
		return nil
	})
}

// serverCerts keeps the TLS listener's certificate: a configured one, or
// one issued by the node's CA for the configured names and renewed at
// half its life.
type serverCerts struct {
	n      *node
	static *tls.Certificate
	names  []string

	mu   sync.Mutex
	cur  *tls.Certificate
	half time.Time // renew after
}

// serverCertTTL is the lifetime of the listener's certificate (capped by
// ca.max_ttl).
const serverCertTTL = 24 * time.Hour

func (s *serverCerts) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.static != nil {
		return s.static, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.cur != nil && now.Before(s.half) {
		return s.cur, nil
	}
	c, err := s.issue(now)
	if err != nil {
		if s.cur != nil && now.Before(s.cur.Leaf.NotAfter) {
			// Try again in a minute, not on every handshake meanwhile.
			s.half = now.Add(time.Minute)
			s.n.log.Warn("renewing the TLS listener's certificate failed; serving the current one", "err", err)
			return s.cur, nil
		}
		s.n.log.Error("no certificate for the TLS listener", "err", err)
		return nil, errors.New("no certificate")
	}
	s.cur = c
	s.half = c.Leaf.NotBefore.Add(c.Leaf.NotAfter.Sub(c.Leaf.NotBefore) / 2)
	return c, nil
}

func (s *serverCerts) issue(now time.Time) (*tls.Certificate, error) {
	ca := s.n.CA()
	if ca == nil {
		return nil, errors.New("the certificate authority is not open yet")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ztgate gateway"}}, key)
	if err != nil {
		return nil, err
	}
	var dns []string
	var ips []net.IP
	for _, name := range s.names {
		if ip := net.ParseIP(name); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, name)
		}
	}
	ttl := min(serverCertTTL, s.n.cfg.CA.MaxTTL.D())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	chain, err := ca.Sign(ctx, pki.Request{
		CSR: csr, Subject: pkix.Name{CommonName: "ztgate gateway", Organization: []string{"ztgate"}}, TTL: ttl,
		Requester: "node " + nodeName(s.n.cfg) + " (TLS listener)",
	}, pki.ModifyCertFunc(func(t *x509.Certificate) error {
		t.DNSNames, t.IPAddresses = dns, ips
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c, nil
}

// tlsConfig is the TLS listener's configuration: the server certificate,
// and client certificates requested, never required, and verified
// against the CA's bundle when given (mtls routes need one; others
// authenticate otherwise).
func (n *node) tlsConfig() (*tls.Config, error) {
	c := n.cfg.Gateway.TLS
	sc := &serverCerts{n: n, names: c.NameList()}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(n.dir.Resolve(c.CertFile), n.dir.Resolve(c.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("gateway.tls.cert_file: %w", err)
		}
		sc.static = &cert
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: sc.get,
		ClientAuth:     tls.RequestClientCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	// Each connection gets the base with a check that knows the peer's
	// address, for the audit record of a refused certificate.
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.VerifyConnection = func(cs tls.ConnectionState) error { return n.verifyClient(cs, hello.Conn) }
		return c, nil
	}
	return base, nil
}

// verifyClient checks a client certificate at the handshake: one that
// does not verify (another CA, expired, not yet valid, revoked, not an
// SVID) ends it, so that the client learns at once that its identity is
// refused, and the refusal is audited.
func (n *node) verifyClient(cs tls.ConnectionState, conn net.Conn) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	ca := n.CA()
	if ca == nil {
		return errors.New("client certificates cannot be verified yet")
	}
	_, err := ca.VerifySVID(cs.PeerCertificates)
	if err == nil {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	a := audit.Actor{Identity: audit.UserIdentity{Type: "Unknown"}, AuthMethod: "mtls",
		TLS: &audit.TLSDetails{TLSVersion: tls.VersionName(cs.Version), CipherSuite: tls.CipherSuiteName(cs.CipherSuite), ClientProvidedHostHeader: cs.ServerName}}
	if conn != nil {
		// The TCP peer: at the handshake no proxy can vouch for anyone.
		if addr := peer.ParseHop(conn.RemoteAddr().String()); addr.IsValid() {
			a.SourceIP = addr.String()
		}
	}
	rec := audit.AuthFailureEvent{
		Actor: a, Source: audit.SourceGateway, Name: "TLSHandshake", Code: "CertificateRejected", Message: err.Error(),
		Parameters: map[string]any{"serialNumber": strings.ToLower(leaf.SerialNumber.Text(16)), "issuer": leaf.Issuer.String()},
	}.Record()
	// One client presenting bad certificates over and over is recorded
	// up to a bound a minute; the rest are refused all the same.
	if n.handshakeRefusals == nil || n.handshakeRefusals.Allow(ratelimit.ClientKey(a.SourceIP)) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if aerr := n.audit.Record(ctx, rec); aerr != nil {
			n.log.Error("audit record of a refused client certificate failed", "err", aerr)
		}
	}
	return err
}

// mtlsGateway authenticates callers by the X.509-SVID they presented on
// the TLS listener: the workload is its SPIFFE ID, a device
// (spiffe://TD/device/ID) its registry entry. The handshake verified
// the chain; each request checks what can change since (revocation,
// expiry), so that a certificate revoked or expired during a long
// connection is refused on its next request, without paying the chain's
// signature checks again.
type mtlsGateway struct{ n *node }

func (mtlsGateway) Method() string { return "mtls" }

func (g mtlsGateway) Authenticate(r *http.Request, _ *gateway.Route) (*gateway.Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, gateway.ErrNoCredentials
	}
	ca := g.n.CA()
	if ca == nil {
		return nil, errors.New("the certificate authority is not open yet")
	}
	// The handshake verified the chain (verifyClient); what can change
	// since, revocation and validity, is checked for every request.
	svid, err := ca.Recheck(r.TLS.PeerCertificates)
	if err != nil {
		msg := "The client certificate is not valid."
		if errors.Is(err, pki.ErrRevoked) {
			msg = "The client certificate has been revoked."
		} else if errors.Is(err, pki.ErrValidity) {
			msg = "The client certificate has expired or is not yet valid."
		}
		return nil, &gateway.Refusal{Status: http.StatusUnauthorized, Code: "InvalidClientCertificate", Message: msg}
	}
	id := svid.ID.String()
	leaf := svid.Certificates[0]
	var kc authz.Context
	kc.SetString(keys.ClientCertSerial, strings.ToLower(leaf.SerialNumber.Text(16)))
	kc.SetString(keys.ClientCertIssuer, leaf.Issuer.String())
	ident := &gateway.Identity{
		Principal: authz.ParsePrincipal(id), ARN: id, ID: id, Method: "mtls", Context: &kc,
		Audit: audit.UserIdentity{Type: "Workload", PrincipalID: id, ARN: id},
	}
	devID, isDevice := device.IDOf(svid.ID)
	if !isDevice && strings.HasPrefix(svid.ID.Path(), "/device/") {
		return nil, &gateway.Refusal{Status: http.StatusUnauthorized, Code: "UnknownDevice", Message: "The device is not enrolled, or its enrollment was revoked."}
	}
	if isDevice {
		// A device: known and not revoked in the registry, whatever its
		// certificate says until the revocation reaches this node, and
		// the certificate one the registry issued to it (a certificate
		// that merely names the device is not the device); its facts
		// become the zt:Device* keys.
		reg := g.n.Devices()
		now := time.Now()
		serial := fmt.Sprintf("%x", leaf.SerialNumber.Bytes())
		var issued bool
		if reg != nil {
			if dev, ok := reg.Lookup(devID); ok && !dev.Revoked {
				issued = slices.ContainsFunc(dev.Certificates, func(c device.Certificate) bool { return c.Serial == serial && !c.Withdrawn })
			}
		}
		if !issued || !reg.Context(devID, now, &kc) {
			return nil, &gateway.Refusal{Status: http.StatusUnauthorized, Code: "UnknownDevice", Message: "The device is not enrolled, or its enrollment was revoked."}
		}
		ident.Audit.Type = "Device"
		ident.Device = reg.AuditDevice(devID, now)
		return ident, nil
	}
	kc.SetString(keys.SpiffeID, id)
	return ident, nil
}
