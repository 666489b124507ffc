package agent

import (
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// join admits an agent with a one-time token: the token is checked, the
// agent's SVID issued, and then, in one transaction, the token consumed
// and the agent registered. A token used twice at once gets one agent:
// the loser's certificate is revoked before anyone sees it.
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	act := requestActor(r)
	act.AuthMethod = "join-token"
	ev := audit.AuthFailureEvent{Actor: act, Name: "JoinAgent", Parameters: map[string]any{}}
	fail := func(err error) {
		ev.Actor = act
		s.refuse(w, r, ev, err)
	}
	if r.TLS == nil {
		fail(errTLSRequired)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		fail(err)
		return
	}
	tok, csrDER, err := parseJoinRequest(body)
	if err != nil {
		fail(err)
		return
	}
	key := tokenKey(tok)
	ev.Parameters["joinId"] = tokenID(key)
	ca := s.cfg.CA()
	if ca == nil {
		fail(errCAUnavailable)
		return
	}
	st, err := s.cfg.Store()
	if err != nil {
		fail(errStoreUnavailble)
		return
	}
	now := s.clock()
	t, _, err := pendingToken(ctx, st, key, now)
	if err != nil {
		fail(err)
		return
	}
	name := t.Name
	ev.Parameters["agentName"] = name
	id, err := AgentID(ca.TrustDomain(), name)
	if err != nil {
		fail(err)
		return
	}
	act.Identity = agentIdentity(id, name)
	if a, _, err := getAgent(ctx, st, name); err == nil && a.Revoked {
		fail(errAgentRevoked)
		return
	}

	chain, err := ca.IssueSVID(ctx, csrDER, id, s.cfg.AgentTTL, "agent "+name+" (join)")
	if err != nil {
		fail(err)
		return
	}
	leaf := chain[0]
	var old AgentRecord
	_, err = st.Update(ctx, func(tx store.Tx) error {
		t2, _, err := pendingToken(ctx, tx, key, now)
		if err != nil {
			return err
		}
		if t2.Name != name {
			return errTokenRefused
		}
		if _, err := tx.Delete(ctx, KindJoinToken, key); errors.Is(err, store.ErrNotFound) {
			return errTokenRefused // consumed by a join that committed first
		} else if err != nil {
			return err
		}
		a, rev, err := getAgent(ctx, tx, name)
		switch {
		case err == nil && a.Revoked:
			return errAgentRevoked
		case err == nil:
			old = a // joining again, with a new key: the old certificates go
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return putAgent(ctx, tx, AgentRecord{
			Name: name, SPIFFEID: id.String(), Joined: now.UTC(),
			Serial: serialText(leaf.SerialNumber), NotAfter: leaf.NotAfter.UTC(),
		}, rev)
	})
	if err != nil {
		s.revokeSerial(ctx, ca, leaf.SerialNumber, pki.ReasonCessationOfOperation, "ztgate (join refused)")
		fail(err)
		return
	}
	s.log.Info("agent joined", "agent", name, "spiffe_id", id.String(), "serial", serialText(leaf.SerialNumber), "again", old.Name != "")
	issued := audit.IssuedEvent{
		Actor: act, Name: "JoinAgent",
		Resources:  []audit.Resource{{ARN: id.String(), Type: "ZTGate::Agent"}},
		Parameters: map[string]any{"agentName": name, "joinId": tokenID(key)},
	}
	if !s.recordIssued(w, r, ca, issued, leaf) {
		return
	}
	s.supersede(r, ca, old, leaf)
	writeJSON(w, svidResponse(id, chain, ca.BundleJSON()))
}

// supersede revokes the certificates of an agent's earlier registration
// once it has joined again.
func (s *Server) supersede(r *http.Request, ca *pki.CA, old AgentRecord, current *x509.Certificate) {
	for _, hex := range []string{old.Serial, old.Previous} {
		if n, err := pki.ParseSerial(hex); err == nil && hex != "" && n.Cmp(current.SerialNumber) != 0 {
			s.revokeSerial(r.Context(), ca, n, pki.ReasonSuperseded, "ztgate (agent "+old.Name+" joined again)")
		}
	}
}
