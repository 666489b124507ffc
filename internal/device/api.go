package device

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/peer"
)

// Where the wiring mounts the device API, on every listener: under
// /.well-known/ztgate/, which the gateway's routes never shadow.
const (
	EnrollPath  = "/.well-known/ztgate/device/enroll"
	PosturePath = "/.well-known/ztgate/device/posture"
	RenewPath   = "/.well-known/ztgate/device/renew"
)

// MaxEnrollSize bounds an enrollment request's body: a CSR of
// pki.MaxCSRSize bytes of DER in base64 or PEM, and the token.
const MaxEnrollSize = 96 << 10

// HandlerConfig is what NewHandler needs. Registry and Audit are required.
type HandlerConfig struct {
	Registry *Registry
	Audit    audit.Recorder
	Log      *slog.Logger // refusals at debug level, audit failures; discarded when nil
}

// NewHandler serves the device API: POST EnrollPath, POST PosturePath and
// POST RenewPath. Every enrollment, report and renewal, accepted or
// refused, is recorded through c.Audit before the answer; when recording
// fails, the request is refused (a device enrolled meanwhile is revoked,
// a certificate renewed meanwhile is withdrawn).
func NewHandler(c HandlerConfig) http.Handler {
	h := &handler{c: c, log: c.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(EnrollPath, h.enroll)
	mux.HandleFunc(PosturePath, h.posture)
	mux.HandleFunc(RenewPath, h.renew)
	return mux
}

type handler struct {
	c   HandlerConfig
	log *slog.Logger
}

// actor is what a device request's record says of where it came from.
func (h *handler) actor(r *http.Request) audit.Actor {
	a := audit.Actor{UserAgent: r.UserAgent(), AuthMethod: "device"}
	a.SourceIP = peer.FromRequest(r).IP()
	return a
}

// readBody reads at most limit bytes, refusing a longer body unread.
// readSecureBody is readBody for the device's own calls, which must
// arrive over TLS: directly, or through a trusted proxy that says so
// (X-Forwarded-Proto: https).
func readSecureBody(r *http.Request, limit int64) ([]byte, error) {
	if !peer.FromRequest(r).Secure {
		return nil, ErrPlainHTTP
	}
	return readBody(r, limit)
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds the %d-byte limit", ErrTooLarge, r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body exceeds the %d-byte limit", ErrTooLarge, limit)
	}
	return b, nil
}

// enrollBody is an enrollment request: the token and a CSR in base64 DER
// or PEM.
type enrollBody struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

// enrollAnswer is an enrollment's answer.
type enrollAnswer struct {
	DeviceID            string    `json:"device_id"`
	SPIFFEID            string    `json:"spiffe_id"`
	CertificateChainPEM string    `json:"certificate_chain_pem"`
	NotAfter            time.Time `json:"not_after"`
}

// parseEnrollRequest reads an enrollment request body: one JSON object
// with exactly token and csr, the csr in base64 (padded or not) DER or a
// PEM CERTIFICATE REQUEST block. Errors wrap ErrMalformed and never quote
// the token.
func parseEnrollRequest(body []byte) (token string, csrDER []byte, err error) {
	var b enrollBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return "", nil, fmt.Errorf("%w: enrollment request is not a json object of token and csr", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, fmt.Errorf("%w: data after the enrollment request's json object", ErrMalformed)
	}
	if b.Token == "" {
		return "", nil, fmt.Errorf("%w: enrollment request lacks token or csr", ErrMalformed)
	}
	if csrDER, err = decodeCSR(strings.TrimSpace(b.CSR)); err != nil {
		return "", nil, err
	}
	return b.Token, csrDER, nil
}

// decodeCSR reads a CSR sent as base64 (padded or not) DER or as one PEM
// block, without parsing the DER.
func decodeCSR(csr string) ([]byte, error) {
	var der []byte
	if strings.HasPrefix(csr, "-----BEGIN") {
		block, rest := pem.Decode([]byte(csr))
		if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") || len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("%w: csr is not one pem CERTIFICATE REQUEST block", ErrMalformed)
		}
		der = block.Bytes
	} else {
		var err error
		if der, err = b64std.DecodeString(csr); err != nil {
			if der, err = base64RawStd.DecodeString(csr); err != nil {
				return nil, fmt.Errorf("%w: csr is neither base64 der nor pem", ErrMalformed)
			}
		}
	}
	if len(der) == 0 {
		return nil, fmt.Errorf("%w: enrollment request lacks token or csr", ErrMalformed)
	}
	return der, nil
}

// postOnly gives a call its request id, and refuses any method but POST.
func postOnly(w http.ResponseWriter, r *http.Request) (string, bool) {
	rid := newRequestID()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeRefusal(w, rid, refuseMethod)
		return rid, false
	}
	return rid, true
}

// refuse answers a refused call of the kind what names: it logs a
// failure of ztgate's own, records the refusal and writes it.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, rid, what string, ref refusal, err error, rec *audit.Record) {
	if ref == refuseInternal {
		h.log.Error("device: "+what+" failed", "request_id", rid, "err", err)
	}
	if aerr := h.c.Audit.Record(r.Context(), rec); aerr != nil {
		h.log.Error("device: audit record of a refused "+what+" failed", "request_id", rid, "err", aerr)
	}
	writeRefusal(w, rid, ref)
}

func (h *handler) enroll(w http.ResponseWriter, r *http.Request) {
	rid, ok := postOnly(w, r)
	if !ok {
		return
	}
	a := h.actor(r)
	e, err := h.enrollBody(r, a.SourceIP)
	if err != nil {
		ref := refusalOf(err)
		tokenID, reason := "", err.Error()
		var tr *tokenRefusal
		if errors.As(err, &tr) {
			tokenID = tr.id
		}
		h.refuse(w, r, rid, "enrollment", ref, err, enrollRefusedEvent(a, rid, ref, tokenID, reason))
		return
	}
	if aerr := h.c.Audit.Record(r.Context(), enrolledEvent(a, rid, e)); aerr != nil {
		// No unaudited identity may live: the device goes again.
		h.log.Error("device: audit record of an enrollment failed; revoking the device", "request_id", rid, "device", e.Device.ID, "err", aerr)
		if _, rerr := h.c.Registry.Revoke(r.Context(), e.Device.ID, "ztgate", "enrollment could not be audited"); rerr != nil {
			h.log.Error("device: cannot revoke an unaudited enrollment", "request_id", rid, "device", e.Device.ID, "err", rerr)
		}
		writeRefusal(w, rid, refuseAudit)
		return
	}
	writeJSON(w, rid, http.StatusOK, enrollAnswer{
		DeviceID: e.Device.ID, SPIFFEID: e.Device.SPIFFEID,
		CertificateChainPEM: chainPEM(e.Chain), NotAfter: e.Chain[0].NotAfter.UTC(),
	})
}

func (h *handler) enrollBody(r *http.Request, from string) (*Enrollment, error) {
	body, err := readSecureBody(r, MaxEnrollSize)
	if err != nil {
		return nil, err
	}
	token, csr, err := parseEnrollRequest(body)
	if err != nil {
		return nil, err
	}
	return h.c.Registry.Enroll(r.Context(), EnrollRequest{Token: token, CSR: csr, From: from})
}

// postureAnswer is an accepted report's answer.
type postureAnswer struct {
	DeviceID  string    `json:"device_id"`
	Compliant bool      `json:"compliant"`
	SignedAt  time.Time `json:"signed_at"`
}

func (h *handler) posture(w http.ResponseWriter, r *http.Request) {
	rid, ok := postOnly(w, r)
	if !ok {
		return
	}
	a := h.actor(r)
	body, err := readSecureBody(r, MaxReportSize)
	var (
		acc     *Accepted
		claimed string
	)
	if err == nil {
		acc, claimed, err = h.c.Registry.acceptReport(r.Context(), bytes.TrimSpace(body))
	}
	if err != nil {
		ref := refusalOf(err)
		h.refuse(w, r, rid, "posture report", ref, err, reportRefusedEvent(a, rid, ref, claimed, err.Error()))
		return
	}
	now := h.c.Registry.clock()
	a.Device = h.c.Registry.AuditDevice(acc.DeviceID, now)
	sid, _ := spiffeID(h.c.Registry.ca.TrustDomain(), acc.DeviceID)
	if aerr := h.c.Audit.Record(r.Context(), reportEvent(a, rid, sid.String(), acc)); aerr != nil {
		h.log.Error("device: audit record of an accepted report failed", "request_id", rid, "device", acc.DeviceID, "err", aerr)
		writeRefusal(w, rid, refuseAudit)
		return
	}
	writeJSON(w, rid, http.StatusOK, postureAnswer{DeviceID: acc.DeviceID, Compliant: acc.Compliant, SignedAt: acc.SignedAt})
}

// renewAnswer is a renewal's answer: enrollAnswer's members, and whether
// the chain was issued before (a renewal sent again).
type renewAnswer struct {
	DeviceID            string    `json:"device_id"`
	SPIFFEID            string    `json:"spiffe_id"`
	CertificateChainPEM string    `json:"certificate_chain_pem"`
	NotAfter            time.Time `json:"not_after"`
	Resent              bool      `json:"resent,omitempty"`
}

func (h *handler) renew(w http.ResponseWriter, r *http.Request) {
	rid, ok := postOnly(w, r)
	if !ok {
		return
	}
	a := h.actor(r)
	body, err := readSecureBody(r, MaxRenewalSize)
	var (
		ren     *Renewal
		claimed string
	)
	if err == nil {
		ren, claimed, err = h.c.Registry.renew(r.Context(), bytes.TrimSpace(body))
	}
	if err != nil {
		ref := renewalRefusalOf(err)
		h.refuse(w, r, rid, "renewal", ref, err, renewRefusedEvent(a, rid, ref, claimed, err.Error()))
		return
	}
	a.Device = h.c.Registry.AuditDevice(ren.Device.ID, h.c.Registry.clock())
	if aerr := h.c.Audit.Record(r.Context(), renewedEvent(a, rid, ren)); aerr != nil {
		// No unaudited certificate may live: this one goes again, and the
		// one it renewed is current again.
		h.log.Error("device: audit record of a renewal failed", "request_id", rid, "device", ren.Device.ID, "err", aerr)
		if !ren.Resent {
			if werr := h.c.Registry.withdraw(context.WithoutCancel(r.Context()), ren.Device.ID, ren.Chain[0], "device renewal "+ren.Device.ID+" (not audited)"); werr != nil {
				h.log.Error("device: cannot withdraw an unaudited renewal", "request_id", rid, "device", ren.Device.ID, "serial", serialHex(ren.Chain[0]), "err", werr)
			}
		}
		writeRefusal(w, rid, refuseAudit)
		return
	}
	writeJSON(w, rid, http.StatusOK, renewAnswer{
		DeviceID: ren.Device.ID, SPIFFEID: ren.Device.SPIFFEID,
		CertificateChainPEM: chainPEM(ren.Chain), NotAfter: ren.Chain[0].NotAfter.UTC(), Resent: ren.Resent,
	})
}

// chainPEM encodes a chain as CERTIFICATE blocks, in order.
func chainPEM(chain []*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}
