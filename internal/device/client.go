package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
)

// maxAnswerSize bounds what the clients read of an answer.
const maxAnswerSize = 1 << 20

// APIError is a refusal from the device API, as the server worded it.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d %s, request %s)", e.Message, e.Status, e.Code, e.RequestID)
}

// Enroll enrolls this device with the server at serverURL (scheme, host
// and port: the path is EnrollPath) with an enrollment token and the
// device's key, which never leaves the device: only a CSR does. It checks
// the answer, a device certificate for that key naming the device ID
// returned, and returns the ID and the chain, leaf first. A refusal is an
// *APIError. hc is http.DefaultClient when nil.
func Enroll(ctx context.Context, serverURL string, hc *http.Client, token string, key crypto.Signer) (string, []*x509.Certificate, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return "", nil, fmt.Errorf("device: make csr: %w", err)
	}
	body, err := json.Marshal(enrollBody{Token: token, CSR: base64.StdEncoding.EncodeToString(csr)})
	if err != nil {
		return "", nil, err
	}
	var ans enrollAnswer
	if err := post(ctx, hc, serverURL, EnrollPath, "application/json", body, &ans); err != nil {
		return "", nil, err
	}
	chain, err := parseChainPEM([]byte(ans.CertificateChainPEM))
	if err != nil {
		return "", nil, fmt.Errorf("device: enrollment answer: %w", err)
	}
	svid, err := pki.ParseSVID(chain)
	if err != nil {
		return "", nil, fmt.Errorf("device: enrollment answer: %w", err)
	}
	id, ok := IDOf(svid.ID)
	switch {
	case !ok || id != ans.DeviceID:
		return "", nil, fmt.Errorf("device: enrollment answer: the certificate names %s, not device %s", quote(svid.ID.String()), quote(ans.DeviceID))
	case !sameKey(chain[0].PublicKey, key.Public()):
		return "", nil, errors.New("device: enrollment answer: the certificate is not for this device's key")
	}
	return id, chain, nil
}

// sameKey reports whether two public keys are equal.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// parseChainPEM reads every CERTIFICATE block of a PEM text, in order.
func parseChainPEM(text []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, text = pem.Decode(text)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %w", len(chain), err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	return chain, nil
}

// SignReport signs a posture report with the device's key, now, as a
// compact JWS whose header carries the chain (x5c): the format
// Registry.AcceptReport verifies. The algorithm follows the key: ES256
// for P-256, ES384 for P-384, EdDSA for Ed25519, RS256 for RSA.
func SignReport(report Report, key crypto.Signer, chain []*x509.Certificate) (string, error) {
	return SignReportAt(report, key, chain, time.Now())
}

// SignReportAt is SignReport with the signing time (iat) given, to the
// second.
func SignReportAt(report Report, key crypto.Signer, chain []*x509.Certificate, at time.Time) (string, error) {
	id, err := chainDevice(chain, key)
	if err != nil {
		return "", fmt.Errorf("device: sign report: %w", err)
	}
	if report.CollectedAt.IsZero() {
		report.CollectedAt = at
	}
	report.CollectedAt = report.CollectedAt.UTC().Truncate(time.Second)
	if err := report.validate(); err != nil {
		return "", fmt.Errorf("device: sign report: %w", err)
	}
	payload, err := json.Marshal(reportClaims{Sub: id, Iat: at.Unix(), Report: report})
	if err != nil {
		return "", err
	}
	h := jwsHeader{Typ: ReportType, X5c: x5cOf(chain)}
	jws, err := signCompact(h, payload, key)
	if err != nil {
		return "", fmt.Errorf("device: sign report: %w", err)
	}
	if len(jws) > MaxReportSize {
		return "", fmt.Errorf("device: sign report: %d bytes, above the server's %d-byte limit", len(jws), MaxReportSize)
	}
	return jws, nil
}

// Renew renews this device's certificate with the server at serverURL
// (the path is RenewPath). It signs a request, now, with key, the key of
// the current chain (leaf first), carrying a CSR for newKey: a new key,
// or key itself to keep it. It checks the answer, a device certificate
// for newKey naming the same device, and returns the new chain, leaf
// first. Only the device's current certificate renews; the one it
// replaces stays valid until it expires. A refusal is an *APIError. hc is
// http.DefaultClient when nil.
func Renew(ctx context.Context, serverURL string, hc *http.Client, key crypto.Signer, chain []*x509.Certificate, newKey crypto.Signer) ([]*x509.Certificate, error) {
	return renewAt(ctx, serverURL, hc, key, chain, newKey, time.Now())
}

// renewAt is Renew signing at the time given.
func renewAt(ctx context.Context, serverURL string, hc *http.Client, key crypto.Signer, chain []*x509.Certificate, newKey crypto.Signer, at time.Time) ([]*x509.Certificate, error) {
	jws, id, err := signRenewal(key, chain, newKey, at)
	if err != nil {
		return nil, err
	}
	var ans renewAnswer
	if err := post(ctx, hc, serverURL, RenewPath, "application/jose", []byte(jws), &ans); err != nil {
		return nil, err
	}
	newChain, err := parseChainPEM([]byte(ans.CertificateChainPEM))
	if err != nil {
		return nil, fmt.Errorf("device: renewal answer: %w", err)
	}
	svid, err := pki.ParseSVID(newChain)
	if err != nil {
		return nil, fmt.Errorf("device: renewal answer: %w", err)
	}
	switch got, ok := IDOf(svid.ID); {
	case !ok || got != id:
		return nil, fmt.Errorf("device: renewal answer: the certificate names %s, not device %s", quote(svid.ID.String()), id)
	case !sameKey(newChain[0].PublicKey, newKey.Public()):
		return nil, errors.New("device: renewal answer: the certificate is not for the new key")
	}
	return newChain, nil
}

// signRenewal makes a renewal request for newKey, signed at at with key,
// the key of chain, and returns it with the device's ID.
func signRenewal(key crypto.Signer, chain []*x509.Certificate, newKey crypto.Signer, at time.Time) (string, string, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, newKey)
	if err != nil {
		return "", "", fmt.Errorf("device: make csr: %w", err)
	}
	return signRenewalCSR(key, chain, csr, at)
}

// signRenewalCSR makes a renewal request carrying csr (DER), signed at at
// with key, the key of chain, and returns it with the device's ID.
func signRenewalCSR(key crypto.Signer, chain []*x509.Certificate, csr []byte, at time.Time) (string, string, error) {
	id, err := chainDevice(chain, key)
	if err != nil {
		return "", "", fmt.Errorf("device: sign renewal: %w", err)
	}
	payload, err := json.Marshal(renewalClaims{Sub: id, Iat: at.Unix(), CSR: b64url.EncodeToString(csr)})
	if err != nil {
		return "", "", err
	}
	h := jwsHeader{Typ: RenewalType, X5c: x5cOf(chain)}
	jws, err := signCompact(h, payload, key)
	if err != nil {
		return "", "", fmt.Errorf("device: sign renewal: %w", err)
	}
	if len(jws) > MaxRenewalSize {
		return "", "", fmt.Errorf("device: sign renewal: %d bytes, above the server's %d-byte limit", len(jws), MaxRenewalSize)
	}
	return jws, id, nil
}

// chainDevice returns the device ID of a chain of 1 to maxChainLen
// certificates whose leaf is key's.
func chainDevice(chain []*x509.Certificate, key crypto.Signer) (string, error) {
	if len(chain) == 0 || len(chain) > maxChainLen {
		return "", fmt.Errorf("a chain of 1 to %d certificates is needed", maxChainLen)
	}
	svid, err := pki.ParseSVID(chain)
	if err != nil {
		return "", err
	}
	id, ok := IDOf(svid.ID)
	if !ok {
		return "", fmt.Errorf("%s is not a device certificate", quote(svid.ID.String()))
	}
	if !sameKey(chain[0].PublicKey, key.Public()) {
		return "", errors.New("the key is not the certificate's")
	}
	return id, nil
}

// x5cOf is a chain as an x5c header: standard base64 of each DER.
func x5cOf(chain []*x509.Certificate) []string {
	out := make([]string, 0, len(chain))
	for _, c := range chain {
		out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return out
}

// PostureResult is the server's answer to an accepted report.
type PostureResult struct {
	DeviceID  string    `json:"device_id"`
	Compliant bool      `json:"compliant"`
	SignedAt  time.Time `json:"signed_at"`
}

// SendReport sends a signed report to the server at serverURL (the path
// is PosturePath). A refusal is an *APIError. hc is http.DefaultClient
// when nil.
func SendReport(ctx context.Context, serverURL string, hc *http.Client, jws string) (*PostureResult, error) {
	var res PostureResult
	if err := post(ctx, hc, serverURL, PosturePath, "application/jose", []byte(jws), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// post sends body to serverURL+path and decodes a 200 answer into out, or
// returns the refusal as an *APIError.
func post(ctx context.Context, hc *http.Client, serverURL, path, contentType string, body []byte, out any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize))
	if err != nil {
		return fmt.Errorf("device: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "HTTP" + fmt.Sprint(resp.StatusCode), Message: "the server answered " + resp.Status}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message, RequestID: e.RequestID}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("device: the answer is not the expected json: %w", err)
	}
	return nil
}
