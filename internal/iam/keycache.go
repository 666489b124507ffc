package iam

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
)

// keyCache holds opened access keys with their users, so that a signed
// request is verified without reading the store or unsealing a secret. It
// serves only while [Directory.Run] follows the change feed, which drops
// what changed; the directory's own writes drop it at once.
type keyCache struct {
	mu   sync.RWMutex
	on   bool
	gen  uint64 // bumped by every drop: a read that started before one is not kept
	keys map[string]cachedKey
}

type cachedKey struct {
	creds  sigv4.Credentials
	status Status
	user   User
	at     time.Time // when it was read from the store
}

// maxCachedKeys bounds the cache; past it, it starts again empty.
const maxCachedKeys = 100_000

// KeyCacheTTL bounds how long an opened key is served from memory without
// reading the store again: a backstop for a change feed that stalls
// without failing, after which another node's deactivation would
// otherwise never arrive.
const KeyCacheTTL = 30 * time.Second

func (c *keyCache) get(id string, now time.Time) (cachedKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[id]
	return k, ok && c.on && now.Sub(k.at) < KeyCacheTTL && !now.Before(k.at)
}

// generation is the value put must be given for its entry to be kept.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *keyCache) put(id string, k cachedKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || gen != c.gen {
		return
	}
	if len(c.keys) >= maxCachedKeys {
		clear(c.keys)
	}
	c.keys[id] = k
}

// drop forgets one key, or every key when id is "".
func (c *keyCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		clear(c.keys)
	} else {
		delete(c.keys, id)
	}
}

func (c *keyCache) enable(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = on
	c.gen++
	if c.keys == nil {
		c.keys = map[string]cachedKey{}
	}
	clear(c.keys)
}

// Run keeps the access-key cache in step with the store until ctx ends:
// while it runs, signed requests are verified from memory. A change to
// an access key drops that key; a change to any user drops every key
// (their users' tags may have changed). Changes made through another node
// reach this one in the time the change feed takes (milliseconds); while
// the store reports its feed down, and past KeyCacheTTL, keys are read
// from the store again.
func (d *Directory) Run(ctx context.Context) error {
	rev, err := d.store.Revision(ctx)
	if err != nil {
		return fmt.Errorf("iam: access keys: %w", err)
	}
	d.keys.enable(true)
	defer d.keys.enable(false)
	// Changes were missed: follow on from now, forgetting everything (a
	// read kept after the drop saw at least this revision, whose later
	// changes the new watch delivers).
	reload := func(ctx context.Context) error {
		r, err := d.store.Revision(ctx)
		if err != nil {
			return fmt.Errorf("iam: access keys: %w", err)
		}
		rev = r
		d.keys.drop("")
		return nil
	}
	return store.Follow(ctx, d.store.Watch, "iam: access keys", func() int64 { return rev }, reload, func(_ context.Context, c store.Change) error {
		switch c.Kind {
		case KindAccessKey:
			d.keys.drop(c.Key)
		case KindUser:
			d.keys.drop("")
		}
		return nil
	})
}

// liveness is what a store that follows its change log live reports: a
// node whose feed is down must not trust what the feed would have
// invalidated.
type liveness interface{ Live() bool }

// openKey reads an access key, its secret and its user from the store,
// and keeps them when the cache is on and nothing changed meanwhile. The
// cache serves only while the store's change feed is live.
func (d *Directory) openKey(ctx context.Context, accessKeyID string) (cachedKey, error) {
	now := d.clock()
	live := true
	if l, ok := d.store.(liveness); ok {
		live = l.Live()
	}
	if live {
		if k, ok := d.keys.get(accessKeyID, now); ok {
			return k, nil
		}
	}
	gen := d.keys.generation()
	_, rec, err := getKey(ctx, d.store, accessKeyID)
	if err != nil {
		return cachedKey{}, err
	}
	k := cachedKey{status: rec.Status, at: now}
	if rec.Status == Active {
		plain, err := openSecret(d, rec)
		if err != nil {
			return cachedKey{}, err
		}
		k.creds = sigv4.Credentials{AccessKeyID: accessKeyID, Secret: sigv4.NewSecret(string(plain))}
	}
	if k.user, err = d.GetUser(ctx, rec.User); err != nil {
		return cachedKey{}, err
	}
	if live {
		d.keys.put(accessKeyID, k, gen)
	}
	return k, nil
}

// update runs fn in a store transaction, as store.Update does, and once
// it has committed drops from the access-key cache what it wrote: the
// directory's own changes take effect on this node's next request, not
// only when the change feed brings them back.
func (d *Directory) update(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	var t touchTx
	rev, err := d.store.Update(ctx, func(tx store.Tx) error {
		t = touchTx{Tx: tx}
		return fn(&t)
	})
	if err == nil {
		switch {
		case t.users:
			d.keys.drop("")
		default:
			for _, id := range t.keys {
				d.keys.drop(id)
			}
		}
	}
	return rev, err
}

// touchTx notes the users and access keys a transaction writes.
type touchTx struct {
	store.Tx
	users bool
	keys  []string
}

func (t *touchTx) touch(kind, key string) {
	switch kind {
	case KindUser:
		t.users = true
	case KindAccessKey:
		t.keys = append(t.keys, key)
	}
}

func (t *touchTx) Put(ctx context.Context, kind, key string, value []byte) (int64, error) {
	t.touch(kind, key)
	return t.Tx.Put(ctx, kind, key, value)
}

func (t *touchTx) Create(ctx context.Context, kind, key string, value []byte) (int64, error) {
	t.touch(kind, key)
	return t.Tx.Create(ctx, kind, key, value)
}

func (t *touchTx) Replace(ctx context.Context, kind, key string, value []byte, expected int64) (int64, error) {
	t.touch(kind, key)
	return t.Tx.Replace(ctx, kind, key, value, expected)
}

func (t *touchTx) Delete(ctx context.Context, kind, key string) (int64, error) {
	t.touch(kind, key)
	return t.Tx.Delete(ctx, kind, key)
}
