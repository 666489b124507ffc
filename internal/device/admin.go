package device

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// The administrator's API, for the control socket: paths under AdminPrefix.
const (
	AdminPrefix = "/v1/devices"
	// maxAdminBody bounds an administrator's request body.
	maxAdminBody = 64 << 10
)

// AdminConfig is what NewAdminHandler needs. Registry and Audit are
// required.
type AdminConfig struct {
	Registry *Registry
	Audit    audit.Recorder
	Log      *slog.Logger // discarded when nil
	// Actor names the administrator behind a request (on the control
	// socket: the peer's uid). When nil, records name an unknown local
	// user.
	Actor func(*http.Request) audit.Actor
}

// NewAdminHandler serves the administrator's device API:
//
//	POST   /v1/devices/tokens           create a token: {name, owner, managed, groups, ttl}
//	GET    /v1/devices/tokens           list tokens
//	DELETE /v1/devices/tokens/{id}      revoke a token
//	GET    /v1/devices                  list devices
//	GET    /v1/devices/{id}             show a device
//	POST   /v1/devices/{id}/revoke      revoke a device: {reason}
//
// It authenticates no one: mount it only where every caller is an
// administrator, as on the control socket. Every change, made or refused,
// is recorded through c.Audit; a change that cannot be recorded is
// answered with an error (a token made meanwhile is revoked again).
func NewAdminHandler(c AdminConfig) http.Handler {
	h := &adminHandler{c: c, log: c.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AdminPrefix+"/tokens", h.createToken)
	mux.HandleFunc("GET "+AdminPrefix+"/tokens", h.listTokens)
	mux.HandleFunc("DELETE "+AdminPrefix+"/tokens/{id}", h.revokeToken)
	mux.HandleFunc("GET "+AdminPrefix, h.listDevices)
	mux.HandleFunc("GET "+AdminPrefix+"/{id}", h.showDevice)
	mux.HandleFunc("POST "+AdminPrefix+"/{id}/revoke", h.revokeDevice)
	return mux
}

type adminHandler struct {
	c   AdminConfig
	log *slog.Logger
}

func (h *adminHandler) actor(r *http.Request) audit.Actor {
	if h.c.Actor != nil {
		return h.c.Actor(r)
	}
	return audit.Actor{Identity: audit.UserIdentity{Type: "LocalUser"}, UserAgent: r.UserAgent()}
}

// who names an actor for the registry's records.
func who(a audit.Actor) string {
	for _, s := range []string{a.Identity.ARN, a.Identity.UserName, a.Identity.PrincipalID} {
		if s != "" {
			return s
		}
	}
	return "local administrator"
}

// decodeStrict reads one JSON object with only known members; an empty
// body is an empty object.
func decodeStrict(r *http.Request, v any) error {
	body, err := readBody(r, maxAdminBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the body is not a json object of the expected members", ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the json object", ErrInvalid)
	}
	return nil
}

// TokenCreate is the body of a token creation.
type TokenCreate struct {
	Name    string   `json:"name"`
	Owner   string   `json:"owner,omitempty"`
	Managed bool     `json:"managed"`
	Groups  []string `json:"groups,omitempty"`
	TTL     string   `json:"ttl,omitempty"` // a Go duration: "24h"; the default when empty
}

// TokenCreated is the answer to a token creation: the token, shown this
// once.
type TokenCreated struct {
	Token      string    `json:"token"`
	Enrollment TokenInfo `json:"enrollment"`
}

func (h *adminHandler) createToken(w http.ResponseWriter, r *http.Request) {
	rid := newRequestID()
	a := h.actor(r)
	var body TokenCreate
	req := TokenRequest{CreatedBy: who(a)}
	err := decodeStrict(r, &body)
	if err == nil {
		req.Name, req.Owner, req.Managed, req.Groups = body.Name, body.Owner, body.Managed, body.Groups
		if body.TTL != "" {
			if req.TTL, err = time.ParseDuration(body.TTL); err != nil || req.TTL <= 0 {
				err = fmt.Errorf("%w: ttl %s is not a positive duration (24h, 90m)", ErrInvalid, quote(body.TTL))
			}
		}
	}
	var (
		tok  Token
		info TokenInfo
	)
	if err == nil {
		tok, info, err = h.c.Registry.CreateToken(r.Context(), req)
	}
	if err != nil {
		ref := refusalOf(err)
		if aerr := h.c.Audit.Record(r.Context(), tokenCreatedEvent(a, rid, req, nil, &ref)); aerr != nil {
			h.log.Error("device: audit record of a refused token creation failed", "request_id", rid, "err", aerr)
		}
		writeRefusal(w, rid, ref)
		return
	}
	if aerr := h.c.Audit.Record(r.Context(), tokenCreatedEvent(a, rid, req, &info, nil)); aerr != nil {
		h.log.Error("device: audit record of a token creation failed; revoking the token", "request_id", rid, "token_id", info.ID, "err", aerr)
		if _, rerr := h.c.Registry.RevokeToken(r.Context(), info.ID); rerr != nil {
			h.log.Error("device: cannot revoke an unaudited token", "request_id", rid, "token_id", info.ID, "err", rerr)
		}
		writeRefusal(w, rid, refuseAudit)
		return
	}
	writeJSON(w, rid, http.StatusOK, TokenCreated{Token: tok.Reveal(), Enrollment: info})
}

func (h *adminHandler) listTokens(w http.ResponseWriter, r *http.Request) {
	answerList(h, w, r, "tokens", h.c.Registry.Tokens)
}

// answerList answers a listing: what list returns, or its failure.
func answerList[T any](h *adminHandler, w http.ResponseWriter, r *http.Request, what string, list func(context.Context) (T, error)) {
	rid := newRequestID()
	v, err := list(r.Context())
	if err != nil {
		h.log.Error("device: list "+what, "request_id", rid, "err", err)
		writeRefusal(w, rid, refusalOf(err))
		return
	}
	writeJSON(w, rid, http.StatusOK, v)
}

func (h *adminHandler) revokeToken(w http.ResponseWriter, r *http.Request) {
	rid := newRequestID()
	a := h.actor(r)
	id := r.PathValue("id")
	info, err := h.c.Registry.RevokeToken(r.Context(), id)
	ref := refusalOf(err)
	if aerr := h.c.Audit.Record(r.Context(), tokenRevokedEvent(a, rid, id, err, ref)); aerr != nil {
		h.log.Error("device: audit record of a token revocation failed", "request_id", rid, "token_id", id, "err", aerr)
		if err == nil {
			writeRefusal(w, rid, refuseAudit)
			return
		}
	}
	if err != nil {
		writeRefusal(w, rid, ref)
		return
	}
	writeJSON(w, rid, http.StatusOK, info)
}

func (h *adminHandler) listDevices(w http.ResponseWriter, r *http.Request) {
	answerList(h, w, r, "devices", h.c.Registry.Devices)
}

func (h *adminHandler) showDevice(w http.ResponseWriter, r *http.Request) {
	rid := newRequestID()
	d, err := h.c.Registry.Device(r.Context(), r.PathValue("id"))
	if err != nil {
		writeRefusal(w, rid, refusalOf(err))
		return
	}
	writeJSON(w, rid, http.StatusOK, d)
}

// DeviceRevoke is the body of a device revocation.
type DeviceRevoke struct {
	Reason string `json:"reason,omitempty"`
}

func (h *adminHandler) revokeDevice(w http.ResponseWriter, r *http.Request) {
	rid := newRequestID()
	a := h.actor(r)
	id := r.PathValue("id")
	var body DeviceRevoke
	err := decodeStrict(r, &body)
	var d Device
	if err == nil {
		d, err = h.c.Registry.Revoke(r.Context(), id, who(a), body.Reason)
	}
	ref := refusalOf(err)
	var dp *Device
	if d.ID != "" {
		dp = &d
	}
	if err != nil && ref == refuseInternal {
		h.log.Error("device: revoke", "request_id", rid, "device", id, "err", err)
	}
	if aerr := h.c.Audit.Record(r.Context(), revokedEvent(a, rid, id, body.Reason, dp, err, ref)); aerr != nil {
		h.log.Error("device: audit record of a device revocation failed", "request_id", rid, "device", id, "err", aerr)
		if err == nil {
			writeRefusal(w, rid, refuseAudit)
			return
		}
	}
	if err != nil {
		writeRefusal(w, rid, ref)
		return
	}
	writeJSON(w, rid, http.StatusOK, d)
}
