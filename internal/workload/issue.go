package workload

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// errIssuer classifies an SVID the issuer failed to sign, or signed in a
// form the server will not hand to a workload.
var errIssuer = errors.New("x509-svid issuance failed")

// x509SVID is one entry's current X509-SVID and its private key. It prints
// (fmt, slog) as its entry, SPIFFE ID and serial: the key is never shown.
type x509SVID struct {
	entryID  string
	spiffeID string
	ttl      time.Duration // as requested; a change of the entry's TTL renews
	serial   string
	chainDER []byte // the certificates' DER, leaf first, concatenated
	keyDER   []byte // PKCS#8; secret
	expires  time.Time
	renewAt  time.Time
}

func (s *x509SVID) String() string {
	return fmt.Sprintf("x509-svid %s for entry %q serial %s", s.spiffeID, s.entryID, s.serial)
}

// GoString keeps %#v from dumping the key.
func (s *x509SVID) GoString() string { return s.String() }

// LogValue implements slog.LogValuer.
func (s *x509SVID) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("entry", s.entryID),
		slog.String("spiffe_id", s.spiffeID),
		slog.String("serial", s.serial),
		slog.Time("expires", s.expires),
	)
}

var _ slog.LogValuer = (*x509SVID)(nil)

// issueX509SVID makes a fresh P-256 key for e, has the issuer sign it, and
// checks what comes back: the chain must be one go-spiffe accepts, name
// e's SPIFFE ID, certify this key, chain to the trust bundle and not have
// expired. A faulty issuer must not make the server hand a workload an
// identity it did not ask for, or one nobody will trust.
func issueX509SVID(ctx context.Context, iss Issuer, e *entry, b *x509Bundle, now time.Time) (*x509SVID, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		URIs: []*url.URL{e.spiffeID.URL()},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create csr: %w", err)
	}
	chain, err := iss.IssueX509SVID(ctx, csr, e.spiffeID.String(), e.ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errIssuer, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	var chainDER []byte
	for _, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("%w: nil certificate in chain", errIssuer)
		}
		chainDER = append(chainDER, c.Raw...)
	}
	parsed, err := x509svid.ParseRaw(chainDER, keyDER)
	if err != nil {
		// go-spiffe's message names the defect (key usage, CA flag,
		// key mismatch); it never contains the key.
		return nil, fmt.Errorf("%w: not a valid x509-svid for the generated key: %v", errIssuer, err)
	}
	leaf := parsed.Certificates[0]
	if parsed.ID != e.spiffeID {
		return nil, fmt.Errorf("%w: leaf names %s, asked for %s", errIssuer, parsed.ID, e.spiffeID)
	}
	if parsed.ID.TrustDomain() != b.td {
		return nil, fmt.Errorf("%w: %s is not in the trust domain %s", errIssuer, parsed.ID, b.td)
	}
	if !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: leaf expired at %s", errIssuer, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	roots := x509.NewCertPool()
	for _, a := range b.authorities {
		roots.AddCert(a)
	}
	inter := x509.NewCertPool()
	for _, c := range parsed.Certificates[1:] {
		inter.AddCert(c)
	}
	// Checked as of the leaf's start, so that a CA clock slightly ahead
	// of this host's does not make a good SVID look premature.
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   leaf.NotBefore,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: leaf does not chain to the trust bundle: %v", errIssuer, err)
	}
	return &x509SVID{
		entryID:  e.id,
		spiffeID: e.spiffeID.String(),
		ttl:      e.ttl,
		serial:   leaf.SerialNumber.Text(16),
		chainDER: chainDER,
		keyDER:   keyDER,
		expires:  leaf.NotAfter,
		// Half of the lifetime left: an issuer outage shorter than that
		// costs the workload nothing.
		renewAt: now.Add(leaf.NotAfter.Sub(now) / 2),
	}, nil
}
