// Package storetest is the conformance suite every store backend passes:
// records, transactions, concurrent writers and the change feed. Backends
// run it from their own tests with a function that opens a fresh, empty
// store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Opener returns a new, empty store that the suite closes.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CRUD", testCRUD},
		{"Names", testNames},
		{"List", testList},
		{"Create", testCreate},
		{"Replace", testReplace},
		{"Rollback", testRollback},
		{"Atomic", testAtomic},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Feed", testFeed},
		{"FeedFromPast", testFeedFromPast},
		{"FeedConcurrent", testFeedConcurrent},
		{"Prune", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func testCRUD(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Get(c, "policy", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: got %v, want ErrNotFound", err)
	}
	rev1, err := store.Put(c, s, "policy", "p1", []byte(`{"v":1}`))
	if err != nil || rev1 <= 0 {
		t.Fatalf("Put: rev %d, err %v", rev1, err)
	}
	r, err := s.Get(c, "policy", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Value) != `{"v":1}` || r.Revision != rev1 || r.Kind != "policy" || r.Key != "p1" {
		t.Fatalf("Get: %+v", r)
	}
	if r.Created.IsZero() || r.Updated.Before(r.Created) {
		t.Fatalf("timestamps: %+v", r)
	}
	rev2, err := store.Put(c, s, "policy", "p1", []byte(`{"v":2}`))
	if err != nil || rev2 <= rev1 {
		t.Fatalf("second Put: rev %d after %d, err %v", rev2, rev1, err)
	}
	r2, _ := s.Get(c, "policy", "p1")
	if string(r2.Value) != `{"v":2}` || r2.Revision != rev2 || !r2.Created.Equal(r.Created) {
		t.Fatalf("after update: %+v (created was %v)", r2, r.Created)
	}
	// Same key under another kind is another record.
	if _, err := store.Put(c, s, "device", "p1", []byte("d")); err != nil {
		t.Fatal(err)
	}
	// Binary values survive intact, empty ones too.
	bin := []byte{0, 1, 2, 255, 254, 0}
	if _, err := store.Put(c, s, "blob", "b", bin); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(c, "blob", "b"); !bytes.Equal(r.Value, bin) {
		t.Fatalf("binary value: %v", r.Value)
	}
	if _, err := store.Put(c, s, "blob", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(c, "blob", "empty"); err != nil || len(r.Value) != 0 {
		t.Fatalf("empty value: %v %v", r.Value, err)
	}
	rev3, err := store.Delete(c, s, "policy", "p1")
	if err != nil || rev3 <= rev2 {
		t.Fatalf("Delete: rev %d, err %v", rev3, err)
	}
	if _, err := s.Get(c, "policy", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
	if _, err := store.Delete(c, s, "policy", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if r, err := s.Get(c, "device", "p1"); err != nil || string(r.Value) != "d" {
		t.Fatalf("other kind disturbed: %+v %v", r, err)
	}
	head, err := s.Revision(c)
	if err != nil || head < rev3 {
		t.Fatalf("Revision: %d, %v; last write %d", head, err, rev3)
	}
}

func testNames(t *testing.T, s store.Store) {
	c := ctx(t)
	bad := []struct{ kind, key string }{
		{"", "k"}, {"k", ""}, {"k", "a\x00b"}, {"k", "\xff\xfe"},
		{strings.Repeat("k", store.MaxKindLen+1), "k"}, {"k", strings.Repeat("x", store.MaxKeyLen+1)},
	}
	for _, b := range bad {
		if _, err := store.Put(c, s, b.kind, b.key, []byte("v")); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Put(%q, %q): %v, want ErrInvalid", b.kind, b.key, err)
		}
		if _, err := s.Get(c, b.kind, b.key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Get(%q, %q): %v, want ErrInvalid", b.kind, b.key, err)
		}
	}
	// Characters with meaning to SQL or to LIKE are plain text here.
	for _, key := range []string{"a'b", `a"b`, "a%", "a_b", `a\b`, "ünï/çødé", "arn:zt:iam::123:role/x*"} {
		if _, err := store.Put(c, s, "odd", key, []byte(key)); err != nil {
			t.Fatalf("Put %q: %v", key, err)
		}
		if r, err := s.Get(c, "odd", key); err != nil || string(r.Value) != key {
			t.Fatalf("Get %q: %+v %v", key, r, err)
		}
	}
}

func testList(t *testing.T, s store.Store) {
	c := ctx(t)
	keys := []string{"user/bob", "user/alice", "role/admin", "user%x", "user_y", "User/carol", "user/ålice"}
	for _, k := range keys {
		if _, err := store.Put(c, s, "iam", k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	store.Put(c, s, "other", "user/zed", nil)
	got := func(prefix string) string {
		rs, err := s.List(c, "iam", prefix)
		if err != nil {
			t.Fatalf("List %q: %v", prefix, err)
		}
		var ks []string
		for _, r := range rs {
			if r.Kind != "iam" || string(r.Value) != r.Key {
				t.Fatalf("List %q: bad record %+v", prefix, r)
			}
			ks = append(ks, r.Key)
		}
		return strings.Join(ks, ",")
	}
	cases := map[string]string{
		"user/": "user/alice,user/bob,user/ålice",
		"":      "User/carol,role/admin,user%x,user/alice,user/bob,user/ålice,user_y",
		"user%": "user%x",
		"user_": "user_y",
		"nope":  "",
		"User":  "User/carol",
	}
	for prefix, want := range cases {
		if g := got(prefix); g != want {
			t.Errorf("List(%q) = %q, want %q", prefix, g, want)
		}
	}
}

func testCreate(t *testing.T, s store.Store) {
	c := ctx(t)
	create := func(v string) error {
		_, err := s.Update(c, func(tx store.Tx) error {
			_, err := tx.Create(c, "token", "t1", []byte(v))
			return err
		})
		return err
	}
	if err := create("first"); err != nil {
		t.Fatal(err)
	}
	if err := create("second"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if r, _ := s.Get(c, "token", "t1"); string(r.Value) != "first" {
		t.Fatalf("value overwritten: %q", r.Value)
	}
}

func testReplace(t *testing.T, s store.Store) {
	c := ctx(t)
	rev, _ := store.Put(c, s, "cfg", "k", []byte("a"))
	replace := func(v string, expected int64) (int64, error) {
		return s.Update(c, func(tx store.Tx) error {
			_, err := tx.Replace(c, "cfg", "k", []byte(v), expected)
			return err
		})
	}
	rev2, err := replace("b", rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replace("c", rev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale Replace: %v, want ErrConflict", err)
	}
	if r, _ := s.Get(c, "cfg", "k"); string(r.Value) != "b" || r.Revision != rev2 {
		t.Fatalf("after conflict: %+v", r)
	}
	store.Delete(c, s, "cfg", "k")
	if _, err := replace("d", rev2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Replace of deleted: %v, want ErrNotFound", err)
	}
}

var errAbort = errors.New("abort")

func testRollback(t *testing.T, s store.Store) {
	c := ctx(t)
	store.Put(c, s, "acct", "a", []byte("100"))
	before, _ := s.Revision(c)
	_, err := s.Update(c, func(tx store.Tx) error {
		if _, err := tx.Put(c, "acct", "a", []byte("0")); err != nil {
			return err
		}
		if _, err := tx.Put(c, "acct", "b", []byte("100")); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if r, err := tx.Get(c, "acct", "b"); err != nil || string(r.Value) != "100" {
			return fmt.Errorf("read own write: %+v %v", r, err)
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update: %v, want the function's error", err)
	}
	if r, _ := s.Get(c, "acct", "a"); string(r.Value) != "100" {
		t.Fatalf("rolled-back write visible: %q", r.Value)
	}
	if _, err := s.Get(c, "acct", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back create visible: %v", err)
	}
	after, _ := s.Revision(c)
	if after != before {
		t.Fatalf("revision moved by a rolled-back transaction: %d -> %d", before, after)
	}
	ch, err := s.Changes(c, before, 100)
	if err != nil || len(ch) != 0 {
		t.Fatalf("changes from a rolled-back transaction: %v %v", ch, err)
	}
	// A panic in the function rolls back too.
	func() {
		defer func() { recover() }()
		s.Update(c, func(tx store.Tx) error {
			tx.Put(c, "acct", "a", []byte("panic"))
			panic("boom")
		})
	}()
	if r, _ := s.Get(c, "acct", "a"); string(r.Value) != "100" {
		t.Fatalf("write of a panicking transaction visible: %q", r.Value)
	}
}

func testAtomic(t *testing.T, s store.Store) {
	c := ctx(t)
	rev, err := s.Update(c, func(tx store.Tx) error {
		for i := 0; i < 10; i++ {
			if _, err := tx.Put(c, "batch", fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := s.List(c, "batch", "")
	if len(rs) != 10 {
		t.Fatalf("%d records, want 10", len(rs))
	}
	ch, _ := s.Changes(c, 0, 100)
	if len(ch) != 10 || ch[9].Revision != rev {
		t.Fatalf("changes: %d, last %v; Update returned %d", len(ch), ch, rev)
	}
	for i, x := range ch {
		if x.Kind != "batch" || x.Key != fmt.Sprintf("k%02d", i) || x.Op != store.OpPut || x.Node == "" || x.Time.IsZero() {
			t.Fatalf("change %d: %+v", i, x)
		}
		if i > 0 && x.Revision <= ch[i-1].Revision {
			t.Fatalf("revisions not increasing: %v", ch)
		}
	}
}

// testConcurrentWriters runs read-modify-write increments from many
// goroutines with optimistic concurrency: no increment may be lost, and the
// change log must hold each write once, in order.
func testConcurrentWriters(t *testing.T, s store.Store) {
	c := ctx(t)
	const workers, each = 8, 15
	store.Put(c, s, "counter", "n", []byte("0"))
	start, _ := s.Revision(c)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					_, err := s.Update(c, func(tx store.Tx) error {
						r, err := tx.Get(c, "counter", "n")
						if err != nil {
							return err
						}
						var n int
						fmt.Sscan(string(r.Value), &n)
						_, err = tx.Replace(c, "counter", "n", []byte(fmt.Sprint(n+1)), r.Revision)
						return err
					})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, _ := s.Get(c, "counter", "n")
	if string(r.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d: increments were lost", r.Value, workers*each)
	}
	ch, err := s.Changes(c, start, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != workers*each {
		t.Fatalf("%d changes, want %d", len(ch), workers*each)
	}
	for i := 1; i < len(ch); i++ {
		if ch[i].Revision <= ch[i-1].Revision {
			t.Fatalf("change log out of order at %d: %d after %d", i, ch[i].Revision, ch[i-1].Revision)
		}
	}
}

func testFeed(t *testing.T, s store.Store) {
	c := ctx(t)
	start, _ := s.Revision(c)
	sub := s.Watch(start)
	got := make(chan store.Change, 10)
	go func() {
		for {
			ch, err := sub.Next(c)
			if err != nil {
				close(got)
				return
			}
			got <- ch
		}
	}()
	rev1, _ := store.Put(c, s, "revocation", "serial-1", []byte("x"))
	rev2, _ := store.Delete(c, s, "revocation", "serial-1")
	for i, want := range []store.Change{
		{Revision: rev1, Kind: "revocation", Key: "serial-1", Op: store.OpPut},
		{Revision: rev2, Kind: "revocation", Key: "serial-1", Op: store.OpDelete},
	} {
		select {
		case ch := <-got:
			if ch.Revision != want.Revision || ch.Kind != want.Kind || ch.Key != want.Key || ch.Op != want.Op {
				t.Fatalf("change %d: got %+v, want %+v", i, ch, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("change %d not delivered", i)
		}
	}
	// A subscriber that is not reading does not hold others back, and a
	// waiting Next returns when its context ends.
	idle := s.Watch(rev2)
	short, cancel := context.WithTimeout(c, 50*time.Millisecond)
	defer cancel()
	if _, err := idle.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet feed: %v", err)
	}
}

func testFeedFromPast(t *testing.T, s store.Store) {
	c := ctx(t)
	var revs []int64
	for i := 0; i < 30; i++ {
		rev, err := store.Put(c, s, "k", fmt.Sprint(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	// Starting from revision 0 replays the whole log, then follows it.
	sub := s.Watch(0)
	for i, want := range revs {
		ch, err := sub.Next(c)
		if err != nil || ch.Revision != want {
			t.Fatalf("replay %d: got %+v %v, want revision %d", i, ch, err, want)
		}
	}
	rev, _ := store.Put(c, s, "k", "live", nil)
	if ch, err := sub.Next(c); err != nil || ch.Revision != rev {
		t.Fatalf("after replay: %+v %v, want %d", ch, err, rev)
	}
}

func testFeedConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	start, _ := s.Revision(c)
	const writers, each = 4, 25
	subs := []*store.Subscription{s.Watch(start), s.Watch(start)}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := store.Put(c, s, "w", fmt.Sprintf("%d-%d", w, i), nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for _, sub := range subs {
		seen := map[string]bool{}
		var last int64
		for len(seen) < writers*each {
			ch, err := sub.Next(c)
			if err != nil {
				t.Fatalf("after %d changes: %v", len(seen), err)
			}
			if ch.Revision <= last || seen[ch.Key] {
				t.Fatalf("change %+v out of order or repeated (last %d)", ch, last)
			}
			last = ch.Revision
			seen[ch.Key] = true
		}
	}
	wg.Wait()
}

func testPrune(t *testing.T, s store.Store) {
	c := ctx(t)
	var revs []int64
	for i := 0; i < 5; i++ {
		rev, _ := store.Put(c, s, "p", fmt.Sprint(i), nil)
		revs = append(revs, rev)
	}
	if err := s.Prune(c, revs[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Changes(c, revs[0], 10); !errors.Is(err, store.ErrResync) {
		t.Fatalf("Changes behind the prune mark: %v, want ErrResync", err)
	}
	ch, err := s.Changes(c, revs[2], 10)
	if err != nil || len(ch) != 2 || ch[0].Revision != revs[3] {
		t.Fatalf("Changes after the prune mark: %v %v", ch, err)
	}
	// A subscription behind the mark either still gets every change (from
	// a node's memory) or is told to reload; it never skips one.
	sub := s.Watch(revs[0])
	for _, want := range revs[1:] {
		ch, err := sub.Next(c)
		if errors.Is(err, store.ErrResync) {
			break
		}
		if err != nil || ch.Revision != want {
			t.Fatalf("subscription behind the prune mark: %+v %v, want %d or ErrResync", ch, err, want)
		}
	}
	// Records themselves are untouched.
	if rs, _ := s.List(c, "p", ""); len(rs) != 5 {
		t.Fatalf("%d records after prune, want 5", len(rs))
	}
}
