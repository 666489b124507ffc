package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// renewal signs a renewal request carrying csr with key and chain at at.
func renewal(tb testing.TB, key crypto.Signer, chain []*x509.Certificate, csr []byte, at time.Time) []byte {
	tb.Helper()
	jws, _, err := signRenewalCSR(key, chain, csr, at)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(jws)
}

// renewalClaimsOf is a renewal's claims as a map a test can spoil.
func renewalClaimsOf(id string, at time.Time, csr []byte, mod func(map[string]any)) map[string]any {
	m := map[string]any{"sub": id, "iat": at.Unix(), "csr": b64url.EncodeToString(csr)}
	if mod != nil {
		mod(m)
	}
	return m
}

// renewHTTP posts a renewal request to srv and returns the new chain or
// the refusal.
func renewHTTP(t *testing.T, srv *httptest.Server, jws []byte) ([]*x509.Certificate, *renewAnswer, error) {
	t.Helper()
	var ans renewAnswer
	if err := post(context.Background(), srv.Client(), srv.URL, RenewPath, "application/jose", jws, &ans); err != nil {
		return nil, nil, err
	}
	chain, err := parseChainPEM([]byte(ans.CertificateChainPEM))
	if err != nil {
		t.Fatal(err)
	}
	return chain, &ans, nil
}

// serials lists a device's certificate serials in the order issued.
func serials(d Device) []string {
	var out []string
	for _, c := range d.Certificates {
		out = append(out, c.Serial)
	}
	return out
}

func apiCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// TestRenewFlow: a device renews through the API; the new certificate
// has the same identity, a new serial and key, and is on record; the old
// one stays valid but renews no more; a retry after a lost answer gets
// the chain already issued; revoking the device refuses both.
func TestRenewFlow(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	ctx := context.Background()
	e, oldKey := n.enroll(t)
	id, oldChain := e.Device.ID, e.Chain

	n.clock.Advance(time.Hour)
	newKey := newP256(t)
	chain, err := renewAt(ctx, srv.URL, srv.Client(), oldKey, oldChain, newKey, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	svid, err := n.ca.VerifySVID(chain)
	if err != nil {
		t.Fatal(err)
	}
	leaf, oldSerial, newSerial := chain[0], serialHex(oldChain[0]), serialHex(chain[0])
	switch got, _ := IDOf(svid.ID); {
	case got != id || svid.ID.String() != e.Device.SPIFFEID || leaf.Subject.CommonName != id:
		t.Fatalf("renewed as %s (%s)", svid.ID, leaf.Subject)
	case newSerial == oldSerial:
		t.Fatal("the serial did not change")
	case !sameKey(leaf.PublicKey, newKey.Public()):
		t.Fatal("the certificate is not for the new key")
	case leaf.NotAfter.Sub(n.clock.Now()) != DefaultCertTTL:
		t.Errorf("lifetime %s, want %s", leaf.NotAfter.Sub(n.clock.Now()), DefaultCertTTL)
	case !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}):
		t.Errorf("ext key usage %v", leaf.ExtKeyUsage)
	}
	d, err := n.reg.Device(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(serials(d), []string{oldSerial, newSerial}) || !d.LastRenewal.Equal(n.clock.Now()) || d.Revoked {
		t.Fatalf("device after renewal %+v", d)
	}
	if held, _ := n.reg.Lookup(id); mustJSON(t, held) != mustJSON(t, d) {
		t.Errorf("memory holds %+v", held)
	}
	recs := auditRecords(mem, EventRenew)
	if len(recs) != 1 {
		t.Fatalf("%d renewal records", len(recs))
	}
	if r := recs[0]; r.ZTGate.Category != audit.CategoryIssued || r.ErrorCode != "" || r.UserIdentity.PrincipalID != id ||
		r.ResponseElements["serialNumber"] != newSerial || r.RequestParameters["previousSerialNumber"] != oldSerial ||
		r.ResponseElements["resent"] != false || r.Resources[0].ARN != e.Device.SPIFFEID {
		t.Errorf("renewal record %+v", r)
	}

	// The old certificate stays valid until it expires: it verifies, and
	// its key still reports; so does the new one, by chain and by kid.
	if _, err := n.ca.VerifySVID(oldChain); err != nil {
		t.Fatalf("the old certificate no longer verifies: %v", err)
	}
	n.clock.Advance(time.Second)
	if _, err := n.reg.AcceptReport(ctx, n.signed(t, n.report(), oldKey, oldChain)); err != nil {
		t.Fatalf("report with the old certificate: %v", err)
	}
	n.clock.Advance(time.Second)
	if acc, err := n.reg.AcceptReport(ctx, n.signed(t, n.report(), newKey, chain)); err != nil || acc.Serial != newSerial {
		t.Fatalf("report with the new certificate: %+v, %v", acc, err)
	}
	n.clock.Advance(time.Second)
	payload, _ := json.Marshal(reportClaims{Sub: id, Iat: n.clock.Now().Unix(), Report: n.report()})
	if _, err := n.reg.AcceptReport(ctx, rawWith(t, newKey, jwsHeader{Typ: ReportType, Kid: id}, json.RawMessage(payload))); err != nil {
		t.Fatalf("report by kid with the new key: %v", err)
	}

	// But it renews no more.
	mem.Reset()
	certs := len(records(t, n.st, pki.KindCert))
	n.clock.Advance(time.Second)
	_, err = renewAt(ctx, srv.URL, srv.Client(), oldKey, oldChain, newP256(t), n.clock.Now())
	if apiCode(err) != "InvalidDeviceCertificate" {
		t.Fatalf("renewal from the old certificate: %v", err)
	}
	if recs := mem.Records(); len(recs) != 1 || recs[0].EventName != EventRenew || recs[0].ZTGate.Category != audit.CategoryAuthFail || recs[0].UserIdentity.PrincipalID != id {
		t.Fatalf("records %+v", recs)
	}
	// Unless it asks for the current certificate's key: the device's
	// retry after a lost answer, which gets the chain already issued.
	n.clock.Advance(time.Second)
	again, err := renewAt(ctx, srv.URL, srv.Client(), oldKey, oldChain, newKey, n.clock.Now())
	if err != nil || !again[0].Equal(leaf) {
		t.Fatalf("retry: %v", err)
	}
	if got := len(records(t, n.st, pki.KindCert)); got != certs {
		t.Errorf("a retry issued %d certificates", got-certs)
	}
	if recs := auditRecords(mem, EventRenew); len(recs) != 2 || recs[1].ZTGate.Category != audit.CategoryIssued || recs[1].ResponseElements["resent"] != true || recs[1].ResponseElements["serialNumber"] != newSerial {
		t.Errorf("retry records %+v", recs)
	}

	// The new certificate renews, keeping its key if asked to.
	n.clock.Advance(time.Second)
	third, err := renewAt(ctx, srv.URL, srv.Client(), newKey, chain, newKey, n.clock.Now())
	if err != nil || !sameKey(third[0].PublicKey, newKey.Public()) {
		t.Fatalf("renewal keeping the key: %v", err)
	}

	// Revoking the device revokes every certificate it holds.
	d, err = n.reg.Revoke(ctx, id, "admin", "stolen")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Certificates) != 3 {
		t.Fatalf("certificates %+v", d.Certificates)
	}
	for _, c := range [][]*x509.Certificate{oldChain, chain, third} {
		if !n.ca.Revoked(c[0].SerialNumber) {
			t.Errorf("certificate %s not revoked", serialHex(c[0]))
		}
		if _, err := n.ca.VerifySVID(c); !errors.Is(err, pki.ErrRevoked) {
			t.Errorf("certificate %s verifies: %v", serialHex(c[0]), err)
		}
	}
	n.clock.Advance(time.Second)
	_, err = renewAt(ctx, srv.URL, srv.Client(), newKey, third, newP256(t), n.clock.Now())
	if apiCode(err) != "DeviceRevoked" {
		t.Fatalf("renewal of a revoked device: %v", err)
	}
}

// TestRenewOldCertificateExpires: the certificate renewed from is refused
// once it expires, the new one is not; a device whose current
// certificate expired renews nothing.
func TestRenewOldCertificateExpires(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	n.clock.Advance(DefaultCertTTL / 2)
	newKey := newP256(t)
	ren, err := n.reg.Renew(ctx, renewal(t, key, e.Chain, newCSR(t, newKey), n.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(DefaultCertTTL/2 + time.Second) // past the old one's notAfter
	if _, err := n.ca.VerifySVID(e.Chain); !errors.Is(err, pki.ErrValidity) {
		t.Fatalf("the expired certificate: %v", err)
	}
	if _, err := n.ca.VerifySVID(ren.Chain); err != nil {
		t.Fatalf("the renewed certificate: %v", err)
	}
	// The next renewal drops the expired certificate's chain, not its
	// serial.
	next, err := n.reg.Renew(ctx, renewal(t, newKey, ren.Chain, newCSR(t, newKey), n.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var rec deviceRecord
	if err := json.Unmarshal(mustGet(t, n.st, KindDevice, e.Device.ID).Value, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Certificates) != 3 || rec.Certificates[0].Chain != nil || rec.Certificates[1].Chain == nil || rec.Certificates[2].Serial != serialHex(next.Chain[0]) {
		t.Errorf("certificates %+v", rec.Certificates)
	}

	// The newest expires too: no renewal from it.
	n.clock.Advance(DefaultCertTTL + time.Second)
	_, err = n.reg.Renew(ctx, renewal(t, newKey, next.Chain, newCSR(t, newKey), n.clock.Now()))
	checkErr(t, err, ErrCertificate)
}

func mustGet(tb testing.TB, st store.Store, kind, key string) store.Record {
	tb.Helper()
	rec, err := st.Get(context.Background(), kind, key)
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// TestRenewShorterTTL: a renewal made after devices.cert_ttl was
// shortened makes a certificate that expires before the old one, and
// which is current all the same: it renews, and reports by kid use it.
func TestRenewShorterTTL(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	short, err := Open(ctx, Config{Store: n.st, CA: n.ca, Clock: n.clock.Now, MaxCertTTL: caMaxTTL, CertTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute)
	newKey := newP256(t)
	ren, err := short.Renew(ctx, renewal(t, key, e.Chain, newCSR(t, newKey), n.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !ren.Chain[0].NotAfter.Before(e.Chain[0].NotAfter) {
		t.Fatal("the renewed certificate outlives the old one")
	}
	n.clock.Advance(time.Second)
	payload, _ := json.Marshal(reportClaims{Sub: e.Device.ID, Iat: n.clock.Now().Unix(), Report: n.report()})
	jws, err := signCompact(jwsHeader{Typ: ReportType, Kid: e.Device.ID}, payload, newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.AcceptReport(ctx, []byte(jws)); err != nil {
		t.Fatalf("report by kid with the new key: %v", err)
	}
	if _, err := short.Renew(ctx, renewal(t, newKey, ren.Chain, newCSR(t, newKey), n.clock.Now())); err != nil {
		t.Fatalf("renewal from the shorter-lived certificate: %v", err)
	}
	_, err = short.Renew(ctx, renewal(t, key, e.Chain, newCSR(t, newP256(t)), n.clock.Now().Add(time.Second)))
	checkErr(t, err, ErrCertificate)
}

// TestRenewOwnURI: a CSR may name the device's own SPIFFE ID, as the
// device's certificate does.
func TestRenewOwnURI(t *testing.T) {
	n := newEnv(t)
	e, key := n.enroll(t)
	own, _ := url.Parse(e.Device.SPIFFEID)
	csr := newCSR(t, key, func(r *x509.CertificateRequest) { r.URIs = []*url.URL{own} })
	n.clock.Advance(time.Second)
	if _, err := n.reg.Renew(context.Background(), renewal(t, key, e.Chain, csr, n.clock.Now())); err != nil {
		t.Fatal(err)
	}
}

// TestRenewRefusals: every forged, replayed, stale or malformed renewal,
// every renewal of a device or certificate that may not renew and every
// CSR the CA will not sign is refused through the API with its code, on
// record as an authentication failure, and issues and changes nothing.
func TestRenewRefusals(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	ctx := context.Background()

	expired, expiredKey := n.enroll(t)
	n.clock.Advance(DefaultCertTTL + time.Second)
	e, key := n.enroll(t)
	id := e.Device.ID
	other, _ := n.enroll(t)
	gone, goneKey := n.enroll(t)
	if _, err := n.reg.Revoke(ctx, gone.Device.ID, "admin", "lost"); err != nil {
		t.Fatal(err)
	}
	// One renewal accepted: its chain is now current, e.Chain superseded.
	n.clock.Advance(time.Minute)
	curKey := newP256(t)
	accepted := renewal(t, key, e.Chain, newCSR(t, curKey), n.clock.Now())
	cur, _, err := renewHTTP(t, srv, accepted)
	if err != nil {
		t.Fatal(err)
	}
	now := n.clock.Now()
	later := now.Add(time.Second)

	foreign := newNode(t, openSQLite(t, filepath.Join(t.TempDir(), "f.db"), "f"), newKEK(t), n.clock)
	fe, fkey := foreign.enroll(t)
	sid, _ := spiffeID(n.ca.TrustDomain(), id)
	imposterKey := newP256(t)
	imposter, err := n.ca.IssueSVID(ctx, newCSR(t, imposterKey), sid, time.Hour, "a workload entry")
	if err != nil {
		t.Fatal(err)
	}

	good := newCSR(t, newP256(t))
	basicCA, _ := asn1.Marshal(struct{ IsCA bool }{true})
	caCSR := newCSR(t, newP256(t), func(r *x509.CertificateRequest) {
		r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: basicCA}}
	})
	withURIs := func(uris ...string) []byte {
		return newCSR(t, newP256(t), func(r *x509.CertificateRequest) {
			for _, s := range uris {
				u, _ := url.Parse(s)
				r.URIs = append(r.URIs, u)
			}
		})
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	badSig := bytes.Clone(good)
	badSig[len(badSig)-1] ^= 1

	sign := func(csr []byte, at time.Time) []byte { return renewal(t, curKey, cur, csr, at) }
	raw := func(h jwsHeader, claims any) []byte {
		h.Typ = RenewalType
		if h.X5c == nil && h.Kid == "" {
			h.X5c = x5c(cur)
		}
		return rawWith(t, curKey, h, claims)
	}
	algNone, _ := json.Marshal(jwsHeader{Alg: "none", Typ: RenewalType, X5c: x5c(cur)})
	claims := func(mod func(map[string]any)) map[string]any { return renewalClaimsOf(id, later, good, mod) }

	for name, c := range map[string]struct {
		body    []byte
		code    string
		claimed string
	}{
		"replayed":             {accepted, "ReplayedRequest", id},
		"same second as last":  {sign(good, now), "ReplayedRequest", id},
		"older than last":      {sign(good, now.Add(-time.Second)), "ReplayedRequest", id},
		"superseded":           {renewal(t, key, e.Chain, good, later), "InvalidDeviceCertificate", id},
		"revoked device":       {renewal(t, goneKey, gone.Chain, good, later), "DeviceRevoked", gone.Device.ID},
		"expired certificate":  {renewal(t, expiredKey, expired.Chain, good, later), "InvalidDeviceCertificate", expired.Device.ID},
		"foreign ca":           {renewal(t, fkey, fe.Chain, good, later), "InvalidDeviceCertificate", fe.Device.ID},
		"not issued to device": {renewal(t, imposterKey, imposter, good, later), "InvalidDeviceCertificate", id},
		"ca csr":               {sign(caCSR, later), "InvalidCertificateRequest", id},
		"another device's id":  {sign(withURIs(other.Device.SPIFFEID), later), "InvalidCertificateRequest", id},
		"a workload's id":      {sign(withURIs("spiffe://"+testTD+"/ns/prod/api"), later), "InvalidCertificateRequest", id},
		"own id and another":   {sign(withURIs(e.Device.SPIFFEID, other.Device.SPIFFEID), later), "InvalidCertificateRequest", id},
		"weak rsa key":         {sign(newCSR(t, weak), later), "InvalidCertificateRequest", id},
		"p-224 key":            {sign(newCSR(t, p224), later), "InvalidCertificateRequest", id},
		"csr signature":        {sign(badSig, later), "InvalidCertificateRequest", id},
		"junk csr":             {sign([]byte("junk"), later), "InvalidCertificateRequest", id},
		"wrong key":            {rawWith(t, newP256(t), jwsHeader{Typ: RenewalType, X5c: x5c(cur)}, claims(nil)), "InvalidSignature", id},
		"tampered csr":         {tamper(t, sign(good, later), func(m map[string]any) { m["csr"] = b64url.EncodeToString(caCSR) }), "InvalidSignature", id},
		"alg none":             {withHeader(t, sign(good, later), string(algNone)), "InvalidSignature", id},
		"kid only":             {raw(jwsHeader{Kid: id}, claims(nil)), "MalformedRequest", ""},
		"posture report":       {n.signed(t, n.report(), curKey, cur), "MalformedRequest", ""},
		"sub of another":       {raw(jwsHeader{}, claims(func(m map[string]any) { m["sub"] = other.Device.ID })), "MalformedRequest", id},
		"unknown claim":        {raw(jwsHeader{}, claims(func(m map[string]any) { m["ttl"] = "8760h" })), "MalformedRequest", id},
		"quoted iat":           {raw(jwsHeader{}, claims(func(m map[string]any) { m["iat"] = "1772367661" })), "MalformedRequest", id},
		"no csr":               {raw(jwsHeader{}, claims(func(m map[string]any) { delete(m, "csr") })), "MalformedRequest", id},
		"csr in pem":           {raw(jwsHeader{}, claims(func(m map[string]any) { m["csr"] = "-----BEGIN CERTIFICATE REQUEST-----" })), "MalformedRequest", id},
		"stale":                {sign(good, now.Add(-MaxClockSkew-time.Second)), "RequestExpired", id},
		"future":               {sign(good, now.Add(MaxClockSkew+time.Second)), "RequestNotYetValid", id},
		"oversized":            {append(sign(good, later), bytes.Repeat([]byte("A"), MaxRenewalSize)...), "RequestEntityTooLarge", ""},
		"not a jws":            {[]byte("hello"), "MalformedRequest", ""},
	} {
		t.Run(name, func(t *testing.T) {
			mem.Reset()
			certs, devices := len(records(t, n.st, pki.KindCert)), mustJSON(t, records(t, n.st, KindDevice))
			status, ans, raw := postRaw(t, srv, RenewPath, "POST", c.body)
			if ans.Code != c.code || ans.Message == "" || ans.RequestID == "" || status < 400 {
				t.Fatalf("answer %d %s, want %s", status, raw, c.code)
			}
			recs := mem.Records()
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := recs[0]
			if r.EventName != EventRenew || r.ZTGate.Category != audit.CategoryAuthFail || r.ErrorCode != c.code ||
				r.ErrorMessage != ans.Message || r.RequestID != ans.RequestID || r.UserIdentity.PrincipalID != c.claimed {
				t.Errorf("record %+v", r)
			}
			if reason, _ := r.RequestParameters["reason"].(string); reason == "" {
				t.Error("no reason recorded")
			}
			if len(records(t, n.st, pki.KindCert)) != certs {
				t.Error("a refused renewal issued a certificate")
			}
			if mustJSON(t, records(t, n.st, KindDevice)) != devices {
				t.Error("a refused renewal changed a device")
			}
		})
	}

	// A renewal is no report, even where reports are sent.
	mem.Reset()
	if _, ans, raw := postRaw(t, srv, PosturePath, "POST", sign(good, later)); ans.Code != "MalformedRequest" {
		t.Fatalf("a renewal as a report: %s", raw)
	}
	if s, _, _ := postRaw(t, srv, RenewPath, "GET", nil); s != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d", s)
	}
	if recs := auditRecords(mem, EventRenew); len(recs) != 0 {
		t.Errorf("%d renewal records", len(recs))
	}
}

// flakyAudit fails while fail is set, and records into Memory otherwise.
type flakyAudit struct {
	audit.Memory
	fail atomic.Bool
}

func (f *flakyAudit) Record(ctx context.Context, r *audit.Record) error {
	if f.fail.Load() {
		return errors.New("disk full")
	}
	return f.Memory.Record(ctx, r)
}

var _ audit.Recorder = (*flakyAudit)(nil)

// TestRenewAuditFailure: a renewal that cannot be recorded is refused;
// its certificate is revoked and withdrawn, so that the device's
// certificate stays current and renews once auditing works again.
func TestRenewAuditFailure(t *testing.T) {
	n := newEnv(t)
	rec := &flakyAudit{}
	srv := serveWith(t, n, rec)
	ctx := context.Background()
	e, key := n.enroll(t)
	newKey := newP256(t)
	certs := len(records(t, n.st, pki.KindCert))

	rec.fail.Store(true)
	n.clock.Advance(time.Second)
	_, err := renewAt(ctx, srv.URL, srv.Client(), key, e.Chain, newKey, n.clock.Now())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("renewal without audit: %v", err)
	}
	if got := records(t, n.st, pki.KindCert); len(got) != certs+1 {
		t.Fatalf("%d certificates issued", len(got)-certs)
	}
	d, err := n.reg.Device(ctx, e.Device.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Certificates) != 2 || d.Certificates[0].Withdrawn || !d.Certificates[1].Withdrawn || d.Revoked {
		t.Fatalf("certificates %+v", d.Certificates)
	}
	withdrawn, _ := pki.ParseSerial(d.Certificates[1].Serial)
	if !n.ca.Revoked(withdrawn) {
		t.Fatal("the unaudited certificate is not revoked")
	}
	if _, err := n.ca.VerifySVID(e.Chain); err != nil {
		t.Fatalf("the device's certificate: %v", err)
	}

	// Auditing works again: the device renews from its certificate, and
	// may ask for the same new key.
	rec.fail.Store(false)
	n.clock.Advance(time.Second)
	chain, err := renewAt(ctx, srv.URL, srv.Client(), key, e.Chain, newKey, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if serialHex(chain[0]) == d.Certificates[1].Serial {
		t.Fatal("the withdrawn certificate was sent")
	}
	if recs := auditRecords(&rec.Memory, EventRenew); len(recs) != 1 || recs[0].ZTGate.Category != audit.CategoryIssued {
		t.Errorf("records %+v", recs)
	}
}

// serveWith serves n's device API auditing into rec, and returns its URL.
func serveWith(t *testing.T, n *node, rec audit.Recorder) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(NewHandler(HandlerConfig{Registry: n.reg, Audit: rec}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRenewRace: two renewals from one certificate at once, as from a
// device and a thief of its key: one certificate is issued and current,
// and any other issued is revoked.
func TestRenewRace(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	other, err := Open(ctx, Config{Store: n.st, CA: n.ca, Clock: n.clock.Now, MaxCertTTL: caMaxTTL})
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute)
	now := n.clock.Now()
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i, reg := range []*Registry{n.reg, other} {
		jws := renewal(t, key, e.Chain, newCSR(t, newP256(t)), now.Add(time.Duration(i)*time.Second))
		wg.Go(func() { _, errs[i] = reg.Renew(ctx, jws) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		checkOneOf(t, err, ErrCertificate, ErrReplay)
	}
	if ok != 1 {
		t.Fatalf("%d renewals from one certificate succeeded: %v", ok, errs)
	}
	d, err := n.reg.Device(ctx, e.Device.ID)
	if err != nil || len(d.Certificates) != 2 {
		t.Fatalf("device %+v, %v", d, err)
	}
	for _, rec := range records(t, n.st, pki.KindCert) {
		serial, _ := pki.ParseSerial(rec.Key)
		if !slices.Contains(serials(d), rec.Key) && !n.ca.Revoked(serial) {
			t.Errorf("certificate %s is neither the device's nor revoked", rec.Key)
		}
	}
}

// TestRenewLimit: a device renewing in a loop stops at
// MaxLiveCertificates unexpired certificates, until one expires.
func TestRenewLimit(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	chain := e.Chain
	for range MaxLiveCertificates - 1 {
		n.clock.Advance(time.Second)
		ren, err := n.reg.Renew(ctx, renewal(t, key, chain, newCSR(t, key), n.clock.Now()))
		if err != nil {
			t.Fatal(err)
		}
		chain = ren.Chain
	}
	certs := len(records(t, n.st, pki.KindCert))
	n.clock.Advance(time.Second)
	_, err := n.reg.Renew(ctx, renewal(t, key, chain, newCSR(t, key), n.clock.Now()))
	checkErr(t, err, ErrLimit)
	if len(records(t, n.st, pki.KindCert)) != certs {
		t.Fatal("a refused renewal issued a certificate")
	}
	if ref := renewalRefusalOf(err); ref.status != http.StatusTooManyRequests {
		t.Errorf("refusal %+v", ref)
	}
	// The enrollment's certificate expires: room for one more.
	n.clock.Advance(DefaultCertTTL - time.Duration(MaxLiveCertificates)*time.Second + time.Second)
	if _, err := n.reg.Renew(ctx, renewal(t, key, chain, newCSR(t, key), n.clock.Now())); err != nil {
		t.Fatal(err)
	}
}

// TestRenewOtherNode: a certificate renewed on one node renews on another
// at once, before the change feed reaches it; the certificate it replaced
// renews on neither.
func TestRenewOtherNode(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	other, err := Open(ctx, Config{Store: n.st, CA: n.ca, Clock: n.clock.Now, MaxCertTTL: caMaxTTL})
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	newKey := newP256(t)
	ren, err := n.reg.Renew(ctx, renewal(t, key, e.Chain, newCSR(t, newKey), n.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	_, err = other.Renew(ctx, renewal(t, key, e.Chain, newCSR(t, newP256(t)), n.clock.Now()))
	checkErr(t, err, ErrCertificate)
	if _, err := other.Renew(ctx, renewal(t, newKey, ren.Chain, newCSR(t, newKey), n.clock.Now().Add(time.Second))); err != nil {
		t.Fatalf("renewal of the new certificate on the other node: %v", err)
	}
}
