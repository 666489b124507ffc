package iam

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

// countingStore counts the reads of access keys, and says its feed is
// down when told.
type countingStore struct {
	store.Store
	keyReads atomic.Int64
	down     atomic.Bool
}

func (s *countingStore) Live() bool { return !s.down.Load() }

func (s *countingStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	if kind == KindAccessKey {
		s.keyReads.Add(1)
	}
	return s.Store.Get(ctx, kind, key)
}

// runKeys starts d.Run and waits until the cache serves.
func runKeys(t *testing.T, d *Directory) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		d.keys.mu.RLock()
		on := d.keys.on
		d.keys.mu.RUnlock()
		if on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the key cache did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLookup waits until looking up key fails with want: a change made
// through another node has reached d's cache.
func waitLookup(t *testing.T, d *Directory, key string, want error, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, err := d.Lookup(context.Background(), key)
		if errors.Is(err, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the cache: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeyCache: while Run follows the feed, a key is read from the store
// once; the directory's own writes take effect on the next lookup; a
// change written by another node (straight to the store) reaches the
// cache through the feed; without Run every lookup reads the store.
func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	_, st, kek := newDirectory(t)
	cs := &countingStore{Store: st}
	d := New(Config{Store: cs, KEK: kek, Account: "111122223333"})
	if _, err := d.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	k, sec, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	// Without Run: the store each time.
	for range 2 {
		if c, err := d.Lookup(ctx, k.ID); err != nil || c.Secret.Reveal() != sec.Reveal() {
			t.Fatal(err)
		}
	}
	if n := cs.keyReads.Load(); n != 2 {
		t.Fatalf("%d key reads without the cache, want 2", n)
	}

	runKeys(t, d)
	cs.keyReads.Store(0)
	for range 5 {
		if c, err := d.Lookup(ctx, k.ID); err != nil || c.Secret.Reveal() != sec.Reveal() {
			t.Fatal(err)
		}
		if u, err := d.UserOfKey(ctx, k.ID); err != nil || u.Name != "alice" {
			t.Fatal(u, err)
		}
	}
	if n := cs.keyReads.Load(); n != 1 {
		t.Fatalf("%d key reads with the cache, want 1", n)
	}

	// A store whose feed is down: every lookup reads the store.
	cs.down.Store(true)
	cs.keyReads.Store(0)
	for range 3 {
		if _, err := d.Lookup(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.keyReads.Load(); n != 3 {
		t.Fatalf("%d key reads with the feed down, want 3", n)
	}
	cs.down.Store(false)

	// Own writes: at once.
	if err := d.UpdateAccessKey(ctx, "alice", k.ID, Inactive); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(ctx, k.ID); !errors.Is(err, sigv4.ErrKeyDisabled) {
		t.Fatalf("after deactivation: %v", err)
	}
	if err := d.UpdateAccessKey(ctx, "alice", k.ID, Active); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(ctx, k.ID); err != nil {
		t.Fatalf("after reactivation: %v", err)
	}
	if err := d.TagUser(ctx, "alice", []Tag{{Key: "team", Value: "blue"}}); err != nil {
		t.Fatal(err)
	}
	if u, err := d.UserOfKey(ctx, k.ID); err != nil || len(u.Tags) != 1 || u.Tags[0].Value != "blue" {
		t.Fatalf("tags after TagUser: %+v %v", u, err)
	}

	// Another node's write, straight to the store: through the feed.
	other := New(Config{Store: st, KEK: kek, Account: "111122223333"})
	if err := other.UpdateAccessKey(ctx, "alice", k.ID, Inactive); err != nil {
		t.Fatal(err)
	}
	waitLookup(t, d, k.ID, sigv4.ErrKeyDisabled, "another node's deactivation")
	if err := other.DeleteAccessKey(ctx, "alice", k.ID); err != nil {
		t.Fatal(err)
	}
	waitLookup(t, d, k.ID, sigv4.ErrUnknownKey, "another node's deletion")
}

// TestKeyCacheStaleRead: a read that started before a drop is not kept.
func TestKeyCacheStaleRead(t *testing.T) {
	var c keyCache
	c.enable(true)
	gen := c.generation()
	c.drop("AKIAEXAMPLE")
	c.put("AKIAEXAMPLE", cachedKey{status: Active}, gen)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := c.get("AKIAEXAMPLE", now); ok {
		t.Fatal("a read from before a drop was kept")
	}
	c.put("AKIAEXAMPLE", cachedKey{status: Active, at: now}, c.generation())
	if _, ok := c.get("AKIAEXAMPLE", now.Add(time.Second)); !ok {
		t.Fatal("a current read was not kept")
	}
	if _, ok := c.get("AKIAEXAMPLE", now.Add(KeyCacheTTL)); ok {
		t.Fatal("a read older than KeyCacheTTL was served")
	}
	c.enable(false)
	if _, ok := c.get("AKIAEXAMPLE", now.Add(time.Second)); ok {
		t.Fatal("the cache served while off")
	}
}

// TestKeyCacheResync: a node whose feed lost changes forgets every
// cached key and follows on from the current revision: a deactivation it
// missed takes effect at the resync, and one made after it through the
// feed.
func TestKeyCacheResync(t *testing.T) {
	ctx := context.Background()
	_, st, kek := newDirectory(t)
	hold := make(chan struct{})
	ps := &storetest.Pruned{Store: st, Hold: hold}
	d := New(Config{Store: ps, KEK: kek, Account: "111122223333"})
	if _, err := d.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	k, _, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	runKeys(t, d)
	for _, id := range []string{k.ID, k2.ID} {
		if _, err := d.Lookup(ctx, id); err != nil { // cached now
			t.Fatal(err)
		}
	}
	// Another node deactivates the key while this one's feed is behind:
	// the change never reaches it through the feed.
	other := New(Config{Store: st, KEK: kek, Account: "111122223333"})
	if err := other.UpdateAccessKey(ctx, "alice", k.ID, Inactive); err != nil {
		t.Fatal(err)
	}
	close(hold)
	waitLookup(t, d, k.ID, sigv4.ErrKeyDisabled, "a deactivation the feed lost, at the resync")
	if err := other.UpdateAccessKey(ctx, "alice", k2.ID, Inactive); err != nil {
		t.Fatal(err)
	}
	waitLookup(t, d, k2.ID, sigv4.ErrKeyDisabled, "another node's deactivation after a resync")
	if n := ps.Watches(); n != 2 {
		t.Fatalf("%d watches, want 2", n)
	}
}
