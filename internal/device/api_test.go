package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// server serves n's device API, auditing into mem.
func (n *node) server(t *testing.T, mem *audit.Memory) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(NewHandler(HandlerConfig{Registry: n.reg, Audit: mem}))
	t.Cleanup(srv.Close)
	return srv
}

// caFile writes the test server's certificate to a file, for --ca-file.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// noSecrets fails when an audit record holds a secret.
func noSecrets(t *testing.T, mem *audit.Memory, secrets ...string) {
	t.Helper()
	b, err := json.Marshal(mem.Records())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			t.Errorf("an audit record holds a secret (%.12s...)", s)
		}
	}
}

// TestHandlerFlow: a device enrolls and reports through the API with the
// client helpers, and each step is on record.
func TestHandlerFlow(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	ctx := context.Background()
	tok, info := n.token(t)
	key := newP256(t)

	id, chain, err := Enroll(ctx, srv.URL, srv.Client(), tok, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ca.VerifySVID(chain); err != nil {
		t.Fatal(err)
	}
	issued := auditRecords(mem, EventEnroll)
	if len(issued) != 1 {
		t.Fatalf("%d enrollment records", len(issued))
	}
	r := issued[0]
	if r.EventSource != AuditSource || r.ZTGate.Category != audit.CategoryIssued || r.ErrorCode != "" ||
		r.UserIdentity.PrincipalID != id || r.ResponseElements["serialNumber"] != serialHex(chain[0]) ||
		r.RequestParameters["enrollmentId"] != info.ID || r.SourceIPAddress != "127.0.0.1" ||
		r.ZTGate.Device == nil || r.ZTGate.Device.ID != id {
		t.Errorf("enrollment record %+v", r)
	}

	n.clock.Advance(time.Second)
	jws, err := SignReportAt(n.report(), key, chain, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := SendReport(ctx, srv.URL, srv.Client(), jws)
	if err != nil {
		t.Fatal(err)
	}
	if res.DeviceID != id || !res.Compliant || !res.SignedAt.Equal(n.clock.Now()) {
		t.Errorf("posture answer %+v", res)
	}
	reps := auditRecords(mem, EventReport)
	if len(reps) != 1 || reps[0].ErrorCode != "" || reps[0].ZTGate.Device == nil || !reps[0].ZTGate.Device.Compliant ||
		reps[0].RequestParameters["diskEncrypted"] != true || reps[0].UserIdentity.PrincipalID != id {
		t.Errorf("report records %+v", reps)
	}
	// The same report again: refused, and on record as a failure.
	_, err = SendReport(ctx, srv.URL, srv.Client(), jws)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "ReplayedReport" || ae.RequestID == "" {
		t.Fatalf("replay: %v", err)
	}
	reps = auditRecords(mem, EventReport)
	if len(reps) != 2 || reps[1].ZTGate.Category != audit.CategoryAuthFail || reps[1].ErrorCode != "ReplayedReport" || reps[1].UserIdentity.PrincipalID != id {
		t.Errorf("refused report record %+v", reps[len(reps)-1])
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	noSecrets(t, mem, tok, tok[len(tokenPrefix):], base64.StdEncoding.EncodeToString(keyDER))
}

// post sends body to the API and returns the status and decoded error.
func postRaw(t *testing.T, srv *httptest.Server, path, method string, body []byte) (int, errorBody, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e errorBody
	json.Unmarshal(b, &e)
	return resp.StatusCode, e, string(b)
}

// TestPlainHTTPRefused: enrollments, posture reports and renewals that do
// not arrive over TLS are refused unread and audited: an enrollment token
// is a bearer secret. The command refuses an http:// server too.
func TestPlainHTTPRefused(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	plain := httptest.NewServer(NewHandler(HandlerConfig{Registry: n.reg, Audit: mem}))
	t.Cleanup(plain.Close)
	tok, _ := n.token(t)
	csr := base64.StdEncoding.EncodeToString(newCSR(t, newP256(t)))
	body := []byte(`{"token":"` + tok + `","csr":"` + csr + `"}`)
	for _, path := range []string{EnrollPath, PosturePath, RenewPath} {
		status, e, raw := postRaw(t, plain, path, "POST", body)
		if status != http.StatusForbidden || e.Code != "TLSRequired" {
			t.Errorf("%s over plain HTTP: %d %s", path, status, raw)
		}
	}
	recs := mem.Records()
	if len(recs) != 3 {
		t.Fatalf("%d audit records, want 3", len(recs))
	}
	for _, r := range recs {
		if r.ErrorCode != "TLSRequired" {
			t.Errorf("audit record %s: errorCode %q", r.EventName, r.ErrorCode)
		}
	}
	noSecrets(t, mem, tok)
	// The token was never read: it still enrolls, over TLS.
	srv := n.server(t, mem)
	if _, _, err := Enroll(context.Background(), srv.URL, srv.Client(), tok, newP256(t)); err != nil {
		t.Fatalf("enrolling over TLS after the refusal: %v", err)
	}
	if _, err := runCommand(t, tok+"\n", "enroll", "--server", plain.URL, "--token", "-", "--out", filepath.Join(t.TempDir(), "d")); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("enroll --server http://: %v", err)
	}
}

// TestHandlerRefusals: what a refused client is told, and what the audit
// log says of it.
func TestHandlerRefusals(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	key := newP256(t)
	csr := base64.StdEncoding.EncodeToString(newCSR(t, key))
	usedTok, _ := n.token(t)
	if _, _, err := Enroll(context.Background(), srv.URL, srv.Client(), usedTok, key); err != nil {
		t.Fatal(err)
	}
	goodTok, _ := n.token(t)
	unknownTok := tokenPrefix + strings.Repeat("A", tokenLen-len(tokenPrefix))
	body := func(tok, csr string) []byte {
		b, _ := json.Marshal(enrollBody{Token: tok, CSR: csr})
		return b
	}
	for name, c := range map[string]struct {
		path, method string
		body         []byte
		status       int
		code         string
		audited      string // the event name recorded, "" for none
		reason       string // a part of the recorded reason
	}{
		"used token":     {EnrollPath, "POST", body(usedTok, csr), 403, "InvalidEnrollmentToken", EventEnroll, "(used)"},
		"unknown token":  {EnrollPath, "POST", body(unknownTok, csr), 403, "InvalidEnrollmentToken", EventEnroll, "(unknown)"},
		"bad csr":        {EnrollPath, "POST", body(goodTok, base64.StdEncoding.EncodeToString([]byte("junk"))), 400, "InvalidCertificateRequest", EventEnroll, "malformed"},
		"csr not base64": {EnrollPath, "POST", body(goodTok, "%%%"), 400, "MalformedRequest", EventEnroll, "neither base64"},
		"unknown member": {EnrollPath, "POST", []byte(`{"token":"x","csr":"y","admin":true}`), 400, "MalformedRequest", EventEnroll, "not a json object"},
		"two objects":    {EnrollPath, "POST", append(body(goodTok, csr), body(goodTok, csr)...), 400, "MalformedRequest", EventEnroll, "data after"},
		"huge enroll":    {EnrollPath, "POST", make([]byte, MaxEnrollSize+1), 413, "RequestEntityTooLarge", EventEnroll, "limit"},
		"get enroll":     {EnrollPath, "GET", nil, 405, "MethodNotAllowed", "", ""},
		"huge report":    {PosturePath, "POST", make([]byte, MaxReportSize+1), 413, "RequestEntityTooLarge", EventReport, "limit"},
		"junk report":    {PosturePath, "POST", []byte("a.b.c"), 400, "MalformedRequest", EventReport, "header"},
		"get posture":    {PosturePath, "GET", nil, 405, "MethodNotAllowed", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			mem.Reset()
			status, e, raw := postRaw(t, srv, c.path, c.method, c.body)
			if status != c.status || e.Code != c.code || e.Message == "" || e.RequestID == "" {
				t.Fatalf("answer %d %s", status, raw)
			}
			for _, secret := range []string{usedTok, goodTok, "junk", "%%%", "admin"} {
				if strings.Contains(e.Message, secret) {
					t.Errorf("the message quotes the request: %q", e.Message)
				}
			}
			recs := mem.Records()
			if c.audited == "" {
				if len(recs) != 0 {
					t.Errorf("%d records", len(recs))
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := recs[0]
			if r.EventName != c.audited || r.ZTGate.Category != audit.CategoryAuthFail || r.ErrorCode != c.code || r.ErrorMessage != e.Message || r.RequestID != e.RequestID {
				t.Errorf("record %+v", r)
			}
			if reason, _ := r.RequestParameters["reason"].(string); !strings.Contains(reason, c.reason) {
				t.Errorf("recorded reason %q, want it to say %q", reason, c.reason)
			}
		})
	}
	// Unknown and used tokens are told apart by no one but the audit log.
	_, used, _ := postRaw(t, srv, EnrollPath, "POST", body(usedTok, csr))
	_, unknown, _ := postRaw(t, srv, EnrollPath, "POST", body(unknownTok, csr))
	if used.Message != unknown.Message || used.Message != "enrollment token already used or unknown" {
		t.Errorf("messages %q and %q", used.Message, unknown.Message)
	}
	noSecrets(t, mem, usedTok, goodTok)
}

// TestHandlerAuditFailure: an enrollment that cannot be recorded is
// refused, and its device revoked; a refusal is still answered.
func TestHandlerAuditFailure(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Err: errors.New("disk full")}
	srv := n.server(t, mem)
	tok, _ := n.token(t)
	_, _, err := Enroll(context.Background(), srv.URL, srv.Client(), tok, newP256(t))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("Enroll = %v", err)
	}
	ds, _ := n.reg.Devices(context.Background())
	if len(ds) != 1 || !ds[0].Revoked {
		t.Fatalf("devices %+v", ds)
	}
	if revoked := records(t, n.st, pki.KindRevoked); len(revoked) != 1 || revoked[0].Key != ds[0].Certificates[0].Serial {
		t.Fatalf("revocations %v", revoked)
	}
	if s, _, _ := postRaw(t, srv, EnrollPath, "POST", []byte("{}")); s != http.StatusBadRequest {
		t.Errorf("a refusal is answered %d", s)
	}
}

func TestParseEnrollRequest(t *testing.T) {
	der := newCSR(t, newP256(t))
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	for name, csr := range map[string]string{
		"base64":          base64.StdEncoding.EncodeToString(der),
		"base64 unpadded": base64.RawStdEncoding.EncodeToString(der),
		"pem":             pemText,
		"old pem":         strings.ReplaceAll(pemText, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(enrollBody{Token: "t", CSR: csr})
			tok, got, err := parseEnrollRequest(b)
			if err != nil || tok != "t" || !bytes.Equal(got, der) {
				t.Fatalf("= %q, %d bytes, %v", tok, len(got), err)
			}
		})
	}
	for name, body := range map[string]string{
		"not json":      "token=x",
		"array":         `["x"]`,
		"no token":      `{"csr":"AAAA"}`,
		"no csr":        `{"token":"x"}`,
		"certificate":   `{"token":"x","csr":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`,
		"two pem":       `{"token":"x","csr":` + mustJSON(t, pemText+pemText) + `}`,
		"base64url":     `{"token":"x","csr":"` + base64.URLEncoding.EncodeToString(append(der, 0xfb, 0xff)) + `"}`,
		"trailing junk": `{"token":"x","csr":"AAAA"} x`,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseEnrollRequest([]byte(body))
			checkErr(t, err, ErrMalformed)
		})
	}
}

// TestAdminHandler: the administrator's API, each change on record.
func TestAdminHandler(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := httptest.NewServer(NewAdminHandler(AdminConfig{Registry: n.reg, Audit: mem, Actor: func(r *http.Request) audit.Actor {
		return audit.Actor{Identity: audit.UserIdentity{Type: "LocalUser", UserName: "uid:0"}}
	}}))
	t.Cleanup(srv.Close)
	c := &adminClient{hc: &http.Client{Transport: rewrite{srv.URL, http.DefaultTransport}}}
	ctx := context.Background()
	do := func(method, path string, in, out any) error { return c.do(ctx, method, path, in, out) }

	var created TokenCreated
	if err := do("POST", AdminPrefix+"/tokens", TokenCreate{Name: "kiosk 1", Groups: []string{"kiosks"}, TTL: "2h"}, &created); err != nil {
		t.Fatal(err)
	}
	if !wellFormedToken(created.Token) || created.Enrollment.CreatedBy != "uid:0" || !created.Enrollment.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
		t.Fatalf("created %+v", created.Enrollment)
	}
	var bad TokenCreate
	err := do("POST", AdminPrefix+"/tokens", TokenCreate{Name: "x", Groups: []string{"a*"}}, &bad)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidParameterValue" || !strings.Contains(ae.Message, "Group \"a*\"") {
		t.Fatalf("bad group: %v", err)
	}
	var tokens []TokenInfo
	if err := do("GET", AdminPrefix+"/tokens", nil, &tokens); err != nil || len(tokens) != 1 || tokens[0].Status != "pending" {
		t.Fatalf("tokens %+v, %v", tokens, err)
	}

	e, err := n.reg.Enroll(ctx, EnrollRequest{Token: created.Token, CSR: newCSR(t, newP256(t))})
	if err != nil {
		t.Fatal(err)
	}
	var devices []Device
	if err := do("GET", AdminPrefix, nil, &devices); err != nil || len(devices) != 1 || devices[0].Name != "kiosk 1" {
		t.Fatalf("devices %+v, %v", devices, err)
	}
	var d Device
	if err := do("POST", AdminPrefix+"/"+e.Device.ID+"/revoke", DeviceRevoke{Reason: "decommissioned"}, &d); err != nil || !d.Revoked || d.RevokedBy != "uid:0" {
		t.Fatalf("revoke: %+v, %v", d, err)
	}
	if err := do("GET", AdminPrefix+"/"+e.Device.ID, nil, &d); err != nil || !d.Revoked {
		t.Fatalf("show: %+v, %v", d, err)
	}
	if err := do("GET", AdminPrefix+"/dev-aaaaaaaaaaaaaaaa", nil, &d); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unknown device: %v", err)
	}
	var ti TokenInfo
	if err := do("DELETE", AdminPrefix+"/tokens/"+created.Enrollment.ID, nil, &ti); err != nil {
		t.Fatal(err)
	}

	var names []string
	for _, r := range mem.Records() {
		names = append(names, r.EventName+"/"+r.ZTGate.Category+"/"+r.ErrorCode)
	}
	want := []string{
		EventCreateToken + "/" + audit.CategoryAdmin + "/",
		EventCreateToken + "/" + audit.CategoryAdmin + "/InvalidParameterValue",
		EventRevoke + "/" + audit.CategoryRevocation + "/",
		EventRevokeToken + "/" + audit.CategoryRevocation + "/",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("records\n %v\nwant\n %v", names, want)
	}
	rev := auditRecords(mem, EventRevoke)[0]
	if rev.RequestParameters["reason"] != "decommissioned" || rev.Resources[0].ARN != e.Device.SPIFFEID || rev.UserIdentity.UserName != "uid:0" {
		t.Errorf("revocation record %+v", rev)
	}
	noSecrets(t, mem, created.Token)
}

// rewrite sends the admin client's requests, addressed to the control
// socket's "http://ztgate", to a test server.
type rewrite struct {
	base string
	rt   http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(r.base, "http://")
	req = req.Clone(req.Context())
	req.URL = &u
	return r.rt.RoundTrip(req)
}

// TestHandlerForgeriesAudited: each forged, stale or replayed report, and
// each refused CSR or token, reaches the audit log as an authentication
// failure with the code the client was told, and changes nothing.
func TestHandlerForgeriesAudited(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	e, key := n.enroll(t)
	gone, goneKey := n.enroll(t)
	if _, err := n.reg.Revoke(context.Background(), gone.Device.ID, "admin", "lost"); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute)
	now := n.clock.Now()
	accepted := n.signed(t, n.report(), key, e.Chain)
	if _, err := n.reg.AcceptReport(context.Background(), accepted); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) []byte {
		jws, err := SignReportAt(n.report(), key, e.Chain, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(jws)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	basicCA, _ := asn1.Marshal(struct{ IsCA bool }{true})
	caCSR := newCSR(t, newP256(t), func(r *x509.CertificateRequest) {
		r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: basicCA}}
	})
	expiredTok, _ := n.token(t, func(r *TokenRequest) { r.TTL = time.Minute })
	enrollWith := func(tok string, csr []byte) []byte {
		b, _ := json.Marshal(enrollBody{Token: tok, CSR: base64.StdEncoding.EncodeToString(csr)})
		return b
	}
	tokA, _ := n.token(t)
	tokB, _ := n.token(t)
	n.clock.Advance(2 * time.Minute) // expiredTok is now expired

	for name, c := range map[string]struct {
		path    string
		body    []byte
		code    string
		claimed string
	}{
		"wrong key":        {PosturePath, signWith(t, n.report(), newP256(t), e.Chain, now.Add(time.Second)), "InvalidSignature", e.Device.ID},
		"tampered payload": {PosturePath, tamper(t, at(time.Second), func(m map[string]any) { m["firewall_enabled"] = true }), "InvalidSignature", e.Device.ID},
		"revoked device":   {PosturePath, signWith(t, n.report(), goneKey, gone.Chain, now.Add(time.Second)), "DeviceRevoked", gone.Device.ID},
		"stale":            {PosturePath, at(-10 * time.Minute), "ReportExpired", e.Device.ID},
		"future":           {PosturePath, at(10 * time.Minute), "ReportNotYetValid", e.Device.ID},
		"replayed":         {PosturePath, accepted, "ReplayedReport", e.Device.ID},
		"expired token":    {EnrollPath, enrollWith(expiredTok, newCSR(t, newP256(t))), "InvalidEnrollmentToken", ""},
		"ca csr":           {EnrollPath, enrollWith(tokA, caCSR), "InvalidCertificateRequest", ""},
		"weak key":         {EnrollPath, enrollWith(tokB, newCSR(t, weak)), "InvalidCertificateRequest", ""},
	} {
		t.Run(name, func(t *testing.T) {
			mem.Reset()
			certs, postures := len(records(t, n.st, pki.KindCert)), mustJSON(t, records(t, n.st, KindPosture))
			_, ans, raw := postRaw(t, srv, c.path, "POST", c.body)
			if ans.Code != c.code {
				t.Fatalf("answer %s, want %s", raw, c.code)
			}
			recs := mem.Records()
			if len(recs) != 1 || recs[0].ZTGate.Category != audit.CategoryAuthFail || recs[0].ErrorCode != c.code || recs[0].UserIdentity.PrincipalID != c.claimed {
				t.Fatalf("records %+v", recs)
			}
			if len(records(t, n.st, pki.KindCert)) != certs || mustJSON(t, records(t, n.st, KindPosture)) != postures {
				t.Error("a refused request issued or recorded something")
			}
		})
	}
}
