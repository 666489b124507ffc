package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/peer"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// caller is an authenticated agent.
type caller struct {
	agent AgentRecord
	svid  *pki.SVID
	actor audit.Actor
}

// requestActor is what is known of a caller before authentication.
func requestActor(r *http.Request) audit.Actor {
	a := audit.Actor{Identity: audit.UserIdentity{Type: "Anonymous"}, UserAgent: r.UserAgent(), SourceIP: peer.FromRequest(r).IP()}
	if r.TLS != nil {
		a.TLS = &audit.TLSDetails{TLSVersion: tls.VersionName(r.TLS.Version), CipherSuite: tls.CipherSuiteName(r.TLS.CipherSuite), ClientProvidedHostHeader: r.Host}
	}
	return a
}

// agentIdentity is the audit identity of an agent.
func agentIdentity(id pki.ID, name string) audit.UserIdentity {
	return audit.UserIdentity{Type: "Workload", PrincipalID: id.String(), ARN: id.String(), UserName: name}
}

// authenticate finds the agent behind a request: its client certificate
// must be an X509-SVID the CA issued and has not revoked, of an agent's
// SPIFFE ID, of a registered agent that is not revoked, and one of the
// agent's two latest certificates. act is filled in as far as the caller
// got, for the audit record of a refusal.
func (s *Server) authenticate(ctx context.Context, r *http.Request, ca *pki.CA, st store.Store, act *audit.Actor) (*caller, error) {
	if r.TLS == nil {
		return nil, errTLSRequired
	}
	peer := r.TLS.PeerCertificates
	if len(peer) == 0 {
		return nil, errCertRequired
	}
	// What the certificate claims, verified or not, for the record.
	if claimed, err := pki.ParseSVID(peer); err == nil {
		act.Identity.PrincipalID = claimed.ID.String()
	}
	act.AuthMethod = "mtls"
	svid, err := ca.VerifySVID(peer)
	if errors.Is(err, pki.ErrRevoked) {
		return nil, errCertRevoked
	}
	if err != nil {
		return nil, certRejected(err)
	}
	name, ok := agentName(svid.ID)
	if !ok {
		return nil, errNotAgent
	}
	act.Identity = agentIdentity(svid.ID, name)
	a, _, err := getAgent(ctx, st, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errAgentUnknown
	case err != nil:
		return nil, err
	case a.Revoked:
		return nil, errAgentRevoked
	case a.SPIFFEID != svid.ID.String():
		return nil, errAgentUnknown
	case !a.holds(svid.Certificates[0].SerialNumber):
		return nil, errCertSuperseded
	}
	return &caller{agent: a, svid: svid, actor: *act}, nil
}
