package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ChangeSource is the change log a Feed follows.
type ChangeSource interface {
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	Revision(ctx context.Context) (int64, error)
}

// FeedOptions tune a Feed; zero values take the defaults.
type FeedOptions struct {
	// Poll is how often the log is read when no wake-up arrives: the
	// safety net for a lost notification. Default 1s.
	Poll time.Duration
	// Window is how many recent changes are kept in memory for
	// subscribers; older positions are read from the log. Default 4096.
	Window int
	// OnError, when set, is told of each failed read of the log.
	OnError func(error)
}

// fetchBatch bounds one read of the change log.
const fetchBatch = 1000

// Feed follows a change log and fans it out to any number of
// subscriptions. Each subscription sees every change after its starting
// position exactly once and in revision order; none can slow the others.
type Feed struct {
	src  ChangeSource
	opts FeedOptions
	wake chan struct{}

	mu     sync.Mutex
	recent []Change      // every change with base < Revision <= head
	base   int64         // recent holds all changes above base
	head   int64         // highest revision read from the log
	signal chan struct{} // closed and replaced when recent grows
	live   bool          // the last read of the log succeeded
	lastOK time.Time
	closed bool

	stop chan struct{}
	done chan struct{}
}

// NewFeed returns a feed over src positioned at its current revision; call
// Run to follow it.
func NewFeed(ctx context.Context, src ChangeSource, opts FeedOptions) (*Feed, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 4096
	}
	head, err := src.Revision(ctx)
	if err != nil {
		return nil, err
	}
	return &Feed{
		src:    src,
		opts:   opts,
		wake:   make(chan struct{}, 1),
		base:   head,
		head:   head,
		signal: make(chan struct{}),
		live:   true,
		lastOK: time.Now(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
}

// Wake asks the feed to read the log now. It never blocks.
func (f *Feed) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run follows the log until Close.
func (f *Feed) Run() {
	defer close(f.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.stop
		cancel()
	}()
	t := time.NewTicker(f.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-f.wake:
		case <-t.C:
		}
		f.fetch(ctx)
	}
}

// Close stops the feed; pending Next calls return ErrClosed.
func (f *Feed) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	close(f.signal)
	f.mu.Unlock()
	close(f.stop)
	<-f.done
}

// Head returns the highest revision the feed has read.
func (f *Feed) Head() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

// Live reports whether the last read of the log succeeded.
func (f *Feed) Live() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live
}

func (f *Feed) fetch(ctx context.Context) {
	for {
		f.mu.Lock()
		head := f.head
		f.mu.Unlock()
		batch, err := f.src.Changes(ctx, head, fetchBatch)
		if errors.Is(err, ErrResync) {
			// The log was pruned past this node's position: changes were
			// lost to it. Restart the window at the current revision;
			// subscribers behind it get ErrResync from the log.
			rev, rerr := f.src.Revision(ctx)
			if rerr == nil {
				f.mu.Lock()
				f.recent, f.base, f.head = nil, rev, rev
				if !f.closed {
					close(f.signal) // waiting subscribers must see the gap
					f.signal = make(chan struct{})
				}
				f.mu.Unlock()
				continue
			}
			err = rerr
		}
		f.mu.Lock()
		if err != nil {
			f.live = false
			f.mu.Unlock()
			if f.opts.OnError != nil && ctx.Err() == nil {
				f.opts.OnError(err)
			}
			return
		}
		f.live, f.lastOK = true, time.Now()
		if len(batch) > 0 {
			f.recent = append(f.recent, batch...)
			f.head = batch[len(batch)-1].Revision
			if over := len(f.recent) - f.opts.Window; over > 0 {
				f.base = f.recent[over-1].Revision
				f.recent = append(f.recent[:0:0], f.recent[over:]...)
			}
			if !f.closed {
				close(f.signal)
				f.signal = make(chan struct{})
			}
		}
		f.mu.Unlock()
		if len(batch) < fetchBatch {
			return
		}
	}
}

// Subscribe follows the feed from revision after: the first change Next
// returns is the first one above it. Use the revision at which a snapshot
// of state was read, so that no change falls between the two.
func (f *Feed) Subscribe(after int64) *Subscription {
	return &Subscription{f: f, after: after}
}

// Subscription is one reader of a feed. It is not safe for concurrent use.
type Subscription struct {
	f       *Feed
	after   int64
	pending []Change
	floor   int64 // once pending drains, every change up to floor was seen
}

// Position returns the revision of the last change returned.
func (s *Subscription) Position() int64 { return s.after }

// Next returns the next change, waiting for one. It returns ErrResync when
// the log no longer holds the next change, ErrClosed after Close, or the
// context's error.
func (s *Subscription) Next(ctx context.Context) (Change, error) {
	f := s.f
	for {
		if len(s.pending) > 0 {
			c := s.pending[0]
			s.pending = s.pending[1:]
			s.after = c.Revision
			return c, nil
		}
		if s.after < s.floor {
			s.after = s.floor
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return Change{}, ErrClosed
		}
		if s.after >= f.base {
			i := sort.Search(len(f.recent), func(i int) bool { return f.recent[i].Revision > s.after })
			if i < len(f.recent) {
				c := f.recent[i]
				f.mu.Unlock()
				s.after = c.Revision
				return c, nil
			}
			sig := f.signal
			f.mu.Unlock()
			select {
			case <-sig:
			case <-ctx.Done():
				return Change{}, ctx.Err()
			}
			continue
		}
		// Behind the in-memory window: read the log itself. Every change
		// up to base was committed before base was read, so a short batch
		// proves there is nothing more up to base.
		base := f.base
		f.mu.Unlock()
		batch, err := f.src.Changes(ctx, s.after, fetchBatch)
		if err != nil {
			return Change{}, err
		}
		s.pending = batch
		if len(batch) < fetchBatch {
			s.floor = base
		}
	}
}

// Follow reads a change feed (watch: a Store's Watch, a Feed's
// Subscribe) until ctx ends, for a view of the store
// kept in memory: from gives the revision the view holds, apply applies
// one change to it (and advances what from gives; a change applied again
// must do no harm), and reload rebuilds it in full when the feed lost
// changes it had not seen (ErrResync). Follow returns nil when ctx ends,
// else the first error of the feed (with name), reload or apply; called
// again, it resumes from where from says.
func Follow(ctx context.Context, watch func(after int64) *Subscription, name string, from func() int64, reload func(context.Context) error, apply func(context.Context, Change) error) error {
	quiet := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	sub := watch(from())
	for {
		c, err := sub.Next(ctx)
		if errors.Is(err, ErrResync) {
			if err := reload(ctx); err != nil {
				return quiet(err)
			}
			sub = watch(from())
			continue
		}
		if err != nil {
			return quiet(fmt.Errorf("%s: follow changes: %w", name, err))
		}
		if err := apply(ctx, c); err != nil {
			return quiet(err)
		}
	}
}
