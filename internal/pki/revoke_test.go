package pki

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

// issue issues an SVID for a fresh key.
func issue(t *testing.T, ca *CA, path string) *x509.Certificate {
	t.Helper()
	chain, err := ca.IssueSVID(context.Background(), newCSR(t, newP256(t)), mustID(t, "spiffe://example.org"+path), 0, "t")
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	a, b := issue(t, ca, "/a"), issue(t, ca, "/b")
	if ca.Revoked(a.SerialNumber) || ca.Revoked(b.SerialNumber) {
		t.Fatal("revoked before Revoke")
	}
	if err := ca.Revoke(ctx, a.SerialNumber, ReasonKeyCompromise, "alice"); err != nil {
		t.Fatal(err)
	}
	if !ca.Revoked(a.SerialNumber) || ca.Revoked(b.SerialNumber) {
		t.Fatal("Revoked does not reflect the revocation on the node that wrote it")
	}
	// Again, by someone else: the first stands.
	if err := ca.Revoke(ctx, a.SerialNumber, ReasonSuperseded, "bob"); err != nil {
		t.Fatal(err)
	}
	recs := records(t, e.st, KindRevoked)
	if len(recs) != 1 {
		t.Fatalf("%d revocation records", len(recs))
	}
	var r Revocation
	if err := json.Unmarshal(recs[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	if r.Serial != serialKey(a.SerialNumber) || r.Reason != ReasonKeyCompromise || r.By != "alice" || !r.At.Equal(testNow) || !r.NotAfter.Equal(a.NotAfter) {
		t.Errorf("record %+v", r)
	}

	for name, tc := range map[string]struct {
		serial *big.Int
		reason Reason
		by     string
		want   error
	}{
		"never issued": {big.NewInt(42), ReasonUnspecified, "x", ErrUnknownCert},
		"nil":          {nil, ReasonUnspecified, "x", ErrUnknownCert},
		"negative":     {big.NewInt(-1), ReasonUnspecified, "x", ErrUnknownCert},
		"too long":     {new(big.Int).Lsh(big.NewInt(1), 170), ReasonUnspecified, "x", ErrUnknownCert},
		"hold":         {b.SerialNumber, Reason(6), "x", ErrRequest},
		"no one":       {b.SerialNumber, ReasonUnspecified, "", ErrRequest},
	} {
		err := ca.Revoke(ctx, tc.serial, tc.reason, tc.by)
		if err == nil {
			t.Errorf("%s: revoked", name)
			continue
		}
		checkErr(t, err, tc.want)
	}
	if ca.Revoked(b.SerialNumber) || ca.Revoked(nil) || ca.Revoked(big.NewInt(42)) {
		t.Error("a refused revocation took effect")
	}
	// A node that starts later loads it.
	if !e.open(t).Revoked(a.SerialNumber) {
		t.Error("a new node does not load the revocation")
	}
}

func TestRevokedAllocs(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	a, b := issue(t, ca, "/a"), issue(t, ca, "/b")
	if err := ca.Revoke(context.Background(), a.SerialNumber, ReasonUnspecified, "t"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if !ca.Revoked(a.SerialNumber) || ca.Revoked(b.SerialNumber) {
			panic("wrong answer")
		}
	}); n != 0 {
		t.Fatalf("Revoked allocates %v times", n)
	}
}

// TestRevocationTwoNodes: a revocation written on one node reaches
// another through the change feed: its Revoked answer and its CRL.
func TestRevocationTwoNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek, clock := newKEK(t), newFakeClock()
	cas := startTogether(t, []store.Store{openSQLite(t, path, "a"), openSQLite(t, path, "b")}, kek, clock)
	a, b := cas[0], cas[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	leaf := issue(t, a, "/w")
	crlBefore := parseCRL(t, b)
	if err := a.Revoke(ctx, leaf.SerialNumber, ReasonKeyCompromise, "admin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "revocation on the other node", func() bool { return b.Revoked(leaf.SerialNumber) })
	crl := parseCRL(t, b)
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("the other node's crl lists %v", crl.RevokedCertificateEntries)
	}
	if crl.Number.Cmp(crlBefore.Number) <= 0 {
		t.Errorf("crl number %v did not grow from %v", crl.Number, crlBefore.Number)
	}
	// A revocation record removed by an operator is followed too.
	if _, err := store.Delete(ctx, a.st, KindRevoked, serialKey(leaf.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted revocation", func() bool { return !b.Revoked(leaf.SerialNumber) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRevocationResync: a node whose feed lost changes reloads, and finds
// a revocation written meanwhile.
func TestRevocationResync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek, clock := newKEK(t), newFakeClock()
	cas := startTogether(t, []store.Store{openSQLite(t, path, "a"), &storetest.Pruned{Store: openSQLite(t, path, "b")}}, kek, clock)
	a, b := cas[0], cas[1]
	leaf := issue(t, a, "/w")
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Revoke(ctx, leaf.SerialNumber, ReasonUnspecified, "t"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, "revocation after a resync", func() bool { return b.Revoked(leaf.SerialNumber) })
	if _, err := store.Delete(ctx, a.st, KindRevoked, serialKey(leaf.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the feed followed after the reload", func() bool { return !b.Revoked(leaf.SerialNumber) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := b.st.(*storetest.Pruned).Watches(); n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
}

// TestUnreadableRevocation: a revocation record that cannot be read still
// revokes its serial.
func TestUnreadableRevocation(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	leaf := issue(t, ca, "/w")
	if _, err := store.Put(context.Background(), e.st, KindRevoked, serialKey(leaf.SerialNumber), []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(context.Background(), e.st, KindRevoked, "not-hex", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	other := e.open(t)
	if !other.Revoked(leaf.SerialNumber) {
		t.Fatal("an unreadable revocation lets its certificate through")
	}
	if entries := parseCRL(t, other).RevokedCertificateEntries; len(entries) != 1 {
		t.Errorf("crl lists %d entries", len(entries))
	}
}

func parseCRL(t *testing.T, ca *CA) *x509.RevocationList {
	t.Helper()
	der, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Chain()[0]); err != nil {
		t.Fatalf("crl not signed by the intermediate: %v", err)
	}
	return crl
}

func TestCRL(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	empty := parseCRL(t, ca)
	if len(empty.RevokedCertificateEntries) != 0 || !empty.ThisUpdate.Equal(testNow) || !empty.NextUpdate.Equal(testNow.Add(CRLLifetime)) {
		t.Errorf("empty crl: %d entries, %s – %s", len(empty.RevokedCertificateEntries), empty.ThisUpdate, empty.NextUpdate)
	}
	short := issue(t, ca, "/short")
	long, err := ca.IssueSVID(ctx, newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/long"), 10*time.Hour, "t")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := ca.Revoke(ctx, short.SerialNumber, ReasonKeyCompromise, "t"); err != nil {
		t.Fatal(err)
	}
	if err := ca.Revoke(ctx, long[0].SerialNumber, ReasonCessationOfOperation, "t"); err != nil {
		t.Fatal(err)
	}
	crl := parseCRL(t, ca)
	if len(crl.RevokedCertificateEntries) != 2 || crl.Number.Cmp(empty.Number) <= 0 {
		t.Fatalf("crl: %d entries, number %v after %v", len(crl.RevokedCertificateEntries), crl.Number, empty.Number)
	}
	for _, en := range crl.RevokedCertificateEntries {
		wantReason := int(ReasonKeyCompromise)
		if en.SerialNumber.Cmp(long[0].SerialNumber) == 0 {
			wantReason = int(ReasonCessationOfOperation)
		}
		if en.ReasonCode != wantReason || !en.RevocationTime.Equal(testNow.Add(time.Minute)) {
			t.Errorf("entry %x: reason %d, time %s", en.SerialNumber, en.ReasonCode, en.RevocationTime)
		}
	}
	// The same CRL is served until it is half way through its life, then
	// signed anew with a higher number.
	again := parseCRL(t, ca)
	if again.Number.Cmp(crl.Number) != 0 {
		t.Error("crl re-signed without a change")
	}
	e.clock.Advance(CRLLifetime / 2)
	fresh := parseCRL(t, ca)
	if fresh.Number.Cmp(crl.Number) <= 0 || !fresh.ThisUpdate.Equal(e.clock.Now()) {
		t.Errorf("stale crl kept: number %v, this update %s", fresh.Number, fresh.ThisUpdate)
	}
	// Once expired, a revoked certificate leaves the list when it is
	// next signed.
	e.clock.Set(short.NotAfter.Add(CRLLifetime / 2))
	if entries := parseCRL(t, ca).RevokedCertificateEntries; len(entries) != 1 || entries[0].SerialNumber.Cmp(long[0].SerialNumber) != 0 {
		t.Errorf("after expiry the crl lists %d entries", len(entries))
	}

	srv := httptest.NewServer(ca.CRLHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got, err := x509.ParseRevocationList(body); err != nil || len(got.RevokedCertificateEntries) != 1 {
		t.Errorf("served crl: %v", err)
	}
	if resp, err := http.Post(srv.URL, "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp.StatusCode, err)
	}
}

func TestPrune(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	ctx := context.Background()
	old := issue(t, ca, "/old")
	if err := ca.Revoke(ctx, old.SerialNumber, ReasonUnspecified, "t"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	young := issue(t, ca, "/young")
	if err := ca.Revoke(ctx, young.SerialNumber, ReasonUnspecified, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, e.st, KindRevoked, "abcd", []byte("{")); err != nil {
		t.Fatal(err)
	}
	n, err := ca.Prune(ctx, e.clock.Now())
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want the old certificate and its revocation", n, err)
	}
	certs := certRecords(t, e.st)
	if len(certs) != 1 || certs[0].Serial != serialKey(young.SerialNumber) {
		t.Errorf("certificates left: %+v", certs)
	}
	if recs := records(t, e.st, KindRevoked); len(recs) != 2 {
		t.Errorf("%d revocations left, want the young one and the unreadable one", len(recs))
	}
	if !ca.Revoked(young.SerialNumber) {
		t.Error("pruning dropped a live revocation")
	}
}
