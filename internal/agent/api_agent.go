package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// begin authenticates a call from an agent. On a refusal it has answered
// and audited, and returns nil.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, ev *audit.AuthFailureEvent) (*caller, *pki.CA, store.Store) {
	ev.Actor = requestActor(r)
	if ev.Parameters == nil {
		ev.Parameters = map[string]any{}
	}
	ca := s.cfg.CA()
	if ca == nil {
		s.refuse(w, r, *ev, errCAUnavailable)
		return nil, nil, nil
	}
	st, err := s.cfg.Store()
	if err != nil {
		s.refuse(w, r, *ev, errStoreUnavailble)
		return nil, nil, nil
	}
	c, err := s.authenticate(r.Context(), r, ca, st, &ev.Actor)
	if err != nil {
		s.refuse(w, r, *ev, err)
		return nil, nil, nil
	}
	ev.Parameters["agentName"] = c.agent.Name
	return c, ca, st
}

// beginBody is begin for a call that sends a body: it reads the body too,
// refusing one that is too large or unreadable.
func (s *Server) beginBody(w http.ResponseWriter, r *http.Request, ev *audit.AuthFailureEvent) (*caller, *pki.CA, store.Store, []byte) {
	c, ca, st := s.begin(w, r, ev)
	if c == nil {
		return nil, nil, nil, nil
	}
	body, err := readBody(w, r)
	if err != nil {
		s.refuse(w, r, *ev, err)
		return nil, nil, nil, nil
	}
	return c, ca, st, body
}

// renew issues the agent a new SVID for a new key, and records it as the
// agent's current certificate; the one presented becomes the previous.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	ev := audit.AuthFailureEvent{Name: "RenewAgentSVID"}
	c, ca, st, body := s.beginBody(w, r, &ev)
	if c == nil {
		return
	}
	ctx := r.Context()
	csrDER, err := parseRenewRequest(body)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	name, id := c.agent.Name, c.svid.ID
	chain, err := ca.IssueSVID(ctx, csrDER, id, s.cfg.AgentTTL, "agent "+name+" (renewal)")
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	leaf, presented := chain[0], c.svid.Certificates[0].SerialNumber
	now := s.clock().UTC()
	_, err = st.Update(ctx, func(tx store.Tx) error {
		a, rev, err := getAgent(ctx, tx, name)
		switch {
		case err != nil:
			return errAgentUnknown
		case a.Revoked:
			return errAgentRevoked // revoked since the call began
		case !a.holds(presented):
			return errCertSuperseded
		}
		a.Previous, a.Serial = serialText(presented), serialText(leaf.SerialNumber)
		a.NotAfter, a.Renewed = leaf.NotAfter.UTC(), now
		return putAgent(ctx, tx, a, rev)
	})
	if err != nil {
		s.revokeSerial(ctx, ca, leaf.SerialNumber, pki.ReasonCessationOfOperation, "ztgate (renewal refused)")
		s.refuse(w, r, ev, err)
		return
	}
	issued := audit.IssuedEvent{
		Actor: c.actor, Name: "RenewAgentSVID",
		Resources:  []audit.Resource{{ARN: id.String(), Type: "ZTGate::Agent"}},
		Parameters: map[string]any{"agentName": name, "presentedSerial": serialText(presented)},
	}
	if !s.recordIssued(w, r, ca, issued, leaf) {
		return
	}
	s.log.Info("agent renewed its svid", "agent", name, "serial", serialText(leaf.SerialNumber), "not_after", leaf.NotAfter)
	writeJSON(w, svidResponse(id, chain, ca.BundleJSON()))
}

// entries lists the calling agent's registration entries.
func (s *Server) entries(w http.ResponseWriter, r *http.Request) {
	ev := audit.AuthFailureEvent{Name: "ListWorkloadEntries"}
	c, ca, st := s.begin(w, r, &ev)
	if c == nil {
		return
	}
	recs, err := listEntries(r.Context(), st, c.agent.Name, ca.TrustDomain(), s.log)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	out := EntriesResponse{Entries: make([]EntryJSON, len(recs))}
	for i := range recs {
		out.Entries[i] = recs[i].toJSON()
	}
	writeJSON(w, out)
}

// svid issues a workload's X509-SVID under one of the calling agent's
// entries, for the entry's SPIFFE ID and TTL (capped by MaxTTL).
func (s *Server) svid(w http.ResponseWriter, r *http.Request) {
	ev := audit.AuthFailureEvent{Name: "IssueWorkloadSVID"}
	c, ca, st, body := s.beginBody(w, r, &ev)
	if c == nil {
		return
	}
	ctx := r.Context()
	entryID, csrDER, err := parseSVIDRequest(body)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	ev.Parameters["entryId"] = entryID
	e, err := getEntry(ctx, st, c.agent.Name, entryID, ca.TrustDomain())
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	id, err := pki.ParseID(e.SPIFFEID)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	ev.Parameters["spiffeId"] = id.String()
	chain, err := ca.IssueSVID(ctx, csrDER, id, min(e.ttl(), s.maxTTL), "agent "+c.agent.Name+" for entry "+e.ID)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	issued := audit.IssuedEvent{
		Actor: c.actor, Name: "IssueWorkloadSVID",
		Resources:  []audit.Resource{{ARN: id.String(), Type: "ZTGate::PKI::Workload"}},
		Parameters: map[string]any{"agentName": c.agent.Name, "entryId": e.ID, "spiffeId": id.String()},
	}
	if !s.recordIssued(w, r, ca, issued, chain[0]) {
		return
	}
	writeJSON(w, svidResponse(id, chain, nil))
}

// jwtsvid issues a workload's JWT-SVID under one of the calling agent's
// entries, for the entry's SPIFFE ID and the audience asked. A token
// cannot be revoked: one whose audit record cannot be written is not
// handed out, and the record identifies it by a digest, never holds it.
func (s *Server) jwtsvid(w http.ResponseWriter, r *http.Request) {
	ev := audit.AuthFailureEvent{Name: "IssueJWTSVID"}
	c, ca, st, body := s.beginBody(w, r, &ev)
	if c == nil {
		return
	}
	ctx := r.Context()
	entryID, aud, ttl, err := parseJWTSVIDRequest(body)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	ev.Parameters["entryId"], ev.Parameters["audience"] = entryID, aud
	e, err := getEntry(ctx, st, c.agent.Name, entryID, ca.TrustDomain())
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	id, err := pki.ParseID(e.SPIFFEID)
	if err != nil {
		s.refuse(w, r, ev, err)
		return
	}
	ev.Parameters["spiffeId"] = id.String()
	token, err := ca.MintJWTSVID(id, aud, ttl)
	if err != nil {
		s.refuse(w, r, ev, jwtRefused(err))
		return
	}
	if len(token) > pki.MaxJWTSize {
		s.refuse(w, r, ev, errJWTTooLarge)
		return
	}
	issued := audit.IssuedEvent{
		Actor: c.actor, Source: audit.SourcePKI, Name: "IssueJWTSVID",
		Resources:  []audit.Resource{{ARN: id.String(), Type: "ZTGate::PKI::Workload"}},
		Parameters: map[string]any{"agentName": c.agent.Name, "entryId": e.ID, "spiffeId": id.String(), "audience": aud},
		Response:   map[string]any{"svidDigest": jwtDigest(token)},
	}
	if ttl > 0 {
		issued.Parameters["ttl"] = ttl.String()
	}
	if exp, ok := jwtExpiry(token); ok {
		issued.Response["expiresAt"] = exp.UTC().Format(time.RFC3339)
	}
	if err := s.cfg.Audit.Record(context.WithoutCancel(ctx), issued.Record()); err != nil {
		s.log.Error("agent api: audit record of an issuance failed; the jwt-svid is not handed out", "op", issued.Name, "err", err)
		writeError(w, errJWTNotAudited)
		return
	}
	writeJSON(w, JWTSVIDResponse{Token: token})
}

// bundle answers the trust bundle in the SPIFFE bundle format.
func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	ev := audit.AuthFailureEvent{Name: "FetchTrustBundle"}
	c, ca, _ := s.begin(w, r, &ev)
	if c == nil {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write(ca.BundleJSON())
}
