package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/workload"
)

// checkRefusal fails unless err is a client error the API answers.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var e *APIError
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Code == "" || e.Message == "" {
		t.Fatalf("refusal %#v is not a client error", err)
	}
	if len(e.Message) > 400 {
		t.Fatalf("refusal message of %d bytes", len(e.Message))
	}
}

func seedCSR(f *testing.F) string { return csrPEM(f, newP256(f), nil) }

// FuzzParseJoinRequest: the body of the one unauthenticated call.
func FuzzParseJoinRequest(f *testing.F) {
	tok, _ := newToken(strings.NewReader(strings.Repeat("k", 64)))
	f.Add([]byte(`{"token":"` + tok.Reveal() + `","csr_pem":` + jsonString(seedCSR(f)) + `}`))
	f.Add([]byte(`{"token":"","csr_pem":""}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		token, der, err := parseJoinRequest(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if !wellFormed(token) || len(der) == 0 {
			t.Fatalf("accepted token %q, csr of %d bytes", token, len(der))
		}
	})
}

// FuzzParseSVIDRequest: an agent's request for a workload's SVID.
func FuzzParseSVIDRequest(f *testing.F) {
	f.Add([]byte(`{"entry_id":"0123abcd","csr_pem":` + jsonString(seedCSR(f)) + `}`))
	f.Add([]byte(`{"entry_id":"../a","csr_pem":"x"}`))
	f.Add([]byte(`{"entry_id":"a","csr_pem":"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\ntrailing"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, der, err := parseSVIDRequest(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if checkEntryID(id) != nil || len(der) == 0 {
			t.Fatalf("accepted entry %q", id)
		}
	})
}

// FuzzParseJWTSVIDRequest: an agent's request for a workload's JWT-SVID.
// What passes is within the limits the agent's issuer checks too, and
// its lifetime within the CA's.
func FuzzParseJWTSVIDRequest(f *testing.F) {
	f.Add([]byte(`{"entry_id":"0123abcd","audience":["billing"]}`))
	f.Add([]byte(`{"entry_id":"0123abcd","audience":["spiffe://example.org/db","extra"],"ttl":"5m0s"}`))
	f.Add([]byte(`{"entry_id":"a","audience":["x"],"ttl":"24h"}`))
	f.Add([]byte(`{"entry_id":"a","audience":[],"ttl":"0s"}`))
	f.Add([]byte(`{"entry_id":"a","audience":["a","b","c","d","e","f","g","h","i"]}`))
	f.Add([]byte(`{"entry_id":"a","audience":[""]}`))
	f.Add([]byte(`{"entry_id":"a","audience":"x"}`))
	f.Add([]byte(`{"entry_id":"a","audience":["x"],"TTL":"1m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, aud, ttl, err := parseJWTSVIDRequest(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if checkEntryID(id) != nil || checkAudience(aud) != nil {
			t.Fatalf("accepted entry %q, audience %q", id, aud)
		}
		if ttl != 0 && (ttl < time.Second || ttl > pki.MaxJWTTTL) {
			t.Fatalf("accepted ttl %s", ttl)
		}
	})
}

// FuzzParseRenewRequest: an agent's renewal.
func FuzzParseRenewRequest(f *testing.F) {
	f.Add([]byte(`{"csr_pem":` + jsonString(seedCSR(f)) + `}`))
	f.Add([]byte(`{"csr_pem":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"}`))
	f.Add([]byte(`{"csr_pem":null,"x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		der, err := parseRenewRequest(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		// What passes goes to the CA, whose own parser refuses by class.
		if _, err := pki.ParseCSR(der); err != nil && !errors.Is(err, pki.ErrMalformed) && !errors.Is(err, pki.ErrTooLarge) &&
			!errors.Is(err, pki.ErrCSRSignature) && !errors.Is(err, pki.ErrKeyType) && !errors.Is(err, pki.ErrCARequest) {
			t.Fatalf("csr refused unclassified: %v", err)
		}
	})
}

// FuzzCheckEntry: registration entries come from administrators, and
// what is accepted must read back from the store as the same entry.
func FuzzCheckEntry(f *testing.F) {
	f.Add("spiffe://example.org/billing", "web1", "unix:uid:1000", "unix:path:/usr/bin/b", "1h")
	f.Add("spiffe://example.org/ztgate/x", "web1", "unix:uid:0", "", "")
	f.Add("spiffe://example.org/device", "a", "unix:user:root", "unix:user:root", "0s")
	f.Add("spiffe://EXAMPLE.org/x", "..", "unix:gid:01", "k8s:ns:x", "1500ms")
	td, _ := pki.ParseTrustDomain(testTD)
	f.Fuzz(func(t *testing.T, id, parent, sel1, sel2, ttl string) {
		sels := []string{sel1}
		if sel2 != "" {
			sels = append(sels, sel2)
		}
		e, err := checkEntry(td, 24*time.Hour, EntryRequest{SPIFFEID: id, Parent: parent, Selectors: sels, TTL: ttl})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal %v is not ErrInvalid", err)
			}
			return
		}
		p, err := pki.ParseID(e.SPIFFEID)
		if err != nil || !p.MemberOf(td) || reserved(p.Path()) || p.Path() == "" {
			t.Fatalf("accepted %q", e.SPIFFEID)
		}
		e.ID = "0abc"
		if _, err := readEntry(storeRecord(KindEntry, entryKey(e.Parent, e.ID), encode(e)), td); err != nil {
			t.Fatalf("an accepted entry does not read back: %v", err)
		}
		if _, err := toWorkloadEntry(e.toJSON(), td); err != nil {
			t.Fatalf("an accepted entry is refused by the workload api: %v", err)
		}
		for _, s := range e.Selectors {
			if _, err := workload.ParseSelector(s); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseChain: an issued chain, from the server.
func FuzzParseChain(f *testing.F) {
	e := fuzzChain(f)
	f.Add(e)
	f.Add(e + "junk")
	f.Add("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
	f.Add(strings.Repeat(e, maxChain+1))
	f.Fuzz(func(t *testing.T, s string) {
		chain, err := parseChain(s)
		if err == nil && (len(chain) == 0 || len(chain) > maxChain) {
			t.Fatalf("chain of %d", len(chain))
		}
	})
}

// FuzzParseAPIError: a refusal, from the server or whatever answers.
func FuzzParseAPIError(f *testing.F) {
	f.Add(403, []byte(`{"code":"agent_revoked","message":"the agent has been revoked"}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(400, []byte(`{"code":"","message":"x"}`))
	f.Fuzz(func(t *testing.T, status int, data []byte) {
		e := parseAPIError(status, data)
		if e == nil || e.Code == "" || e.Status != status || len(e.Message) > 515 {
			t.Fatalf("%#v", e)
		}
	})
}

// FuzzParseTrustBundle: --trust-bundle, a file the operator copied.
func FuzzParseTrustBundle(f *testing.F) {
	f.Add([]byte(fuzzChain(f)))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"use":"x509-svid","kty":"EC","x5c":["AA=="]}]}`))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		roots, err := parseTrustBundle(data)
		if err == nil && len(roots) == 0 {
			t.Fatal("no roots and no error")
		}
	})
}

// fuzzChain is a real certificate in PEM.
func fuzzChain(f *testing.F) string { return string(foreignRootPEM(f)) }

func TestStrictMembers(t *testing.T) {
	for _, body := range []string{
		`{"Token":"x","csr_pem":"y"}`,
		`{"token":"a","token":"b","csr_pem":"y"}`,
		`{"token":"a","csr_pem":"y","extra":1}`,
		`["token"]`,
		`{"token":"a","csr_pem":"y"}x`,
	} {
		if _, _, err := parseJoinRequest([]byte(body)); err == nil || err == errTokenRefused {
			t.Errorf("%s: %v", body, err)
		}
	}
}
