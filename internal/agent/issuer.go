package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/workload"
)

// issuer is the Workload API's Issuer: it asks the server, over mTLS
// with the agent's SVID, to sign workloads' CSRs under the agent's
// entries, and serves the trust bundle the agent holds, refreshed from
// the server.
type issuer struct{ a *Agent }

var _ workload.Issuer = issuer{}

// IssueX509SVID asks for an SVID under an entry of the agent that names
// spiffeID, preferring one with the TTL asked for. Entries that share a
// SPIFFE ID grant the same identity; the server decides the lifetime
// from the entry.
func (i issuer) IssueX509SVID(ctx context.Context, csrDER []byte, spiffeID string, ttl time.Duration) ([]*x509.Certificate, error) {
	entryID := i.a.entryFor(spiffeID, ttl)
	if entryID == "" {
		return nil, fmt.Errorf("no registration entry of this agent names %s", spiffeID)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	resp, err := i.a.c.svid(ctx, entryID, csr)
	i.a.observe("svid", err)
	if err != nil {
		return nil, err
	}
	if resp.SPIFFEID != spiffeID {
		return nil, fmt.Errorf("the server issued %s for entry %s, not %s", quote(resp.SPIFFEID), entryID, spiffeID)
	}
	return parseChain(resp.ChainPEM)
}

func (a *Agent) entryFor(spiffeID string, ttl time.Duration) string {
	p := a.known.Load()
	if p == nil {
		return ""
	}
	found := ""
	for _, e := range *p {
		if e.SPIFFEID != spiffeID {
			continue
		}
		if d, err := time.ParseDuration(e.TTL); err == nil && d == ttl {
			return e.ID
		}
		if found == "" {
			found = e.ID
		}
	}
	return found
}

// Bundle reads the trust bundle from the server, keeping it when it
// changed. While the server cannot be reached, it answers the bundle the
// agent holds: the roots do not change because the server is down.
func (i issuer) Bundle(ctx context.Context) (string, []*x509.Certificate, error) {
	a := i.a
	td := a.id.Load().svid.ID.TrustDomain()
	raw, err := a.c.bundle(ctx)
	var b *pki.Bundle
	if err == nil {
		b, err = pki.ParseBundle(td, raw)
	}
	a.observe("bundle", err)
	if err == nil {
		held := a.keepBundle(b, raw)
		a.bundle.Store(held)
		a.setRoots(held.b)
	}
	held := a.bundle.Load()
	if held == nil {
		return "", nil, errors.New("no trust bundle yet")
	}
	return td.String(), held.b.X509Authorities(), nil
}
