package session

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const alice = "arn:zt:iam::000000000000:user/alice"

// waitFor polls the condition a feed makes true asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationsLoad(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0, Reason: "lost laptop"}); err != nil {
		t.Fatal(err)
	}
	// An earlier time does not bring sessions back.
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "alice", "user/alice"} {
		if _, err := Revoke(ctx, s, bad, Revocation{Before: t0}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Revoke(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// An unreadable record fails closed.
	if _, err := store.Put(ctx, s, RevocationKind, "arn:zt:iam::000000000000:user/bob", []byte("{")); err != nil {
		t.Fatal(err)
	}
	var r Revocations
	if _, ok := r.RevokedBefore(alice); ok {
		t.Fatal("the zero Revocations revokes")
	}
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, ok := r.RevokedBefore(alice); !ok || !got.Equal(t0) {
		t.Fatalf("RevokedBefore(alice) = %v, %v; want %v", got, ok, t0)
	}
	if got, ok := r.RevokedBefore("arn:zt:iam::000000000000:user/bob"); !ok || !got.After(t0.AddDate(100, 0, 0)) {
		t.Fatalf("unreadable revocation: %v, %v", got, ok)
	}
	if _, ok := r.RevokedBefore("arn:zt:iam::000000000000:user/carol"); ok {
		t.Fatal("carol is revoked")
	}
}

func TestRevocationsFollowFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := openStore(t)
	var r Revocations
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "revocation through the feed", func() bool { _, ok := r.RevokedBefore(alice); return ok })
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "later revocation", func() bool { b, _ := r.RevokedBefore(alice); return b.Equal(t0.Add(time.Hour)) })
	if _, err := store.Delete(ctx, s, RevocationKind, alice); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted revocation", func() bool { _, ok := r.RevokedBefore(alice); return !ok })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRevocationsResync(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &storetest.Pruned{Store: openStore(t)}
	var r Revocations
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Written while the node was not following: only a reload finds it.
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "revocation after a resync", func() bool { _, ok := r.RevokedBefore(alice); return ok })
	// And the feed is followed after the reload.
	if _, err := store.Delete(ctx, s, RevocationKind, alice); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted revocation after a resync", func() bool { _, ok := r.RevokedBefore(alice); return !ok })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := s.Watches(); n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
}

func TestRevokedBeforeAllocs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := Revoke(ctx, s, alice, Revocation{Before: t0}); err != nil {
		t.Fatal(err)
	}
	var r Revocations
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		r.RevokedBefore(alice)
		r.RevokedBefore("arn:zt:iam::000000000000:user/carol")
	}); n != 0 {
		t.Fatalf("RevokedBefore allocates %v times", n)
	}
}

func BenchmarkRevokedBefore(b *testing.B) {
	var r Revocations
	m := map[string]time.Time{alice: t0}
	r.m.Store(&m)
	b.ReportAllocs()
	for b.Loop() {
		r.RevokedBefore(alice)
	}
}

func TestLookupTokenRevoked(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	alice := grant.Principal
	clk := &clock{t0.Add(500 * time.Millisecond)}
	tok := New(Config{KEK: newKEK(t), Clock: clk.now})
	bob := grant
	bob.Principal = "arn:zt:iam::000000000000:user/bob"
	old, oldToken, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	var r Revocations
	ks := KeyStore{Tokens: tok, Revoked: &r}
	if _, err := ks.LookupToken(ctx, old.AccessKeyID, oldToken); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	clk.t = t0.Add(2 * time.Second)
	if _, err := Revoke(ctx, s, alice, Revocation{Before: clk.t}); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	_, err = ks.LookupToken(ctx, old.AccessKeyID, oldToken)
	if !errors.Is(err, sigv4.ErrUnknownKey) || !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v, want ErrUnknownKey and ErrRevoked", err)
	}
	clk.t = t0.Add(1 * time.Second)
	other, otherToken, err := tok.Issue(bob)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LookupToken(ctx, other.AccessKeyID, otherToken); err != nil {
		t.Fatalf("another principal's session: %v", err)
	}
	// A session issued after the revocation works.
	clk.t = t0.Add(3 * time.Second)
	fresh, freshToken, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LookupToken(ctx, fresh.AccessKeyID, freshToken); err != nil {
		t.Fatalf("session issued after the revocation: %v", err)
	}
	// Revoke, then issue again within the same second: the new session
	// works, the one issued a moment before the revocation does not.
	clk.t = t0.Add(4*time.Second + 100*time.Millisecond)
	before, beforeToken, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	clk.t = t0.Add(4*time.Second + 200*time.Millisecond)
	if _, err := Revoke(ctx, s, alice, Revocation{Before: clk.t}); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	clk.t = t0.Add(4*time.Second + 300*time.Millisecond)
	after, afterToken, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.LookupToken(ctx, before.AccessKeyID, beforeToken); !errors.Is(err, ErrRevoked) {
		t.Fatalf("issued 100 ms before the revocation: %v", err)
	}
	if _, err := ks.LookupToken(ctx, after.AccessKeyID, afterToken); err != nil {
		t.Fatalf("issued 100 ms after the revocation, in the same second: %v", err)
	}
}
