package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

const (
	// maxResponse bounds an answer of the server: a bundle (pki.MaxBundleSize)
	// and its JSON around it.
	maxResponse = 2 << 20
	// maxChain bounds the certificates of an issued chain.
	maxChain = 8
	// callTimeout bounds one call to the server.
	callTimeout = 30 * time.Second
)

// client is the agent's side of the agent API. The server's certificate
// is verified against the trust bundle the agent holds (replaced as it
// changes) and the roots given at start; the agent presents its current
// SVID as its client certificate.
type client struct {
	base string // https://host:port
	host string // the name the server's certificate must carry
	http *http.Client
	tr   *http.Transport

	cert     atomic.Pointer[tls.Certificate] // nil until joined
	roots    atomic.Pointer[x509.CertPool]   // nil: nothing to verify with
	insecure atomic.Bool                     // verify nothing: only while joining with --insecure-bootstrap
}

// newClient checks the server URL: https, a host, nothing else.
func newClient(server string) (*client, error) {
	u, err := url.Parse(server)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: server %s is not a URL", ErrInvalid, quote(server))
	case u.Scheme != "https":
		return nil, fmt.Errorf("%w: server %s: the scheme must be https (the node's TLS listener)", ErrInvalid, quote(server))
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: server %s: give https://HOST[:PORT] and nothing more", ErrInvalid, quote(server))
	}
	c := &client{base: "https://" + u.Host, host: u.Hostname()}
	c.tr = &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verification is VerifyConnection's, against roots that
			// change with the bundle.
			InsecureSkipVerify:   true,
			VerifyConnection:     c.verifyServer,
			GetClientCertificate: c.clientCert,
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: callTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	c.http = &http.Client{Transport: c.tr, Timeout: callTimeout}
	return c, nil
}

func (c *client) clientCert(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if cert := c.cert.Load(); cert != nil {
		return cert, nil
	}
	return &tls.Certificate{}, nil
}

// setCert makes cert the client certificate of new connections, and
// closes idle ones, which present the old one.
func (c *client) setCert(cert *tls.Certificate) {
	c.cert.Store(cert)
	c.tr.CloseIdleConnections()
}

func (c *client) verifyServer(cs tls.ConnectionState) error {
	if c.insecure.Load() {
		return nil
	}
	roots := c.roots.Load()
	if roots == nil {
		return errors.New("no trust bundle to verify the server's certificate with")
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       c.host,
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errServerUntrusted, err)
	}
	return nil
}

// errServerUntrusted: the server's certificate does not verify, which
// retrying does not change.
var errServerUntrusted = errors.New("the server's certificate does not verify against the trust bundle")

// call sends a request and decodes a success into out (or, for a
// *[]byte, keeps the body). Any other answer is an *APIError.
func (c *client) call(ctx context.Context, method, endpoint string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+PathPrefix+endpoint, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "ztgate-agent")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("the server's answer exceeds %d bytes", maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return parseAPIError(resp.StatusCode, data)
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the server's answer to %s is not its JSON", endpoint)
	}
	return nil
}

// parseAPIError reads a refusal; an answer that is not one (a proxy's
// page, say) still becomes one, with its status.
func parseAPIError(status int, data []byte) *APIError {
	var e APIError
	if json.Unmarshal(data, &e) != nil || e.Code == "" {
		return &APIError{Status: status, Code: "http_" + fmt.Sprint(status), Message: "unexpected answer " + http.StatusText(status)}
	}
	e.Status = status
	if len(e.Message) > 512 {
		e.Message = e.Message[:512] + "..."
	}
	return &e
}

func (c *client) join(ctx context.Context, token JoinToken, csrPEM string) (SVIDResponse, error) {
	var out SVIDResponse
	err := c.call(ctx, http.MethodPost, EndpointJoin, JoinRequest{Token: token.Reveal(), CSRPEM: csrPEM}, &out)
	return out, err
}

func (c *client) renew(ctx context.Context, csrPEM string) (SVIDResponse, error) {
	var out SVIDResponse
	err := c.call(ctx, http.MethodPost, EndpointRenew, RenewRequest{CSRPEM: csrPEM}, &out)
	return out, err
}

func (c *client) entries(ctx context.Context) ([]EntryJSON, error) {
	var out EntriesResponse
	err := c.call(ctx, http.MethodGet, EndpointEntries, nil, &out)
	return out.Entries, err
}

func (c *client) svid(ctx context.Context, entryID, csrPEM string) (SVIDResponse, error) {
	var out SVIDResponse
	err := c.call(ctx, http.MethodPost, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: csrPEM}, &out)
	return out, err
}

func (c *client) jwtsvid(ctx context.Context, entryID string, audience []string, ttl time.Duration) (string, error) {
	req := JWTSVIDRequest{EntryID: entryID, Audience: audience}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	var out JWTSVIDResponse
	if err := c.call(ctx, http.MethodPost, EndpointJWTSVID, req, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", errors.New("the server's answer to jwtsvid holds no token")
	}
	return out.Token, nil
}

func (c *client) bundle(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.call(ctx, http.MethodGet, EndpointBundle, nil, &out)
	return out, err
}

// parseChain reads the CERTIFICATE blocks of an issued chain, leaf
// first: at least one, at most maxChain, and nothing else.
func parseChain(s string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("the issued chain holds a %s block", quote(b.Type))
		}
		if len(chain) == maxChain {
			return nil, fmt.Errorf("the issued chain has more than %d certificates", maxChain)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the issued chain holds a certificate that does not parse: %v", err)
		}
		chain = append(chain, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("the issued chain has data that is not PEM")
	}
	if len(chain) == 0 {
		return nil, errors.New("the issued chain holds no certificate")
	}
	return chain, nil
}

// refusal says whether err is the server refusing this agent itself (as
// opposed to being down, or refusing one request): revoked, unknown,
// expired, or a certificate the TLS handshake refused.
func refusal(err error) bool {
	var e *APIError
	if errors.As(err, &e) {
		switch e.Code {
		case CodeAgentRevoked, CodeAgentUnknown, CodeCertificateRevoked, CodeCertificateRejected,
			CodeCertificateSuperseded, CodeNotAgent, CodeCertificateRequired:
			return true
		}
		return false
	}
	// A node whose TLS listener verifies client certificates refuses a
	// revoked or expired one in the handshake, with an alert.
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
