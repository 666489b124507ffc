package device

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

// checkOneOf fails unless err matches exactly one of allowed and no other
// sentinel.
func checkOneOf(t *testing.T, err error, allowed ...error) {
	t.Helper()
	for _, want := range allowed {
		if errors.Is(err, want) {
			checkErr(t, err, want)
			return
		}
	}
	t.Fatalf("err %v matches none of %v", err, allowed)
}

// FuzzParseReport feeds arbitrary text to the report parser and, when it
// parses, to the signature check and the claims reader: none may panic,
// each refuses with its own class, and what they accept keeps their
// promises.
func FuzzParseReport(f *testing.F) {
	n := newEnv(f)
	e, key := n.enroll(f)
	good := n.signed(f, n.report(), key, e.Chain)
	f.Add(good)
	f.Add(tamper(f, good, func(m map[string]any) { m["os"] = "windows" }))
	f.Add(withHeader(f, good, `{"alg":"ES256","typ":"`+ReportType+`","kid":"`+e.Device.ID+`"}`))
	f.Add(withHeader(f, good, `{"alg":"none","typ":"`+ReportType+`","kid":"`+e.Device.ID+`"}`))
	f.Add(withHeader(f, good, `{"alg":"ES256","typ":"`+ReportType+`","x5c":["!!"]}`))
	f.Add([]byte("e30.e30.e30"))
	f.Add([]byte(".."))
	f.Add([]byte(""))
	pub := key.Public()
	f.Fuzz(func(t *testing.T, token []byte) {
		j, err := parseCompact(token, reportJWS)
		if err != nil {
			checkOneOf(t, err, ErrMalformed)
			return
		}
		switch {
		case j.header.Typ != ReportType || j.header.Alg == "":
			t.Fatalf("header %+v accepted", j.header)
		case len(j.chain) > maxChainLen || len(j.chain) != len(j.header.X5c):
			t.Fatalf("%d certificates from %d x5c entries", len(j.chain), len(j.header.X5c))
		case j.header.Kid != "" && !ValidID(j.header.Kid):
			t.Fatalf("kid %q accepted", j.header.Kid)
		case !bytes.HasPrefix(token, j.signingInput):
			t.Fatal("the signing input is not the token's start")
		}
		if err := j.verify(pub); err != nil {
			checkOneOf(t, err, ErrSignature)
			return
		}
		payload, err := b64url.DecodeString(j.payload)
		if err != nil {
			t.Fatal("a verified payload does not decode")
		}
		_, iat, rep, err := parseClaims(payload)
		if err != nil {
			checkOneOf(t, err, ErrMalformed)
			return
		}
		if err := rep.validate(); err != nil || iat.Unix() <= 0 {
			t.Fatalf("claims accepted: %+v at %v (%v)", rep, iat, err)
		}
	})
}

// FuzzAcceptReport runs the registry's whole check on arbitrary input:
// it must refuse with one of the report classes, and accept only reports
// signed by the enrolled device.
func FuzzAcceptReport(f *testing.F) {
	n := newEnv(f)
	e, key := n.enroll(f)
	f.Add(n.signed(f, n.report(), key, e.Chain))
	f.Add(withHeader(f, n.signed(f, n.report(), key, e.Chain), `{"alg":"ES256","typ":"`+ReportType+`","kid":"`+e.Device.ID+`"}`))
	f.Add(append(n.signed(f, n.report(), key, e.Chain), make([]byte, MaxReportSize)...))
	f.Add([]byte("x.y.z"))
	f.Fuzz(func(t *testing.T, token []byte) {
		n.clock.Advance(time.Second) // every report is newer than the last
		acc, err := n.reg.AcceptReport(context.Background(), token)
		if err != nil {
			checkOneOf(t, err, ErrTooLarge, ErrMalformed, ErrCertificate, ErrSignature, ErrUnknownDevice, ErrRevoked, ErrStale, ErrFuture, ErrReplay)
			return
		}
		if acc.DeviceID != e.Device.ID {
			t.Fatalf("a report for %s accepted", acc.DeviceID)
		}
	})
}

// FuzzParseEnrollRequest: the enrollment request parser must not panic,
// must refuse with ErrMalformed in a message that quotes nothing of the
// request, and must return what the request holds.
func FuzzParseEnrollRequest(f *testing.F) {
	der := newCSR(f, newP256(f))
	for _, csr := range []string{
		base64.StdEncoding.EncodeToString(der),
		base64.RawStdEncoding.EncodeToString(der),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		"-----BEGIN CERTIFICATE REQUEST-----",
		"",
	} {
		b, _ := json.Marshal(enrollBody{Token: "ztdev_x", CSR: csr})
		f.Add(b)
	}
	f.Add([]byte(`{"token":"t","csr":"AAAA","x":1}`))
	f.Add([]byte(`{"token":"t","csr":"AAAA"}{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, csr, err := parseEnrollRequest(body)
		if err != nil {
			checkOneOf(t, err, ErrMalformed)
			if len(err.Error()) > 120 {
				t.Fatalf("error of %d bytes: %q", len(err.Error()), err)
			}
			return
		}
		var b enrollBody
		if json.Unmarshal(body, &b) != nil || b.Token != tok || tok == "" || len(csr) == 0 {
			t.Fatalf("accepted %q: token %q, %d bytes of csr", body, tok, len(csr))
		}
	})
}

// FuzzParseRenewal: the renewal claims parser must not panic, must refuse
// with ErrMalformed in a short message, and must return what the claims
// hold.
func FuzzParseRenewal(f *testing.F) {
	der := newCSR(f, newP256(f))
	good, _ := json.Marshal(renewalClaims{Sub: "dev-aaaaaaaaaaaaaaaa", Iat: testNow.Unix(), CSR: b64url.EncodeToString(der)})
	f.Add(good)
	f.Add([]byte(`{"sub":"x","iat":1,"csr":"AA"}`))
	f.Add([]byte(`{"sub":"x","iat":"1","csr":"AA"}`))
	f.Add([]byte(`{"sub":"x","iat":1.5,"csr":"AA"}`))
	f.Add([]byte(`{"sub":"x","iat":1,"csr":"AA","ttl":"8760h"}`))
	f.Add([]byte(`{"sub":"x","iat":1,"csr":"AA"}{}`))
	f.Add([]byte(`{"sub":null,"iat":null,"csr":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		sub, iat, csr, err := parseRenewal(payload)
		if err != nil {
			checkOneOf(t, err, ErrMalformed)
			if len(err.Error()) > 120 {
				t.Fatalf("error of %d bytes: %q", len(err.Error()), err)
			}
			return
		}
		if iat.Unix() <= 0 || iat.Unix() > maxIat || len(csr) == 0 {
			t.Fatalf("accepted iat %v, %d bytes of csr", iat, len(csr))
		}
		var c renewalClaims
		if json.Unmarshal(payload, &c) != nil || c.Sub != sub || c.Iat != iat.Unix() {
			t.Fatalf("accepted %q as %q at %v", payload, sub, iat)
		}
		if der, err := b64url.DecodeString(c.CSR); err != nil || !bytes.Equal(der, csr) {
			t.Fatalf("accepted %q with another csr", payload)
		}
	})
}

// FuzzRenew runs the registry's whole check on arbitrary input: it must
// refuse with one of the renewal classes, and renew only the enrolled
// device.
func FuzzRenew(f *testing.F) {
	n := newEnv(f)
	e, key := n.enroll(f)
	n.clock.Advance(time.Second)
	f.Add(renewal(f, key, e.Chain, newCSR(f, key), n.clock.Now()))
	f.Add(renewal(f, key, e.Chain, []byte("junk"), n.clock.Now()))
	f.Add(n.signed(f, n.report(), key, e.Chain))
	f.Add([]byte("x.y.z"))
	f.Fuzz(func(t *testing.T, jws []byte) {
		n.clock.Advance(time.Second)
		ren, err := n.reg.Renew(context.Background(), jws)
		if err != nil {
			checkOneOf(t, err, ErrTooLarge, ErrMalformed, ErrCertificate, ErrSignature, ErrUnknownDevice, ErrRevoked, ErrStale, ErrFuture, ErrReplay, ErrCSR, ErrLimit)
			return
		}
		if ren.Device.ID != e.Device.ID {
			t.Fatalf("a renewal for %s accepted", ren.Device.ID)
		}
	})
}
