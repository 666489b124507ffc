package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

func TestAcceptReport(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	id := e.Device.ID
	n.clock.Advance(30 * time.Second)
	rep := n.report()
	rep.Notes = []string{"a note"}
	acc, err := n.reg.AcceptReport(ctx, n.signed(t, rep, key, e.Chain))
	if err != nil {
		t.Fatal(err)
	}
	if acc.DeviceID != id || !acc.Compliant || !acc.SignedAt.Equal(n.clock.Now()) || acc.Serial != serialHex(e.Chain[0]) {
		t.Fatalf("accepted %+v", acc)
	}
	recs := records(t, n.st, KindPosture)
	if len(recs) != 1 || recs[0].Key != id {
		t.Fatalf("posture records %v", recs)
	}
	var p postureRecord
	if err := json.Unmarshal(recs[0].Value, &p); err != nil {
		t.Fatal(err)
	}
	rep.CollectedAt = rep.CollectedAt.UTC()
	if mustJSON(t, p.Report) != mustJSON(t, rep) || !p.SignedAt.Equal(n.clock.Now()) {
		t.Errorf("stored %+v", p)
	}
	d, ok := n.reg.Lookup(id)
	if !ok || d.Platform != PlatformMacOS || d.Posture == nil || d.Posture.OSVersion != "14.4.1" {
		t.Errorf("memory holds %+v", d)
	}

	// A device may name itself by kid instead of sending its chain.
	n.clock.Advance(time.Second)
	h := jwsHeader{Typ: ReportType, Kid: id}
	payload, _ := json.Marshal(reportClaims{Sub: id, Iat: n.clock.Now().Unix(), Report: rep})
	jws, err := signCompact(h, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.AcceptReport(ctx, []byte(jws)); err != nil {
		t.Fatalf("report by kid: %v", err)
	}
}

// TestReportRefusals: every forged, stale, replayed or malformed report
// is refused with its class, and records nothing.
func TestReportRefusals(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	id := e.Device.ID
	other, otherKey := n.enroll(t)
	revokedDev, revokedKey := n.enroll(t)
	if _, err := n.reg.Revoke(ctx, revokedDev.Device.ID, "admin", "lost"); err != nil {
		t.Fatal(err)
	}
	// A report accepted at T sets the bar for replays.
	n.clock.Advance(time.Minute)
	lastReport := n.signed(t, n.report(), key, e.Chain)
	if _, err := n.reg.AcceptReport(ctx, lastReport); err != nil {
		t.Fatal(err)
	}
	now := n.clock.Now()

	// A second CA: a chain that looks right but is not ours.
	foreign := newEnv(t)
	fe, fkey := foreign.enroll(t)
	// A certificate for the device's own ID that the registry did not
	// issue to it (as a workload entry naming /device/ID would get).
	sid, _ := spiffeID(n.ca.TrustDomain(), id)
	imposterKey := newP256(t)
	imposter, err := n.ca.IssueSVID(ctx, newCSR(t, imposterKey), sid, time.Hour, "a workload entry")
	if err != nil {
		t.Fatal(err)
	}
	workloadID, _ := n.ca.TrustDomain().NewID("/ns/prod/api")
	workload, err := n.ca.IssueSVID(ctx, newCSR(t, imposterKey), workloadID, time.Hour, "a workload")
	if err != nil {
		t.Fatal(err)
	}

	sign := func(rep Report, at time.Time) []byte {
		jws, err := SignReportAt(rep, key, e.Chain, at)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(jws)
	}
	// raw signs any claims under any header with the device's key.
	raw := func(h jwsHeader, claims any) []byte {
		payload, _ := json.Marshal(claims)
		if h.Typ == "" {
			h.Typ = ReportType
		}
		if h.X5c == nil && h.Kid == "" {
			h.X5c = x5c(e.Chain)
		}
		jws, err := signCompact(h, payload, key)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(jws)
	}
	claims := func(mod func(map[string]any)) map[string]any {
		var m map[string]any
		b, _ := json.Marshal(reportClaims{Sub: id, Iat: now.Add(time.Second).Unix(), Report: n.report()})
		json.Unmarshal(b, &m)
		if mod != nil {
			mod(m)
		}
		return m
	}
	later := now.Add(time.Second)
	for name, c := range map[string]struct {
		jws  []byte
		want error
	}{
		"oversized":  {append(sign(n.report(), later), bytes.Repeat([]byte("A"), MaxReportSize)...), ErrTooLarge},
		"not a jws":  {[]byte("hello"), ErrMalformed},
		"four parts": {append(sign(n.report(), later), ".x"...), ErrMalformed},
		"bad base64": {[]byte("!!!.e30.e30"), ErrMalformed},
		"wrong typ":  {raw(jwsHeader{Typ: "JWT"}, claims(nil)), ErrMalformed},
		"collected long ago": {raw(jwsHeader{}, claims(func(m map[string]any) {
			m["collected_at"] = later.Add(-365 * 24 * time.Hour).Format(time.RFC3339)
		})), ErrMalformed},
		"collected after signing": {raw(jwsHeader{}, claims(func(m map[string]any) {
			m["collected_at"] = later.Add(365 * 24 * time.Hour).Format(time.RFC3339)
		})), ErrMalformed},
		"no chain or kid": {withHeader(t, sign(n.report(), later), `{"alg":"ES256","typ":"`+ReportType+`"}`), ErrMalformed},
		"unknown header":  {withHeader(t, sign(n.report(), later), `{"alg":"ES256","typ":"`+ReportType+`","kid":"`+id+`","jku":"https://evil"}`), ErrMalformed},
		"alg none":        {withHeader(t, sign(n.report(), later), `{"alg":"none","typ":"`+ReportType+`","kid":"`+id+`"}`), ErrSignature},
		"alg mismatch":    {withHeader(t, sign(n.report(), later), `{"alg":"ES384","typ":"`+ReportType+`","kid":"`+id+`"}`), ErrSignature},
		"hs256":           {withHeader(t, sign(n.report(), later), `{"alg":"HS256","typ":"`+ReportType+`","kid":"`+id+`"}`), ErrSignature},
		"wrong key":       {signWith(t, n.report(), otherKey, e.Chain, later), ErrSignature},
		"tampered payload": {tamper(t, sign(n.report(), later), func(m map[string]any) {
			m["disk_encrypted"] = true
			m["os_version"] = "99"
		}), ErrSignature},
		"stripped signature":     {bytes.Join(bytes.Split(sign(n.report(), later), []byte("."))[:2], []byte(".")), ErrMalformed},
		"empty signature":        {append(bytes.Join(bytes.Split(sign(n.report(), later), []byte("."))[:2], []byte(".")), '.'), ErrSignature},
		"foreign ca":             {signWith(t, n.report(), fkey, fe.Chain, later), ErrCertificate},
		"workload certificate":   {raw(jwsHeader{X5c: x5c(workload)}, claims(nil)), ErrCertificate},
		"certificate not issued": {signWith(t, n.report(), imposterKey, imposter, later), ErrCertificate},
		"kid of another device":  {raw(jwsHeader{Kid: other.Device.ID, X5c: x5c(e.Chain)}, claims(nil)), ErrMalformed},
		"sub of another device": {raw(jwsHeader{}, claims(func(m map[string]any) {
			m["sub"] = other.Device.ID
		})), ErrMalformed},
		"revoked device":   {signWith(t, n.report(), revokedKey, revokedDev.Chain, later), ErrRevoked},
		"revoked by kid":   {rawWith(t, revokedKey, jwsHeader{Typ: ReportType, Kid: revokedDev.Device.ID}, claims(func(m map[string]any) { m["sub"] = revokedDev.Device.ID })), ErrRevoked},
		"unknown kid":      {raw(jwsHeader{Kid: "dev-aaaaaaaaaaaaaaaa"}, claims(nil)), ErrUnknownDevice},
		"stale":            {sign(n.report(), now.Add(-MaxClockSkew-time.Second)), ErrStale},
		"future":           {sign(n.report(), now.Add(MaxClockSkew+time.Second)), ErrFuture},
		"replayed":         {lastReport, ErrReplay},
		"older than last":  {sign(n.report(), now.Add(-time.Second)), ErrReplay},
		"missing fact":     {raw(jwsHeader{}, claims(func(m map[string]any) { delete(m, "screen_lock") })), ErrMalformed},
		"fact not a bool":  {raw(jwsHeader{}, claims(func(m map[string]any) { m["firewall_enabled"] = "yes" })), ErrMalformed},
		"unknown platform": {raw(jwsHeader{}, claims(func(m map[string]any) { m["os"] = "Linux" })), ErrMalformed},
		"fractional iat":   {raw(jwsHeader{}, claims(func(m map[string]any) { m["iat"] = float64(later.Unix()) + 0.5 })), ErrMalformed},
		"control chars":    {raw(jwsHeader{}, claims(func(m map[string]any) { m["os_version"] = "14\x1b[2J" })), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			before := records(t, n.st, KindPosture)
			acc, err := n.reg.AcceptReport(ctx, c.jws)
			if acc != nil {
				t.Fatalf("accepted %+v", acc)
			}
			checkErr(t, err, c.want)
			if after := records(t, n.st, KindPosture); mustJSON(t, after) != mustJSON(t, before) {
				t.Error("a refused report changed the posture records")
			}
			if d, _ := n.reg.Lookup(id); !d.Posture.SignedAt.Equal(now) {
				t.Error("a refused report changed the device's posture in memory")
			}
		})
	}
}

// TestReportRace: one report sent to two nodes at once is accepted once.
func TestReportRace(t *testing.T) {
	n := newEnv(t)
	e, key := n.enroll(t)
	n.clock.Advance(time.Second)
	jws := n.signed(t, n.report(), key, e.Chain)
	// A second registry on the same store, as another node, which knows
	// of no report yet.
	other, err := Open(context.Background(), Config{Store: n.st, CA: n.ca, Clock: n.clock.Now, MaxCertTTL: caMaxTTL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.AcceptReport(context.Background(), jws); err != nil {
		t.Fatal(err)
	}
	_, err = other.AcceptReport(context.Background(), jws)
	checkErr(t, err, ErrReplay)
}

// TestReportUnknownDeviceRecord: a device whose record an operator
// deleted is unknown, whatever certificate it holds.
func TestReportUnknownDeviceRecord(t *testing.T) {
	n := newEnv(t)
	e, key := n.enroll(t)
	if _, err := store.Delete(context.Background(), n.st, KindDevice, e.Device.ID); err != nil {
		t.Fatal(err)
	}
	if err := n.reg.apply(context.Background(), e.Device.ID); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	_, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain))
	checkErr(t, err, ErrUnknownDevice)
}

// TestReportExpiredCertificate: a device whose certificate expired
// reports nothing.
func TestReportExpiredCertificate(t *testing.T) {
	n := newEnv(t)
	e, key := n.enroll(t)
	n.clock.Advance(DefaultCertTTL + time.Second)
	_, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain))
	checkErr(t, err, ErrCertificate)
	if !strings.Contains(err.Error(), pki.ErrValidity.Error()) {
		t.Errorf("err %v does not say why", err)
	}
}

func x5c(chain []*x509.Certificate) []string {
	var out []string
	for _, c := range chain {
		out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return out
}

func signWith(tb testing.TB, rep Report, key crypto.Signer, chain []*x509.Certificate, at time.Time) []byte {
	tb.Helper()
	// SignReportAt refuses a key that is not the chain's, so a forgery is
	// made by hand.
	id := ""
	if svid, err := pki.ParseSVID(chain); err == nil {
		id, _ = IDOf(svid.ID)
	}
	rep.CollectedAt = rep.CollectedAt.UTC()
	payload, _ := json.Marshal(reportClaims{Sub: id, Iat: at.Unix(), Report: rep})
	return rawWith(tb, key, jwsHeader{Typ: ReportType, X5c: x5c(chain)}, json.RawMessage(payload))
}

func rawWith(tb testing.TB, key crypto.Signer, h jwsHeader, claims any) []byte {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := signCompact(h, payload, key)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(jws)
}

// withHeader replaces a JWS's header, keeping its payload and signature.
func withHeader(tb testing.TB, jws []byte, header string) []byte {
	tb.Helper()
	parts := bytes.Split(jws, []byte("."))
	parts[0] = []byte(b64url.EncodeToString([]byte(header)))
	return bytes.Join(parts, []byte("."))
}

// tamper changes a JWS's claims, keeping its header and signature.
func tamper(tb testing.TB, jws []byte, mod func(map[string]any)) []byte {
	tb.Helper()
	parts := bytes.Split(jws, []byte("."))
	payload, err := b64url.DecodeString(string(parts[1]))
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(payload, &m)
	mod(m)
	b, _ := json.Marshal(m)
	parts[1] = []byte(b64url.EncodeToString(b))
	return bytes.Join(parts, []byte("."))
}
