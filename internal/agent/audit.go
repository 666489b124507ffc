package agent

import (
	"context"
	"crypto/x509"
	"math/big"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// refuse answers a refused call of the agent API and records it as an
// authentication failure. The record is written even if the client has
// gone; if it cannot be, the call is refused all the same.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ev audit.AuthFailureEvent, err error) {
	e, internal := publicError(err)
	if internal {
		logInternal(s.log, ev.Name, err)
	}
	ev.Source = audit.SourcePKI
	ev.Code, ev.Message = e.Code, e.Message
	if aerr := s.cfg.Audit.Record(context.WithoutCancel(r.Context()), ev.Record()); aerr != nil {
		s.log.Error("agent api: audit record of a refusal failed", "op", ev.Name, "err", aerr)
	}
	writeError(w, e)
}

// recordIssued records an issued certificate. When the record cannot be
// written, the certificate is revoked and the client told so, as
// pki.ControlHandler does: no identity is usable unaudited. It reports
// whether the certificate may be handed out.
func (s *Server) recordIssued(w http.ResponseWriter, r *http.Request, ca *pki.CA, ev audit.IssuedEvent, leaf *x509.Certificate) bool {
	ctx := context.WithoutCancel(r.Context())
	ev.Source = audit.SourcePKI
	ev.Response = map[string]any{
		"serialNumber": serialText(leaf.SerialNumber),
		"notAfter":     leaf.NotAfter.UTC().Format(time.RFC3339),
	}
	if err := s.cfg.Audit.Record(ctx, ev.Record()); err != nil {
		s.log.Error("agent api: audit record of an issuance failed; revoking the certificate", "op", ev.Name, "serial", serialText(leaf.SerialNumber), "err", err)
		s.revokeSerial(ctx, ca, leaf.SerialNumber, pki.ReasonCessationOfOperation, "ztgate (issuance not audited)")
		writeError(w, errNotAudited)
		return false
	}
	return true
}

// revokeSerial revokes a certificate nobody must use, logging a failure:
// its caller has already decided to refuse.
func (s *Server) revokeSerial(ctx context.Context, ca *pki.CA, serial *big.Int, reason pki.Reason, by string) {
	if err := ca.Revoke(context.WithoutCancel(ctx), serial, reason, by); err != nil {
		s.log.Error("agent api: revoking a certificate failed", "serial", serialText(serial), "err", err)
	}
}

// svidResponse is the answer carrying an issued chain.
func svidResponse(id pki.ID, chain []*x509.Certificate, bundle []byte) SVIDResponse {
	return SVIDResponse{
		SPIFFEID: id.String(),
		ChainPEM: chainPEM(chain),
		Serial:   serialText(chain[0].SerialNumber),
		NotAfter: chain[0].NotAfter.UTC(),
		Bundle:   bundle,
	}
}
