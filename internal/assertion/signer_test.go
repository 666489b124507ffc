package assertion

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

// jwksKids lists the kids of a JWKS, in order.
func jwksKids(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func records(t *testing.T, st store.Store) []store.Record {
	t.Helper()
	recs, err := st.List(context.Background(), KeyKind, "")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := b64.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var header struct{ Kid string }
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	return header.Kid
}

func TestNewCreatesOneKey(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	recs := records(t, e.st)
	if len(recs) != 1 || recs[0].Key != "0000000001" {
		t.Fatalf("records %+v", recs)
	}
	if kids := jwksKids(t, s.JWKS()); !slices.Equal(kids, []string{s.KeyID()}) {
		t.Errorf("jwks kids %v, signing kid %s", kids, s.KeyID())
	}
	// A second start finds the key and makes none.
	s2 := e.signer(t)
	if s2.KeyID() != s.KeyID() || len(records(t, e.st)) != 1 {
		t.Errorf("restart made a key: %s vs %s", s2.KeyID(), s.KeyID())
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	for name, mod := range map[string]func(*Config){
		"no store":        func(c *Config) { c.Store = nil },
		"no kek":          func(c *Config) { c.KEK = nil },
		"empty kek":       func(c *Config) { c.KEK = &secret.KEK{} },
		"negative ttl":    func(c *Config) { c.TTL = -time.Second },
		"ttl too long":    func(c *Config) { c.TTL = 2 * time.Hour },
		"negative rotate": func(c *Config) { c.Rotate = -time.Second },
		"rotate < ttl":    func(c *Config) { c.TTL, c.Rotate = 10*time.Minute, 5*time.Minute },
		"negative cache":  func(c *Config) { c.CacheSize = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			c := e.config()
			mod(&c)
			if _, err := New(context.Background(), c); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestRotate: an emergency rotation signs with the new key at once; the
// old key stays in the JWKS, so its tokens verify, for twice the TTL.
func TestRotate(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	ctx := context.Background()
	old := s.KeyID()
	oldTok := mustSign(t, s, testClaims())

	e.clock.Advance(time.Minute)
	if err := s.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if s.KeyID() == old {
		t.Fatal("Rotate kept the key")
	}
	newTok := mustSign(t, s, testClaims())
	if tokenKid(t, newTok) != s.KeyID() {
		t.Errorf("new token signed by %s", tokenKid(t, newTok))
	}
	if kids := jwksKids(t, s.JWKS()); !slices.Equal(kids, []string{s.KeyID(), old}) {
		t.Errorf("jwks %v", kids)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := Verify(tok, s.JWKS(), testAudience, e.clock.Now()); err != nil {
			t.Errorf("refused after rotation: %v", err)
		}
	}

	// The old key stopped signing at the rotation; it stays published
	// for 2×TTL after.
	rotated := e.clock.Now()
	e.clock.Set(rotated.Add(2*DefaultTTL - time.Second))
	if kids := jwksKids(t, s.JWKS()); len(kids) != 2 {
		t.Errorf("old key gone early: %v", kids)
	}
	e.clock.Set(rotated.Add(2 * DefaultTTL))
	if kids := jwksKids(t, s.JWKS()); !slices.Equal(kids, []string{s.KeyID()}) {
		t.Errorf("old key still published: %v", kids)
	}
	// Its tokens are refused for the key, not merely for their age.
	if _, err := Verify(oldTok, s.JWKS(), testAudience, testNow); !errors.Is(err, ErrSignature) {
		t.Errorf("err = %v", err)
	}

	// A reload at this time no longer opens the retired key; Maintain
	// deletes its record a TTL later.
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.keys.Load().keys); n != 1 {
		t.Errorf("%d keys loaded", n)
	}
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, e.st)); n != 2 {
		t.Errorf("%d records before the deletion margin", n)
	}
	e.clock.Advance(DefaultTTL)
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if recs := records(t, e.st); len(recs) != 1 || recs[0].Key != "0000000002" {
		t.Errorf("records after deletion: %d", len(recs))
	}
}

// TestScheduledRotation walks a key through its life under Maintain.
func TestScheduledRotation(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	ctx := context.Background()
	first := s.KeyID()
	maintain := func() {
		t.Helper()
		if err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}

	e.clock.Set(testNow.Add(DefaultRotate - publishLead - time.Second))
	maintain()
	if n := len(records(t, e.st)); n != 1 {
		t.Fatalf("rotated early: %d records", n)
	}

	// At the lead, the successor is published but does not sign.
	e.clock.Set(testNow.Add(DefaultRotate - publishLead))
	maintain()
	kids := jwksKids(t, s.JWKS())
	if len(kids) != 2 || kids[1] != first {
		t.Fatalf("jwks %v", kids)
	}
	second := kids[0]
	if s.KeyID() != first {
		t.Errorf("the successor signs before its time")
	}
	maintain() // idempotent
	if n := len(records(t, e.st)); n != 2 {
		t.Errorf("%d records after a second Maintain", n)
	}

	// At the end of the rotation period it signs, with no reload.
	e.clock.Set(testNow.Add(DefaultRotate - time.Second))
	if tokenKid(t, mustSign(t, s, testClaims())) != first {
		t.Error("switched early")
	}
	e.clock.Set(testNow.Add(DefaultRotate))
	if tokenKid(t, mustSign(t, s, testClaims())) != second {
		t.Error("did not switch")
	}
	lastOfFirst := signAt(t, s, e.clock, testNow.Add(DefaultRotate-time.Second))

	// The first key's last token verifies until it expires, and the key
	// leaves the JWKS 2×TTL after it stopped signing.
	at := testNow.Add(DefaultRotate + DefaultTTL - time.Second)
	e.clock.Set(at)
	if _, err := Verify(lastOfFirst, s.JWKS(), testAudience, at); err != nil {
		t.Errorf("last token of the first key: %v", err)
	}
	e.clock.Set(testNow.Add(DefaultRotate + 2*DefaultTTL))
	if kids := jwksKids(t, s.JWKS()); !slices.Equal(kids, []string{second}) {
		t.Errorf("jwks %v", kids)
	}
	e.clock.Set(testNow.Add(DefaultRotate + 3*DefaultTTL))
	maintain()
	if recs := records(t, e.st); len(recs) != 1 || recs[0].Key != "0000000002" {
		t.Errorf("%d records", len(recs))
	}
}

// TestMaintainLate: a node that missed the schedule still publishes a key
// for the whole lead before it signs.
func TestMaintainLate(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	first := s.KeyID()
	e.clock.Set(testNow.Add(3 * DefaultRotate))
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != first {
		t.Error("an unannounced key signs")
	}
	e.clock.Advance(publishLead)
	if s.KeyID() == first {
		t.Error("the successor does not sign after the lead")
	}
}

func signAt(t *testing.T, s *Signer, clock *fakeClock, at time.Time) string {
	t.Helper()
	saved := clock.Now()
	clock.Set(at)
	defer clock.Set(saved)
	return mustSign(t, s, testClaims())
}

// TestTwoNodes: two nodes on one database start at once, agree on one
// key, verify each other's tokens, and follow each other's rotations.
func TestTwoNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek := newKEK(t)
	clock := newFakeClock()
	stores := []store.Store{openSQLite(t, path, "a"), openSQLite(t, path, "b")}
	signers := startTogether(t, stores, kek, clock)
	a, b := signers[0], signers[1]
	if a.KeyID() != b.KeyID() {
		t.Fatalf("nodes sign with different keys: %s, %s", a.KeyID(), b.KeyID())
	}
	if !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Errorf("JWKS differ:\n%s\n%s", a.JWKS(), b.JWKS())
	}
	for _, pair := range [][2]*Signer{{a, b}, {b, a}} {
		if _, err := Verify(mustSign(t, pair[0], testClaims()), pair[1].JWKS(), testAudience, clock.Now()); err != nil {
			t.Error(err)
		}
	}

	ctx := context.Background()
	before := mustSign(t, b, testClaims())
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if a.KeyID() != b.KeyID() || !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Errorf("after rotation and reload: %s vs %s", a.KeyID(), b.KeyID())
	}
	for _, tok := range []string{before, mustSign(t, a, testClaims()), mustSign(t, b, testClaims())} {
		if _, err := Verify(tok, a.JWKS(), testAudience, clock.Now()); err != nil {
			t.Error(err)
		}
	}

	// Both run Maintain when the rotation is due: one successor.
	clock.Set(testNow.Add(DefaultRotate))
	var wg sync.WaitGroup
	for _, s := range signers {
		wg.Go(func() {
			if err := s.Maintain(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// One successor, and the first key, retired long ago, deleted.
	if recs := records(t, stores[0]); len(recs) != 2 || recs[0].Key != "0000000002" || recs[1].Key != "0000000003" {
		t.Errorf("%d records, want generations 2 and 3", len(recs))
	}
	clock.Advance(publishLead)
	if a.KeyID() != b.KeyID() {
		t.Errorf("after scheduled rotation: %s vs %s", a.KeyID(), b.KeyID())
	}
}

// startTogether starts one Signer per store at the same moment.
func startTogether(t *testing.T, stores []store.Store, kek *secret.KEK, clock *fakeClock) []*Signer {
	t.Helper()
	signers := make([]*Signer, len(stores))
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			<-start
			signers[i], errs[i] = New(context.Background(), Config{Store: st, KEK: kek, Clock: clock.Now})
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(records(t, stores[0])); n != 1 {
		t.Fatalf("%d keys created by %d nodes starting at once", n, len(stores))
	}
	for _, s := range signers[1:] {
		if s.KeyID() != signers[0].KeyID() {
			t.Fatalf("nodes disagree on the key: %s, %s", s.KeyID(), signers[0].KeyID())
		}
	}
	return signers
}

// TestConcurrentStartPostgres runs the race New settles with Create on
// PostgreSQL, where the nodes' transactions truly overlap.
func TestConcurrentStartPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	kek := newKEK(t)
	clock := newFakeClock()
	var stores []store.Store
	for i := range 4 {
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.Postgres, DSN: dsn, Node: fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	signers := startTogether(t, stores, kek, clock)

	// Concurrent emergency rotations each make a key; none fails.
	var wg sync.WaitGroup
	for _, s := range signers {
		wg.Go(func() {
			if err := s.Rotate(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(records(t, stores[0])); n != 1+len(signers) {
		t.Errorf("%d records after %d rotations", n, len(signers))
	}
}

func TestConcurrentStartSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	var stores []store.Store
	for i := range 4 {
		stores = append(stores, openSQLite(t, path, fmt.Sprint("n", i)))
	}
	startTogether(t, stores, newKEK(t), newFakeClock())
}

// TestRun: a running node follows another node's rotation through the
// change feed, without a call to Reload.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek := newKEK(t)
	clock := newFakeClock()
	signers := startTogether(t, []store.Store{openSQLite(t, path, "a"), openSQLite(t, path, "b")}, kek, clock)
	a, b := signers[0], signers[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.KeyID() != a.KeyID() {
		if time.Now().After(deadline) {
			t.Fatal("node b did not pick up the rotation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestRunResync: a node whose feed lost changes reloads its keys and
// follows on: another node's rotation still reaches it.
func TestRunResync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek := newKEK(t)
	clock := newFakeClock()
	pb := &storetest.Pruned{Store: openSQLite(t, path, "b")}
	signers := startTogether(t, []store.Store{openSQLite(t, path, "a"), pb}, kek, clock)
	a, b := signers[0], signers[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); pb.Watches() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("Run did not watch again after the lost changes")
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); b.KeyID() != a.KeyID(); {
		if time.Now().After(deadline) {
			t.Fatal("node b did not pick up the rotation after a resync")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestKeyRecordSealed: the store holds the public key in clear and the
// private key sealed; nothing prints the private key.
func TestKeyRecordSealed(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t)
	s := e.signer(t, func(c *Config) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	if err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultRotate)
	if err := s.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}

	var secrets []string
	for _, k := range s.keys.Load().keys {
		scalar, err := k.priv.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets,
			hex.EncodeToString(scalar), strings.ToUpper(hex.EncodeToString(scalar)),
			base64.StdEncoding.EncodeToString(scalar), base64.RawURLEncoding.EncodeToString(scalar),
			string(scalar), new(big.Int).SetBytes(scalar).String()) // the last is how fmt prints D
	}
	leaks := func(what, text string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("%s contains a private key", what)
			}
		}
	}

	recs := records(t, e.st)
	for _, rec := range recs {
		leaks("record "+rec.Key, string(rec.Value))
		var r keyRecord
		if err := json.Unmarshal(rec.Value, &r); err != nil {
			t.Fatal(err)
		}
		if r.Public.Kty != "EC" || r.Public.X == "" || len(r.Private) < secret.Overhead+32 {
			t.Errorf("record %s: %s", rec.Key, rec.Value)
		}
	}
	leaks("log", logs.String())
	if !strings.Contains(logs.String(), "assertion key created") {
		t.Errorf("no log of key creation: %s", logs.String())
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		leaks("fmt "+verb+" of the signer", fmt.Sprintf(verb, s))
		leaks("fmt "+verb+" of a key", fmt.Sprintf(verb, s.current()))
		leaks("fmt "+verb+" of the key set", fmt.Sprintf(verb, s.keys.Load()))
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "signer", s, "key", s.current())
	leaks("slog", out.String())

	// Another KEK cannot open the keys, and says so without the key.
	_, err := New(context.Background(), Config{Store: e.st, KEK: newKEK(t), Clock: e.clock.Now})
	if !errors.Is(err, ErrKeyRecord) || !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("err = %v, want ErrKeyRecord and secret.ErrWrongKey", err)
	}
	leaks("error", err.Error())
}

// TestKeyRecordTampered: a record whose parts were swapped or changed is
// refused, and Reload keeps the keys it had.
func TestKeyRecordTampered(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (env, *Signer, []keyRecord) {
		e := newEnv(t)
		s := e.signer(t)
		if err := s.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		var rs []keyRecord
		for _, rec := range records(t, e.st) {
			var r keyRecord
			if err := json.Unmarshal(rec.Value, &r); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		return e, s, rs
	}
	put := func(t *testing.T, st store.Store, key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := store.Put(ctx, st, KeyKind, key, b); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]func(t *testing.T, st store.Store, rs []keyRecord){
		"private keys swapped": func(t *testing.T, st store.Store, rs []keyRecord) {
			rs[0].Private, rs[1].Private = rs[1].Private, rs[0].Private
			put(t, st, "0000000001", rs[0])
		},
		"public keys swapped": func(t *testing.T, st store.Store, rs []keyRecord) {
			rs[1].Public, rs[1].Kid = rs[0].Public, rs[0].Kid
			put(t, st, "0000000002", rs[1])
		},
		"kid changed": func(t *testing.T, st store.Store, rs []keyRecord) {
			rs[1].Kid = "mine"
			put(t, st, "0000000002", rs[1])
		},
		"sealed bytes flipped": func(t *testing.T, st store.Store, rs []keyRecord) {
			rs[1].Private[len(rs[1].Private)-1] ^= 1
			put(t, st, "0000000002", rs[1])
		},
		"not json": func(t *testing.T, st store.Store, rs []keyRecord) {
			if _, err := store.Put(ctx, st, KeyKind, "0000000003", []byte("{")); err != nil {
				t.Fatal(err)
			}
		},
		"odd record key": func(t *testing.T, st store.Store, rs []keyRecord) {
			put(t, st, "3", rs[1])
		},
	}
	for name, tamper := range tests {
		t.Run(name, func(t *testing.T) {
			e, s, rs := setup(t)
			kid, jwks := s.KeyID(), s.JWKS()
			tamper(t, e.st, rs)
			if err := s.Reload(ctx); !errors.Is(err, ErrKeyRecord) {
				t.Fatalf("Reload: err = %v, want ErrKeyRecord", err)
			}
			if s.KeyID() != kid || !bytes.Equal(s.JWKS(), jwks) {
				t.Error("a failed reload changed the keys")
			}
			if _, err := New(ctx, e.config()); !errors.Is(err, ErrKeyRecord) {
				t.Errorf("New: err = %v, want ErrKeyRecord", err)
			}
		})
	}
}

func TestJWKSHandler(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	h := s.JWKSHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	res := rec.Result()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	if !bytes.Equal(rec.Body.Bytes(), s.JWKS()) {
		t.Errorf("body %s", rec.Body)
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET: status %d", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d bytes", rec.Code, rec.Body.Len())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d", rec.Code)
	}

	// A rotation changes the body and the ETag.
	if err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Errorf("after rotation: status %d, etag %s", rec.Code, rec.Header().Get("ETag"))
	}

	// JWKS returns a copy.
	b := s.JWKS()
	b[0] = 'X'
	if s.JWKS()[0] != '{' {
		t.Error("JWKS returned the signer's buffer")
	}
}

// TestClockBehind: a node whose clock is behind the one that made every
// key still signs, with the key the others use.
func TestClockBehind(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	e.clock.Advance(-time.Minute)
	if _, err := s.Sign(testClaims()); err != nil {
		t.Fatal(err)
	}
}

// staleStore answers the first List of keys with none, as a node whose
// read raced another node's first write would see.
type staleStore struct {
	store.Store
	once sync.Once
}

func (s *staleStore) List(ctx context.Context, kind, prefix string) ([]store.Record, error) {
	stale := false
	s.once.Do(func() { stale = kind == KeyKind })
	if stale {
		return nil, nil
	}
	return s.Store.List(ctx, kind, prefix)
}

// TestNewLosesTheRace: a node that finds no key, but loses the Create to a
// node that made one meanwhile, uses that node's key.
func TestNewLosesTheRace(t *testing.T) {
	e := newEnv(t)
	winner := e.signer(t)
	loser, err := New(context.Background(), Config{Store: &staleStore{Store: e.st}, KEK: e.kek, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if loser.KeyID() != winner.KeyID() || len(records(t, e.st)) != 1 {
		t.Errorf("loser signs with %s, winner with %s", loser.KeyID(), winner.KeyID())
	}
}
