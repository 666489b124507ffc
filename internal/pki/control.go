package pki

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
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/control"
)

// The CA's administration API, served on the node's control socket (owner
// only) under ControlPrefix and used by "ztgate ca".
const ControlPrefix = "/v1/ca"

// InfoJSON describes the CA.
type InfoJSON struct {
	TrustDomain string          `json:"trust_domain"`
	Bundle      json.RawMessage `json:"bundle"`    // SPIFFE bundle format
	RootsPEM    string          `json:"roots_pem"` // the trust anchors
	ChainPEM    string          `json:"chain_pem"` // the signing certificate and its chain to the root
}

// IssueJSON asks for an X.509-SVID.
type IssueJSON struct {
	SpiffeID string `json:"spiffe_id"`
	CSRPEM   string `json:"csr_pem"`
	TTL      string `json:"ttl,omitempty"` // a Go duration; the CA's default when empty
}

// IssuedJSON is an issued certificate.
type IssuedJSON struct {
	ChainPEM string    `json:"chain_pem"` // leaf first, root excluded
	Serial   string    `json:"serial"`    // lower-case hex
	NotAfter time.Time `json:"not_after"`
}

// RevokeJSON asks to revoke a certificate.
type RevokeJSON struct {
	Serial string `json:"serial"` // hex, with or without colons
	Reason string `json:"reason,omitempty"`
}

// ControlConfig is what the administration API needs.
type ControlConfig struct {
	CA    func() *CA // the node's CA; nil while it is not open
	Audit audit.Recorder
	Actor func(*http.Request) audit.Actor // who is on the other end
	Log   *slog.Logger
}

// ControlHandler serves the administration API: GET ControlPrefix (the
// CA), POST ControlPrefix/issue, POST ControlPrefix/revoke. Issuance and
// revocation are audited, refused ones too; an action whose record cannot
// be written is not acknowledged.
func ControlHandler(c ControlConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
		ca := c.CA()
		if ca == nil {
			controlError(w, http.StatusServiceUnavailable, "the certificate authority is not open yet")
			return
		}
		writeControlJSON(w, ca.info())
	})
	mux.HandleFunc("POST "+ControlPrefix+"/issue", func(w http.ResponseWriter, r *http.Request) { c.issue(w, r) })
	mux.HandleFunc("POST "+ControlPrefix+"/revoke", func(w http.ResponseWriter, r *http.Request) { c.revoke(w, r) })
	return mux
}

func (ca *CA) info() InfoJSON {
	var roots, chain bytes.Buffer
	for _, c := range ca.Bundle().X509Authorities() {
		pem.Encode(&roots, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, c := range ca.Chain() {
		pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return InfoJSON{TrustDomain: ca.TrustDomain().String(), Bundle: ca.BundleJSON(), RootsPEM: roots.String(), ChainPEM: chain.String()}
}

// maxControlBody bounds a control request: room for a CSR of MaxCSRSize
// bytes in PEM, and the rest of the request.
const maxControlBody = 2*MaxCSRSize + 16<<10

// begin reads a request's JSON body into v and returns the CA, or answers
// the client and returns nil.
func (c ControlConfig) begin(w http.ResponseWriter, r *http.Request, v any, what string) *CA {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	switch {
	case err != nil:
		controlError(w, http.StatusBadRequest, "body: "+err.Error())
		return nil
	case len(body) > maxControlBody:
		controlError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%v: request of more than %d bytes (a CSR may have %d bytes of DER)", ErrTooLarge, maxControlBody, MaxCSRSize))
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		controlError(w, http.StatusBadRequest, "body: not the JSON of "+what)
		return nil
	}
	ca := c.CA()
	if ca == nil {
		controlError(w, http.StatusServiceUnavailable, "the certificate authority is not open yet")
	}
	return ca
}

func (c ControlConfig) issue(w http.ResponseWriter, r *http.Request) {
	var req IssueJSON
	ca := c.begin(w, r, &req, "an issue request")
	if ca == nil {
		return
	}
	actor := c.Actor(r)
	ev := audit.IssuedEvent{
		Actor: actor, Source: audit.SourcePKI, Name: "IssueCertificate",
		Resources:  []audit.Resource{{ARN: req.SpiffeID, Type: "ZTGate::PKI::Workload"}},
		Parameters: map[string]any{"spiffeId": req.SpiffeID, "ttl": req.TTL},
	}
	chain, err := func() ([]*x509.Certificate, error) {
		id, err := ParseID(req.SpiffeID)
		if err != nil {
			return nil, err
		}
		for _, reserved := range []string{"/device/", "/ztgate/"} {
			if strings.HasPrefix(id.Path()+"/", reserved) {
				return nil, fmt.Errorf("%w: spiffe ids under %s are issued by enrollment and joining only", ErrRequest, strings.TrimSuffix(reserved, "/"))
			}
		}
		var ttl time.Duration
		if req.TTL != "" {
			if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
				return nil, fmt.Errorf("%w: ttl %s is not a positive duration", ErrRequest, quote(req.TTL))
			}
			if ttl < time.Minute {
				return nil, fmt.Errorf("%w: ttl %s is shorter than 1m", ErrRequest, quote(req.TTL))
			}
		}
		b, _ := pem.Decode([]byte(req.CSRPEM))
		if b == nil || b.Type != "CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: csr_pem holds no CERTIFICATE REQUEST block", ErrMalformed)
		}
		return ca.IssueSVID(r.Context(), b.Bytes, id, ttl, actor.Identity.UserName+" (control socket)")
	}()
	var out IssuedJSON
	if err != nil {
		ev.Code, ev.Message = "CertificateRefused", err.Error()
	}
	rec := ev.Record()
	if err == nil {
		var buf bytes.Buffer
		for _, x := range chain {
			pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})
		}
		out = IssuedJSON{ChainPEM: buf.String(), Serial: strings.ToLower(chain[0].SerialNumber.Text(16)), NotAfter: chain[0].NotAfter.UTC()}
		rec.ResponseElements = map[string]any{"serialNumber": out.Serial, "notAfter": out.NotAfter.Format(time.RFC3339)}
	}
	if aerr := c.Audit.Record(r.Context(), rec); aerr != nil {
		c.Log.Error("audit record of a certificate issuance failed", "err", aerr)
		if err == nil {
			// The certificate exists but is not on record: revoke it, so
			// that no identity is usable unaudited.
			if rerr := ca.Revoke(context.WithoutCancel(r.Context()), chain[0].SerialNumber, ReasonCessationOfOperation, "ztgate (issuance not audited)"); rerr != nil {
				c.Log.Error("revoking an unaudited certificate failed", "serial", out.Serial, "err", rerr)
			}
			controlError(w, http.StatusInternalServerError, "the certificate could not be recorded in the audit log, so it was revoked")
			return
		}
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeControlJSON(w, out)
}

// reasons names the revocation reasons "ztgate ca revoke" takes.
var reasons = map[string]Reason{
	"": ReasonUnspecified, "unspecified": ReasonUnspecified, "keyCompromise": ReasonKeyCompromise,
	"affiliationChanged": ReasonAffiliationChanged, "superseded": ReasonSuperseded,
	"cessationOfOperation": ReasonCessationOfOperation, "privilegeWithdrawn": ReasonPrivilegeWithdrawn,
}

// ParseSerial reads a serial number in hex, with or without colons.
func ParseSerial(s string) (*big.Int, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	h = strings.TrimPrefix(h, "0x")
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || h == "" || n.Sign() <= 0 {
		return nil, fmt.Errorf("%w: serial %s is not a positive hexadecimal number", ErrMalformed, quote(s))
	}
	return n, nil
}

func (c ControlConfig) revoke(w http.ResponseWriter, r *http.Request) {
	var req RevokeJSON
	ca := c.begin(w, r, &req, "a revocation")
	if ca == nil {
		return
	}
	actor := c.Actor(r)
	ev := audit.RevocationEvent{
		Actor: actor, Source: audit.SourcePKI, Name: "RevokeCertificate", Reason: req.Reason,
		Resources:  []audit.Resource{{ARN: "serial:" + req.Serial, Type: "ZTGate::PKI::Certificate"}},
		Parameters: map[string]any{"serialNumber": req.Serial},
	}
	err := func() error {
		serial, err := ParseSerial(req.Serial)
		if err != nil {
			return err
		}
		reason, ok := reasons[req.Reason]
		if !ok {
			return fmt.Errorf("%w: reason %s is not one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn", ErrRequest, quote(req.Reason))
		}
		return ca.Revoke(r.Context(), serial, reason, actor.Identity.UserName+" (control socket)")
	}()
	rec := ev.Record()
	if err != nil {
		rec.ErrorCode, rec.ErrorMessage = "RevocationRefused", err.Error()
	}
	// The revocation is acknowledged only once it is on record.
	if aerr := c.Audit.Record(r.Context(), rec); aerr != nil {
		c.Log.Error("audit record of a certificate revocation failed", "err", aerr)
		if err == nil {
			controlError(w, http.StatusInternalServerError, "certificate revoked but not recorded in the audit log")
			return
		}
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnknownCert) {
			status = http.StatusNotFound
		}
		controlError(w, status, err.Error())
		return
	}
	writeControlJSON(w, map[string]string{"serial": req.Serial, "status": "revoked"})
}

func writeControlJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) { control.WriteError(w, status, msg) }
