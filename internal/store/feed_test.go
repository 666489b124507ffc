package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeLog is an in-memory change log with a prune mark.
type fakeLog struct {
	mu      sync.Mutex
	changes []Change
	pruned  int64
	rev     int64
	fail    error
}

func (l *fakeLog) add(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < n; i++ {
		l.rev++
		l.changes = append(l.changes, Change{Revision: l.rev, Kind: "k", Key: "x", Op: OpPut})
	}
}

func (l *fakeLog) prune(through int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keep []Change
	for _, c := range l.changes {
		if c.Revision > through {
			keep = append(keep, c)
		}
	}
	l.changes, l.pruned = keep, through
}

func (l *fakeLog) Changes(_ context.Context, after int64, limit int) ([]Change, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	if after < l.pruned {
		return nil, ErrResync
	}
	var out []Change
	for _, c := range l.changes {
		if c.Revision > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (l *fakeLog) Revision(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev, nil
}

func newFeed(t *testing.T, l *fakeLog, window int) *Feed {
	t.Helper()
	f, err := NewFeed(context.Background(), l, FeedOptions{Poll: time.Hour, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	go f.Run()
	t.Cleanup(f.Close)
	return f
}

func expect(t *testing.T, s *Subscription, from, to int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for want := from; want <= to; want++ {
		c, err := s.Next(ctx)
		if err != nil || c.Revision != want {
			t.Fatalf("got %d %v, want %d", c.Revision, err, want)
		}
	}
}

func TestFeedWindow(t *testing.T) {
	l := &fakeLog{}
	f := newFeed(t, l, 10)
	early := f.Subscribe(0)
	// Far more changes than the window, and more than one fetch batch:
	// the early subscriber falls behind the window and must read the log.
	l.add(2500)
	f.Wake()
	expect(t, early, 1, 2500)
	late := f.Subscribe(2495)
	expect(t, late, 2496, 2500)
	l.add(3)
	f.Wake()
	expect(t, early, 2501, 2503)
	expect(t, late, 2501, 2503)
	if f.Head() != 2503 {
		t.Fatalf("head %d", f.Head())
	}
}

func TestFeedResync(t *testing.T) {
	l := &fakeLog{}
	l.add(5)
	f := newFeed(t, l, 100)
	s := f.Subscribe(5)
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	// Changes this node never read are pruned away.
	l.add(5)
	l.prune(8)
	f.Wake()
	select {
	case err := <-done:
		if !errors.Is(err, ErrResync) {
			t.Fatalf("Next: %v, want ErrResync", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting subscriber not told of the gap")
	}
	// A new subscriber from the current revision follows on.
	s2 := f.Subscribe(10)
	l.add(1)
	f.Wake()
	expect(t, s2, 11, 11)
}

func TestFeedLiveness(t *testing.T) {
	l := &fakeLog{}
	var mu sync.Mutex
	var seen []error
	f, _ := NewFeed(context.Background(), l, FeedOptions{Poll: 10 * time.Millisecond, OnError: func(err error) {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
	}})
	go f.Run()
	defer f.Close()
	down := errors.New("down")
	l.mu.Lock()
	l.fail = down
	l.mu.Unlock()
	waitFor(t, func() bool { return !f.Live() })
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()
	waitFor(t, f.Live)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || !errors.Is(seen[0], down) {
		t.Fatalf("errors reported: %v", seen)
	}
}

func TestFeedClose(t *testing.T) {
	f := newFeed(t, &fakeLog{}, 10)
	s := f.Subscribe(0)
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	f.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollow: each change is applied once and the position moves on; a
// gap reloads in full and follows on from the reloaded position; an
// apply error stops it; the end of ctx is no error.
func TestFollow(t *testing.T) {
	l := &fakeLog{}
	f := newFeed(t, l, 100)
	var (
		mu              sync.Mutex
		pos             int64
		applied, reload int
	)
	from := func() int64 { mu.Lock(); defer mu.Unlock(); return pos }
	boom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, f.Subscribe, "test", from, func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			reload++
			pos = l.rev
			return nil
		}, func(_ context.Context, c Change) error {
			mu.Lock()
			defer mu.Unlock()
			if c.Key == "boom" {
				return boom
			}
			applied++
			pos = c.Revision
			return nil
		})
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			mu.Lock()
			done := ok()
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: applied %d, reloads %d, pos %d", what, applied, reload, pos)
			}
			f.Wake()
			time.Sleep(5 * time.Millisecond)
		}
	}
	l.add(3)
	waitFor("three changes", func() bool { return applied == 3 && pos == 3 })
	// Changes never seen are pruned: a reload, then on from there.
	l.mu.Lock()
	l.rev += 5 // five changes written and pruned before this node read them
	l.mu.Unlock()
	l.prune(8)
	f.Wake()
	waitFor("a reload", func() bool { return reload == 1 && pos == 8 })
	l.add(1)
	waitFor("the change after the reload", func() bool { return applied == 4 && pos == 9 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow after ctx ended: %v", err)
	}
	// An apply error is returned, and names nothing it was not given.
	l.mu.Lock()
	l.rev++
	l.changes = append(l.changes, Change{Revision: l.rev, Kind: "k", Key: "boom", Op: OpPut})
	l.mu.Unlock()
	f.Wake()
	err := Follow(context.Background(), f.Subscribe, "test", from, nil, func(_ context.Context, c Change) error {
		if c.Key == "boom" {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("apply error: %v", err)
	}
}
