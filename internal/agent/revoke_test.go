package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// A revoked agent is refused on every call, by this node at once and by
// another node through the change feed; it says so in its log.
func TestRevokedAgent(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	if _, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr()); err != nil {
		t.Fatal(err)
	}
	cert, svid := ra.creds(t)

	// Another node on the same store, following the change feed.
	other := openSQLite(t, e.dbPath, "node-b")
	ca2, err := pki.Open(context.Background(), pki.Config{Store: other, KEK: e.kek, TrustDomain: testTD})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ca2.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if _, err := ca2.VerifySVID(svid.Certificates); err != nil {
		t.Fatalf("before revocation, node b: %v", err)
	}

	out := e.mustAdmin("revoke", "--name", "web1", "--reason", "host decommissioned")
	if !strings.Contains(out, "agent web1 revoked") || !strings.Contains(out, serialText(svid.Certificates[0].SerialNumber)) {
		t.Fatalf("revoke said: %s", out)
	}
	if recs := e.records(audit.CategoryRevocation, "RevokeAgent"); len(recs) != 1 || recs[0].RequestParameters["reason"] != "host decommissioned" {
		t.Fatalf("revocation records: %+v", recs)
	}
	waitFor(t, "node b to refuse the agent's certificate", func() bool {
		_, err := ca2.VerifySVID(svid.Certificates)
		return errors.Is(err, pki.ErrRevoked)
	})

	c := e.rawClient(&cert)
	before := e.certCount()
	for _, call := range []struct{ method, endpoint string }{
		{http.MethodGet, EndpointEntries}, {http.MethodGet, EndpointBundle},
		{http.MethodPost, EndpointRenew}, {http.MethodPost, EndpointSVID},
	} {
		st, body := c.call(call.method, call.endpoint, SVIDRequest{EntryID: "x", CSRPEM: csrPEM(t, newP256(t), nil)})
		if st != http.StatusUnauthorized && st != http.StatusForbidden {
			t.Errorf("%s after revocation: %d %s", call.endpoint, st, body)
		}
	}
	if e.certCount() != before {
		t.Fatal("a revoked agent got a certificate")
	}
	waitFor(t, "the agent to log its refusal", func() bool { return ra.logs.has("the server refuses this agent") })
	if n := strings.Count(ra.logs.String(), "the server refuses this agent"); n != 1 {
		t.Errorf("the refusal was logged %d times", n)
	}
	// Workloads keep what they hold.
	if _, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr()); err != nil {
		t.Fatalf("workload after revocation: %v", err)
	}

	// The name is spent.
	if _, err := e.admin("token", "create", "--name", "web1"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("token for a revoked name: %v", err)
	}
	if _, err := e.admin("entry", "create", "--parent", "web1", "--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:1"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("entry for a revoked agent: %v", err)
	}
	if out := e.mustAdmin("list"); !strings.Contains(out, "revoked") {
		t.Fatalf("list: %s", out)
	}
	// Revoking again is harmless.
	e.mustAdmin("revoke", "--name", "web1")
	if _, err := e.admin("revoke", "--name", "nobody"); err == nil || !strings.Contains(err.Error(), "no agent") {
		t.Fatalf("revoking an unknown agent: %v", err)
	}
}

// A node whose TLS listener verifies client certificates (as ztgate
// serve's does) refuses a revoked one in the handshake; the agent's
// client takes that for a refusal of the agent, not an outage.
func TestRevokedAtHandshake(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	ra := e.startAgent(tok)
	cert, _ := ra.creds(t)
	e.mustAdmin("revoke", "--name", "web1")

	ts := httptest.NewUnstartedServer(e.srv.Handler())
	ts.TLS = e.tlsc.Clone()
	ts.TLS.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		_, err := e.ca.VerifySVID(cs.PeerCertificates)
		return err
	}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	c, err := newClient(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.setCert(&cert)
	c.roots.Store(rootPool(e))
	_, err = c.entries(context.Background())
	if err == nil || !refusal(err) {
		t.Fatalf("entries: %v (refusal: %v)", err, refusal(err))
	}
}
