package agent

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// Bad requests are refused with a clear code and message, audited, and
// nothing is issued.
func TestBadInputs(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	entryID := e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	cert, _ := ra.creds(t)
	agent := e.rawClient(&cert)
	anon := e.rawClient(nil)

	key := newP256(t)
	good := csrPEM(t, key, nil)
	garbage := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("not der")}))
	otherTD := csrPEM(t, key, func(r *x509.CertificateRequest) {
		u, _ := url.Parse("spiffe://evil.org/billing")
		r.URIs = []*url.URL{u}
	})
	otherID := csrPEM(t, key, func(r *x509.CertificateRequest) {
		u, _ := url.Parse("spiffe://example.org/ztgate/agent/root")
		r.URIs = []*url.URL{u}
	})
	caFlag, _ := asn1.Marshal(struct{ IsCA bool }{true})
	wantsCA := csrPEM(t, key, func(r *x509.CertificateRequest) {
		r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: caFlag}}
	})
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakKey := csrPEM(t, weak, nil)
	workloadCert := e.workloadCert("spiffe://example.org/billing")
	foreignCert := foreignSVID(t, "spiffe://example.org/ztgate/agent/web1")

	for _, tc := range []struct {
		name     string
		c        *rawClient
		endpoint string
		body     any
		status   int
		code     string
	}{
		{"svid: csr not pem", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: "hello"}, 400, CodeBadRequest},
		{"svid: csr not der", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: garbage}, 400, CodeCSRRefused},
		{"svid: csr of another trust domain", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: otherTD}, 400, CodeCSRRefused},
		{"svid: csr of another id", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: otherID}, 400, CodeCSRRefused},
		{"svid: csr for a ca", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: wantsCA}, 400, CodeCSRRefused},
		{"svid: weak key", agent, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: weakKey}, 400, CodeCSRRefused},
		{"svid: bad entry id", agent, EndpointSVID, SVIDRequest{EntryID: "../x", CSRPEM: good}, 400, CodeBadRequest},
		{"svid: unknown entry", agent, EndpointSVID, SVIDRequest{EntryID: "0123", CSRPEM: good}, 404, CodeEntryUnknown},
		{"svid: unknown member", agent, EndpointSVID, `{"entry_id":"` + entryID + `","csr_pem":"","ttl":"1h"}`, 400, CodeBadRequest},
		{"svid: two objects", agent, EndpointSVID, `{"entry_id":"a"} {}`, 400, CodeBadRequest},
		{"svid: not json", agent, EndpointSVID, `entry_id=a`, 400, CodeBadRequest},
		{"svid: oversized", agent, EndpointSVID, `{"csr_pem":"` + strings.Repeat("A", MaxRequestBody) + `"}`, 413, CodeTooLarge},
		{"renew: csr not pem", agent, EndpointRenew, RenewRequest{CSRPEM: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}, 400, CodeBadRequest},
		{"renew: csr of another trust domain", agent, EndpointRenew, RenewRequest{CSRPEM: otherTD}, 400, CodeCSRRefused},
		{"renew: oversized", agent, EndpointRenew, strings.Repeat(" ", MaxRequestBody+1), 413, CodeTooLarge},
		{"join: bad csr, good token", anon, EndpointJoin, JoinRequest{Token: e.token("web2"), CSRPEM: garbage}, 400, CodeCSRRefused},
		{"join: oversized", anon, EndpointJoin, strings.Repeat("{", MaxRequestBody+10), 413, CodeTooLarge},
		{"svid: no client certificate", anon, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: good}, 401, CodeCertificateRequired},
		{"renew: no client certificate", anon, EndpointRenew, RenewRequest{CSRPEM: good}, 401, CodeCertificateRequired},
		{"entries: no client certificate", anon, EndpointEntries, nil, 401, CodeCertificateRequired},
		{"bundle: no client certificate", anon, EndpointBundle, nil, 401, CodeCertificateRequired},
		{"renew: a workload's certificate", e.rawClient(&workloadCert), EndpointRenew, RenewRequest{CSRPEM: good}, 403, CodeNotAgent},
		{"entries: another ca's certificate", e.rawClient(&foreignCert), EndpointEntries, nil, 401, CodeCertificateRejected},
		{"jwtsvid: no audience", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID}, 400, CodeBadRequest},
		{"jwtsvid: empty audience", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{}}, 400, CodeBadRequest},
		{"jwtsvid: an empty audience value", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing", ""}}, 400, CodeBadRequest},
		{"jwtsvid: too many audiences", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: strings.Split("a b c d e f g h i", " ")}, 400, CodeBadRequest},
		{"jwtsvid: audience too long", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{strings.Repeat("a", MaxAudienceLen+1)}}, 400, CodeBadRequest},
		{"jwtsvid: audience escaped past the token limit", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: slices.Repeat([]string{strings.Repeat("<", MaxAudienceLen)}, MaxAudiences)}, 400, CodeBadRequest},
		{"jwtsvid: audience not a list", agent, EndpointJWTSVID, `{"entry_id":"` + entryID + `","audience":"billing"}`, 400, CodeBadRequest},
		{"jwtsvid: ttl not a duration", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}, TTL: "forever"}, 400, CodeBadRequest},
		{"jwtsvid: ttl under a second", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}, TTL: "500ms"}, 400, CodeBadRequest},
		{"jwtsvid: negative ttl", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}, TTL: "-5m"}, 400, CodeBadRequest},
		{"jwtsvid: bad entry id", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: "../x", Audience: []string{"billing"}}, 400, CodeBadRequest},
		{"jwtsvid: unknown entry", agent, EndpointJWTSVID, JWTSVIDRequest{EntryID: "0123", Audience: []string{"billing"}}, 404, CodeEntryUnknown},
		{"jwtsvid: unknown member", agent, EndpointJWTSVID, `{"entry_id":"` + entryID + `","audience":["billing"],"csr_pem":""}`, 400, CodeBadRequest},
		{"jwtsvid: member in another case", agent, EndpointJWTSVID, `{"entry_id":"` + entryID + `","Audience":["billing"]}`, 400, CodeBadRequest},
		{"jwtsvid: oversized", agent, EndpointJWTSVID, `{"entry_id":"` + entryID + `","audience":["` + strings.Repeat("a", MaxRequestBody) + `"]}`, 413, CodeTooLarge},
		{"jwtsvid: no client certificate", anon, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}}, 401, CodeCertificateRequired},
		{"jwtsvid: a workload's certificate", e.rawClient(&workloadCert), EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}}, 403, CodeNotAgent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, refusals := e.certCount(), len(e.audit.Records())
			st, body := tc.c.call(http.MethodPost, tc.endpoint, tc.body)
			if tc.body == nil {
				st, body = tc.c.call(http.MethodGet, tc.endpoint, nil)
			}
			ae := wantRefusal(t, st, body, tc.status, tc.code)
			if strings.Contains(ae.Message, "sqlite") || strings.Contains(ae.Message, "store") && tc.code != CodeUnavailable {
				t.Errorf("internal text in %q", ae.Message)
			}
			if e.certCount() != before {
				t.Fatal("a certificate was issued")
			}
			if n := len(e.records(audit.CategoryIssued, "IssueJWTSVID")); n != 0 {
				t.Fatalf("%d jwt-svids issued", n)
			}
			if strings.Contains(string(body), `"token"`) {
				t.Fatalf("a refusal with a token: %s", body)
			}
			recs := e.audit.Records()[refusals:]
			if len(recs) != 1 || recs[0].ZTGate.Category != audit.CategoryAuthFail || recs[0].ErrorCode != tc.code || recs[0].EventSource != audit.SourcePKI {
				t.Fatalf("audit: %+v", recs)
			}
			if tc.endpoint == EndpointJWTSVID && recs[0].EventName != "IssueJWTSVID" {
				t.Fatalf("refusal recorded as %s", recs[0].EventName)
			}
		})
	}

	// A token survives a join refused for its csr.
	tok2 := e.token("web3")
	st, body := anon.call(http.MethodPost, EndpointJoin, JoinRequest{Token: tok2, CSRPEM: garbage})
	wantRefusal(t, st, body, 400, CodeCSRRefused)
	if st, body := anon.call(http.MethodPost, EndpointJoin, JoinRequest{Token: tok2, CSRPEM: good}); st != 200 {
		t.Fatalf("join after a bad csr: %d %s", st, body)
	}
}

// Requests outside the API's shape: not audited, since nothing was asked.
func TestRouting(t *testing.T) {
	e := newEnv(t)
	anon := e.rawClient(nil)
	st, body := anon.call(http.MethodGet, "nope", nil)
	wantRefusal(t, st, body, 404, CodeNotFound)
	st, body = anon.call(http.MethodGet, EndpointJoin, nil)
	wantRefusal(t, st, body, 405, CodeMethodNotAllowed)

	// Without TLS: refused, audited.
	for _, ep := range []string{EndpointJoin, EndpointRenew} {
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, PathPrefix+ep, strings.NewReader("{}")))
		wantRefusal(t, w.Code, w.Body.Bytes(), http.StatusForbidden, CodeTLSRequired)
	}
	if n := len(e.records(audit.CategoryAuthFail, "JoinAgent")); n != 1 {
		t.Fatalf("%d join refusals audited", n)
	}
}

// An agent gets nothing under another agent's entry.
func TestOtherAgentsEntry(t *testing.T) {
	e := newEnv(t)
	a1 := e.agentClient("a1")
	e.agentClient("a2")
	theirs := e.entry("a2", "spiffe://example.org/payroll", "--selector", selfUID())
	mine := e.entry("a1", "spiffe://example.org/billing", "--selector", selfUID())

	before := e.certCount()
	st, body := a1.call(http.MethodPost, EndpointSVID, SVIDRequest{EntryID: theirs, CSRPEM: csrPEM(t, newP256(t), nil)})
	wantRefusal(t, st, body, http.StatusNotFound, CodeEntryUnknown)
	if e.certCount() != before {
		t.Fatal("issued under another agent's entry")
	}
	recs := e.records(audit.CategoryAuthFail, "IssueWorkloadSVID")
	if len(recs) != 1 || recs[0].RequestParameters["entryId"] != theirs || recs[0].UserIdentity.UserName != "a1" {
		t.Fatalf("audit: %+v", recs)
	}
	// Nor a JWT-SVID.
	st, body = a1.call(http.MethodPost, EndpointJWTSVID, JWTSVIDRequest{EntryID: theirs, Audience: []string{"payroll"}})
	wantRefusal(t, st, body, http.StatusNotFound, CodeEntryUnknown)
	if n := len(e.records(audit.CategoryIssued, "IssueJWTSVID")); n != 0 {
		t.Fatal("a jwt-svid issued under another agent's entry")
	}
	recs = e.records(audit.CategoryAuthFail, "IssueJWTSVID")
	if len(recs) != 1 || recs[0].RequestParameters["entryId"] != theirs || recs[0].UserIdentity.UserName != "a1" ||
		recs[0].ErrorCode != CodeEntryUnknown || recs[0].RequestParameters["spiffeId"] != nil {
		t.Fatalf("audit: %+v", recs)
	}
	// Under its own entry, one.
	var tok JWTSVIDResponse
	st, body = a1.call(http.MethodPost, EndpointJWTSVID, JWTSVIDRequest{EntryID: mine, Audience: []string{"billing"}})
	if st != 200 || jsonUnmarshal(body, &tok) != nil {
		t.Fatalf("jwtsvid under its own entry: %d %s", st, body)
	}
	if v, err := pki.VerifyJWTSVID(tok.Token, e.ca.Bundle(), "billing", time.Now()); err != nil || v.ID.String() != "spiffe://example.org/billing" {
		t.Fatalf("the token: %v, %v", v, err)
	}
	// Its own entries only.
	var got EntriesResponse
	st, body = a1.call(http.MethodGet, EndpointEntries, nil)
	if st != 200 || jsonUnmarshal(body, &got) != nil || len(got.Entries) != 1 || got.Entries[0].ID != mine {
		t.Fatalf("entries: %d %s", st, body)
	}
}

// An issuance whose audit record cannot be written is refused, and the
// certificate revoked; administrative changes are withdrawn.
func TestAuditFailure(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	entryID := e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	cert, _ := ra.creds(t)
	// Its eager issuance done, nothing of the agent's is in flight.
	if _, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr()); err != nil {
		t.Fatal(err)
	}
	ra.stop(t)

	e.fail.Store(true)
	before := len(mustList(t, e, pki.KindRevoked))
	st, body := e.rawClient(&cert).call(http.MethodPost, EndpointSVID, SVIDRequest{EntryID: entryID, CSRPEM: csrPEM(t, newP256(t), nil)})
	ae := wantRefusal(t, st, body, http.StatusInternalServerError, CodeInternal)
	if !strings.Contains(ae.Message, "revoked") {
		t.Fatalf("message %q", ae.Message)
	}
	if got := len(mustList(t, e, pki.KindRevoked)); got != before+1 {
		t.Fatalf("%d revocations, want %d\n%s", got, before+1, e.logs)
	}
	// A JWT-SVID cannot be revoked: unaudited, it is not handed out.
	st, body = e.rawClient(&cert).call(http.MethodPost, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing"}})
	ae = wantRefusal(t, st, body, http.StatusInternalServerError, CodeInternal)
	if !strings.Contains(ae.Message, "not handed out") || strings.Contains(string(body), "token") {
		t.Fatalf("refusal %s", body)
	}
	if _, err := e.admin("token", "create", "--name", "web2"); err == nil || !strings.Contains(err.Error(), "withdrawn") {
		t.Fatalf("token with a failing audit log: %v", err)
	}
	if recs := mustList(t, e, KindJoinToken); len(recs) != 0 {
		t.Fatalf("%d tokens left", len(recs))
	}
	if _, err := e.admin("entry", "create", "--parent", "web1", "--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:7"); err == nil || !strings.Contains(err.Error(), "withdrawn") {
		t.Fatalf("entry with a failing audit log: %v", err)
	}
	if recs := mustList(t, e, KindEntry); len(recs) != 1 {
		t.Fatalf("%d entries, want 1", len(recs))
	}
}

// workloadCert is an X509-SVID the CA issued to a workload, not an agent.
func (e *env) workloadCert(id string) tls.Certificate {
	key := newP256(e.t)
	p, err := pki.ParseID(id)
	if err != nil {
		e.t.Fatal(err)
	}
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	chain, err := e.ca.IssueSVID(context.Background(), csr, p, 0, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	c := tls.Certificate{PrivateKey: key}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// foreignSVID is a self-made X509-SVID claiming id, from no ztgate CA.
func foreignSVID(t testing.TB, id string) tls.Certificate {
	key := newP256(t)
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
