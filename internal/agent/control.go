package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// ControlPrefix is where the agents' administration API is served on the
// node's control socket (owner only); "ztgate agent" uses it.
const ControlPrefix = "/v1/agent"

// TokenRequest asks for a join token.
type TokenRequest struct {
	Name string `json:"name"`          // the agent it admits
	TTL  string `json:"ttl,omitempty"` // a Go duration; DefaultTokenTTL when empty
}

// TokenResponse carries a new join token: the only time it is shown.
type TokenResponse struct {
	Token    string    `json:"token"`
	ID       string    `json:"id"` // names the token in the audit log
	Name     string    `json:"name"`
	SPIFFEID string    `json:"spiffe_id"` // the identity the agent will have
	Expires  time.Time `json:"expires"`
}

// AgentsResponse lists the agents.
type AgentsResponse struct {
	Agents []AgentRecord `json:"agents"`
}

// RevokeRequest asks to revoke an agent.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RevokeResponse says what a revocation did.
type RevokeResponse struct {
	Agent   AgentRecord `json:"agent"`
	Serials []string    `json:"revoked_serials"` // certificates revoked by this call
}

// maxControlBody bounds an administration request.
const maxControlBody = 64 << 10

// ControlHandler serves the administration API under ControlPrefix:
//
//	POST   /v1/agent/tokens                a TokenRequest → TokenResponse
//	GET    /v1/agent/agents                → AgentsResponse
//	POST   /v1/agent/agents/{name}/revoke  a RevokeRequest → RevokeResponse
//	POST   /v1/agent/entries               an EntryRequest → EntryJSON
//	GET    /v1/agent/entries[?parent=NAME] → EntriesResponse
//	DELETE /v1/agent/entries/{id}          → EntryJSON
//
// Errors are {"error": message}, as the control socket's other APIs. Every
// change is audited, refused ones too; a change whose record cannot be
// written is undone where it can be (a token, a new entry) and never
// acknowledged.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ControlPrefix+"/tokens", s.ctlToken)
	mux.HandleFunc("GET "+ControlPrefix+"/agents", s.ctlAgents)
	mux.HandleFunc("POST "+ControlPrefix+"/agents/{name}/revoke", s.ctlRevoke)
	mux.HandleFunc("POST "+ControlPrefix+"/entries", s.ctlCreateEntry)
	mux.HandleFunc("GET "+ControlPrefix+"/entries", s.ctlEntries)
	mux.HandleFunc("DELETE "+ControlPrefix+"/entries/{id}", s.ctlDeleteEntry)
	return mux
}

// controlStatus maps an error to the control API's status and message.
func (s *Server) controlStatus(op string, err error) (int, string) {
	var e *APIError
	switch {
	case errors.As(err, &e):
		return e.Status, e.Message
	case errors.Is(err, ErrInvalid), errors.Is(err, pki.ErrInvalidID):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrRevoked), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "the store is not reachable; retry later"
	}
	s.log.Error("agent control: request failed", "op", op, "err", err)
	return http.StatusInternalServerError, err.Error()
}

// controlFail answers err.
func (s *Server) controlFail(w http.ResponseWriter, op string, err error) {
	status, msg := s.controlStatus(op, err)
	controlError(w, status, msg)
}

func controlError(w http.ResponseWriter, status int, msg string) { control.WriteError(w, status, msg) }

// controlDecode reads a request body of the control API strictly.
func controlDecode(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err == nil {
		err = decodeStrict(data, v, what)
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, "body: not the JSON of "+what)
		return false
	}
	return true
}

// open returns the CA and store, or answers 503.
func (s *Server) open(w http.ResponseWriter) (*pki.CA, store.Store, bool) {
	ca := s.cfg.CA()
	if ca == nil {
		controlError(w, http.StatusServiceUnavailable, "the certificate authority is not open yet")
		return nil, nil, false
	}
	st, err := s.cfg.Store()
	if err != nil {
		controlError(w, http.StatusServiceUnavailable, "the store is not open yet")
		return nil, nil, false
	}
	return ca, st, true
}

// by names the control socket's caller in records.
func by(a audit.Actor) string {
	if a.Identity.UserName == "" {
		return "control socket"
	}
	return a.Identity.UserName + " (control socket)"
}

// audited records rec, and reports whether the caller may acknowledge.
func (s *Server) audited(r *http.Request, op string, rec *audit.Record) bool {
	if err := s.cfg.Audit.Record(context.WithoutCancel(r.Context()), rec); err != nil {
		s.log.Error("agent control: audit record failed", "op", op, "err", err)
		return false
	}
	return true
}

func (s *Server) ctlToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !controlDecode(w, r, &req, "a join token request") {
		return
	}
	ca, st, ok := s.open(w)
	if !ok {
		return
	}
	act := s.cfg.Actor(r)
	ev := audit.AdminEvent{
		Actor: act, Source: audit.SourcePKI, Name: "CreateJoinToken",
		Parameters: map[string]any{"agentName": req.Name, "ttl": req.TTL},
	}
	var (
		tok JoinToken
		t   joinToken
		id  pki.ID
	)
	err := func() error {
		var ttl time.Duration
		if req.TTL != "" {
			var err error
			if ttl, err = time.ParseDuration(req.TTL); err != nil {
				return fmt.Errorf("%w: ttl %s is not a duration such as 30m or 1h", ErrInvalid, quote(req.TTL))
			}
			if ttl <= 0 {
				return fmt.Errorf("%w: ttl %s is not positive", ErrInvalid, quote(req.TTL))
			}
		}
		var err error
		if id, err = AgentID(ca.TrustDomain(), req.Name); err != nil {
			return err
		}
		tok, t, err = s.createToken(r.Context(), st, req.Name, ttl, by(act))
		return err
	}()
	status, msg := 0, ""
	if err == nil {
		ev.Resources = []audit.Resource{{ARN: id.String(), Type: "ZTGate::Agent"}}
		ev.Response = map[string]any{"joinId": tokenID(tokenKey(tok.Reveal())), "expires": t.Expires.Format(time.RFC3339)}
	} else {
		status, msg = s.controlStatus("CreateJoinToken", err)
		ev.Code, ev.Message = "InvalidRequest", msg
	}
	if !s.audited(r, "CreateJoinToken", ev.Record()) {
		if err == nil {
			// No token exists that the audit log does not know of.
			if _, derr := store.Delete(context.WithoutCancel(r.Context()), st, KindJoinToken, tokenKey(tok.Reveal())); derr != nil {
				s.log.Error("agent control: deleting an unaudited join token failed", "err", derr)
			}
			controlError(w, http.StatusInternalServerError, "the join token could not be recorded in the audit log, so it was withdrawn")
			return
		}
	}
	if err != nil {
		controlError(w, status, msg)
		return
	}
	s.log.Info("agent join token created", "agent", t.Name, "join_id", tokenID(tokenKey(tok.Reveal())), "expires", t.Expires, "by", t.CreatedBy)
	writeJSON(w, TokenResponse{Token: tok.Reveal(), ID: tokenID(tokenKey(tok.Reveal())), Name: t.Name, SPIFFEID: id.String(), Expires: t.Expires})
}

func (s *Server) ctlAgents(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.open(w)
	if !ok {
		return
	}
	agents, bad, err := listAgents(r.Context(), st)
	if err != nil {
		s.controlFail(w, "ListAgents", err)
		return
	}
	for _, k := range bad {
		s.log.Warn("agent control: unreadable agent record", "key", k)
	}
	writeJSON(w, AgentsResponse{Agents: agents})
}

func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if !controlDecode(w, r, &req, "a revocation") {
		return
	}
	ca, st, ok := s.open(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	act := s.cfg.Actor(r)
	a, serials, err := s.revokeAgent(r.Context(), ca, st, name, req.Reason, by(act))
	ev := audit.RevocationEvent{
		Actor: act, Source: audit.SourcePKI, Name: "RevokeAgent", Reason: req.Reason,
		Resources:  []audit.Resource{{ARN: a.SPIFFEID, Type: "ZTGate::Agent"}},
		Parameters: map[string]any{"agentName": name, "revokedSerials": serials},
	}
	if a.SPIFFEID == "" {
		ev.Resources[0].ARN = "agent:" + name
	}
	for _, sn := range serials {
		ev.Resources = append(ev.Resources, audit.Resource{ARN: "serial:" + sn, Type: "ZTGate::PKI::Certificate"})
	}
	rec := ev.Record()
	status, msg := 0, ""
	if err != nil {
		status, msg = s.controlStatus("RevokeAgent", err)
		rec.ErrorCode, rec.ErrorMessage = "RevocationRefused", msg
	}
	if !s.audited(r, "RevokeAgent", rec) && err == nil {
		controlError(w, http.StatusInternalServerError, "agent revoked but not recorded in the audit log")
		return
	}
	if err != nil {
		controlError(w, status, msg)
		return
	}
	s.log.Info("agent revoked", "agent", name, "revoked_serials", strings.Join(serials, ","), "by", by(act))
	writeJSON(w, RevokeResponse{Agent: a, Serials: serials})
}

func (s *Server) ctlCreateEntry(w http.ResponseWriter, r *http.Request) {
	var req EntryRequest
	if !controlDecode(w, r, &req, "a registration entry") {
		return
	}
	_, st, ok := s.open(w)
	if !ok {
		return
	}
	act := s.cfg.Actor(r)
	e, err := s.createEntry(r.Context(), st, req, by(act))
	status, msg := 0, ""
	ev := audit.AdminEvent{
		Actor: act, Source: audit.SourcePKI, Name: "CreateWorkloadEntry",
		Resources:  []audit.Resource{{ARN: req.SPIFFEID, Type: "ZTGate::PKI::Workload"}},
		Parameters: map[string]any{"spiffeId": req.SPIFFEID, "parent": req.Parent, "selectors": req.Selectors, "ttl": req.TTL},
	}
	if err == nil {
		ev.Response = map[string]any{"entryId": e.ID}
	} else {
		status, msg = s.controlStatus("CreateWorkloadEntry", err)
		ev.Code, ev.Message = "InvalidRequest", msg
	}
	if !s.audited(r, "CreateWorkloadEntry", ev.Record()) && err == nil {
		if _, derr := store.Delete(context.WithoutCancel(r.Context()), st, KindEntry, entryKey(e.Parent, e.ID)); derr != nil {
			s.log.Error("agent control: deleting an unaudited entry failed", "entry", e.ID, "err", derr)
		}
		controlError(w, http.StatusInternalServerError, "the entry could not be recorded in the audit log, so it was withdrawn")
		return
	}
	if err != nil {
		controlError(w, status, msg)
		return
	}
	writeJSON(w, e.toJSON())
}

func (s *Server) ctlEntries(w http.ResponseWriter, r *http.Request) {
	ca, st, ok := s.open(w)
	if !ok {
		return
	}
	parent := r.URL.Query().Get("parent")
	if parent != "" {
		if err := CheckName(parent); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	recs, err := listEntries(r.Context(), st, parent, ca.TrustDomain(), s.log)
	if err != nil {
		s.controlFail(w, "ListWorkloadEntries", err)
		return
	}
	out := EntriesResponse{Entries: make([]EntryJSON, len(recs))}
	for i := range recs {
		out.Entries[i] = recs[i].toJSON()
	}
	writeJSON(w, out)
}

func (s *Server) ctlDeleteEntry(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.open(w)
	if !ok {
		return
	}
	id := r.PathValue("id")
	act := s.cfg.Actor(r)
	e, err := deleteEntry(r.Context(), st, id)
	status, msg := 0, ""
	ev := audit.AdminEvent{
		Actor: act, Source: audit.SourcePKI, Name: "DeleteWorkloadEntry",
		Resources:  []audit.Resource{{ARN: "entry:" + id, Type: "ZTGate::Agent::Entry"}},
		Parameters: map[string]any{"entryId": id},
	}
	if err == nil {
		ev.Response = map[string]any{"spiffeId": e.SPIFFEID, "parent": e.Parent}
	} else {
		status, msg = s.controlStatus("DeleteWorkloadEntry", err)
		ev.Code, ev.Message = "InvalidRequest", msg
	}
	if !s.audited(r, "DeleteWorkloadEntry", ev.Record()) && err == nil {
		controlError(w, http.StatusInternalServerError, "entry deleted but not recorded in the audit log")
		return
	}
	if err != nil {
		controlError(w, status, msg)
		return
	}
	writeJSON(w, e.toJSON())
}
