package storetest

import (
	"context"
	"sync/atomic"

	"github.com/ztgate/ztgate/internal/store"
)

// Pruned is a store whose first Watch finds the change log pruned past
// the revision asked for, as on a node that fell behind: that
// subscription's first Next returns store.ErrResync. Later watches are
// the store's own. With Hold set, the first Watch waits until Hold is
// closed: changes made meanwhile are lost to the watcher, as a node
// that fell behind loses them.
type Pruned struct {
	store.Store
	Hold    <-chan struct{}
	watches atomic.Int32
}

// Watch is the store's Watch, except the first time.
func (p *Pruned) Watch(after int64) *store.Subscription {
	if p.watches.Add(1) > 1 {
		return p.Store.Watch(after)
	}
	if p.Hold != nil {
		<-p.Hold
	}
	rev, err := p.Store.Revision(context.Background())
	if err != nil {
		panic(err)
	}
	// Changes after after were made, and lost.
	f, err := store.NewFeed(context.Background(), lostChanges{max(rev, after+1)}, store.FeedOptions{})
	if err != nil {
		panic(err)
	}
	return f.Subscribe(after)
}

// Watches is how many times Watch was called.
func (p *Pruned) Watches() int { return int(p.watches.Load()) }

// lostChanges is a change log whose history was pruned.
type lostChanges struct{ rev int64 }

func (l lostChanges) Changes(context.Context, int64, int) ([]store.Change, error) {
	return nil, store.ErrResync
}

func (l lostChanges) Revision(context.Context) (int64, error) { return l.rev, nil }
