package pki

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"time"
)

// CRLLifetime is how long a CRL is valid (nextUpdate - thisUpdate). A new
// one is made when the revocations change, and otherwise once half of it
// has passed.
const CRLLifetime = time.Hour

// crlView is a signed CRL and what it was made from.
type crlView struct {
	der    []byte
	rev    int64     // the revocation set's revision
	signer []byte    // the raw signing certificate
	this   time.Time // thisUpdate
}

// CRL returns the CA's certificate revocation list in DER, signed by the
// signing certificate: every revoked certificate that has not expired.
// Its CRL number is the store revision of the revocations it lists,
// shifted left 32 bits, plus the seconds of its thisUpdate, so that it
// grows with every change and every re-signing, on any node.
func (ca *CA) CRL() ([]byte, error) {
	now := ca.clock()
	m := ca.mat.Load()
	s := ca.rev.set.Load()
	if v := ca.rev.crl.Load(); v != nil && s != nil && v.rev == s.rev && bytes.Equal(v.signer, m.signer().Raw) &&
		!now.Before(v.this) && now.Before(v.this.Add(CRLLifetime/2)) {
		return v.der, nil
	}
	v, err := ca.makeCRL(m, s, now)
	if err != nil {
		return nil, err
	}
	ca.rev.crl.Store(v)
	return v.der, nil
}

// refreshCRL makes a new CRL after the revocations changed, so that the
// next request finds it ready. A failure is logged: CRL reports it again.
func (ca *CA) refreshCRL() {
	m, s := ca.mat.Load(), ca.rev.set.Load()
	if m == nil || s == nil {
		return
	}
	v, err := ca.makeCRL(m, s, ca.clock())
	if err != nil {
		ca.log.Error("pki: cannot sign the crl", "err", err)
		return
	}
	ca.rev.crl.Store(v)
}

func (ca *CA) makeCRL(m *material, s *revSet, now time.Time) (*crlView, error) {
	var rev int64
	var entries []x509.RevocationListEntry
	if s != nil {
		rev = s.rev
		for _, e := range s.entries {
			if e.notAfter.After(now) {
				entries = append(entries, x509.RevocationListEntry{SerialNumber: e.serial, RevocationTime: e.at.UTC(), ReasonCode: int(e.reason)})
			}
		}
	}
	slices.SortFunc(entries, func(a, b x509.RevocationListEntry) int {
		return cmp.Or(a.SerialNumber.Cmp(b.SerialNumber), a.RevocationTime.Compare(b.RevocationTime))
	})
	number := new(big.Int).Lsh(big.NewInt(rev), 32)
	number.Or(number, big.NewInt(now.Unix()&0xffffffff))
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.UTC(),
		NextUpdate:                now.Add(CRLLifetime).UTC(),
		RevokedCertificateEntries: entries,
	}, m.signer(), m.key.s)
	if err != nil {
		return nil, fmt.Errorf("%w: sign crl: %v", ErrCA, err)
	}
	return &crlView{der: der, rev: rev, signer: m.signer().Raw, this: now}, nil
}

// CRLHandler serves the CA's CRL in DER (application/pkix-crl) for GET
// and HEAD, or 503 when it cannot be signed.
func (ca *CA) CRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		der, err := ca.CRL()
		if err != nil {
			ca.log.Error("pki: cannot serve the crl", "err", err)
			http.Error(w, "crl unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", "max-age=60")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(der))
	})
}
