package assertion

import (
	"math"
	"reflect"
	"slices"
	"sync"
	"time"
)

// Cached returns an assertion of c for the caller's key (a session id and
// a route, say): the one it returned last for that key while it is less
// than half its lifetime old, signed with the current key, and made from
// the same claims; otherwise a new one, which it keeps. IssuedAt, Expires
// and ID in c are ignored: every assertion Cached makes gets them from the
// clock, the TTL and Rand.
//
// The claims compared are all the others; Device is compared in depth
// through maps of type map[string]any and slices of type []any, and with
// reflect.DeepEqual beyond. Values of other reference types in Device are
// kept, not copied, so changing them after the call is changing the cached
// claims.
//
// At most Config.CacheSize assertions are kept; when the cache is full the
// least recently used half is dropped. A hit takes a lock, a map lookup
// and the comparison, and allocates nothing.
func (s *Signer) Cached(key string, c Claims) (string, error) {
	now := s.clock()
	k := s.keys.Load().signing(now)
	c.IssuedAt, c.Expires, c.ID = time.Time{}, time.Time{}, ""
	if e := s.cache.get(key); e != nil && e.kid == k.kid &&
		!now.Before(e.issued) && now.Before(e.fresh) && sameClaims(&e.claims, &c) {
		return e.token, nil
	}
	given := c
	given.Groups = slices.Clone(c.Groups)
	given.Device, _ = cloneValue(c.Device).(map[string]any)
	tok, err := s.sign(k, &c, now)
	if err != nil {
		return "", err
	}
	// The token holds times to the second; reuse is measured from those.
	issued, expires := time.Unix(c.IssuedAt.Unix(), 0), time.Unix(c.Expires.Unix(), 0)
	s.cache.put(key, &cacheEntry{
		token:  tok,
		kid:    k.kid,
		claims: given,
		issued: issued,
		fresh:  issued.Add(expires.Sub(issued) / 2),
	})
	return tok, nil
}

// cacheEntry is one cached assertion; immutable once made.
type cacheEntry struct {
	token  string
	kid    string
	claims Claims // as given to Cached, times and ID zero
	issued time.Time
	fresh  time.Time // reused before this
}

// cache is two generations of entries: new ones go to cur, and when cur
// holds half the bound it becomes old and the previous old is dropped. A
// hit in old moves to cur. That bounds the entries at max and drops the
// least recently used without per-entry bookkeeping.
type cache struct {
	mu       sync.Mutex
	half     int
	cur, old map[string]*cacheEntry
}

func (c *cache) init(size int) {
	c.half = max(size/2, 1)
	c.cur = make(map[string]*cacheEntry)
}

func (c *cache) get(key string) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.cur[key]; e != nil {
		return e
	}
	e := c.old[key]
	if e != nil {
		delete(c.old, key)
		c.add(key, e)
	}
	return e
}

func (c *cache) put(key string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.old, key)
	c.add(key, e)
}

// add stores e in cur, first turning a full cur into old. The caller
// holds c.mu.
func (c *cache) add(key string, e *cacheEntry) {
	if _, ok := c.cur[key]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]*cacheEntry, c.half)
	}
	c.cur[key] = e
}

// sameClaims compares everything but the times Sign sets and the ID.
func sameClaims(a, b *Claims) bool {
	return a.Subject == b.Subject &&
		a.Audience == b.Audience &&
		a.SessionID == b.SessionID &&
		a.Issuer == b.Issuer &&
		a.PrincipalID == b.PrincipalID &&
		a.Account == b.Account &&
		a.Name == b.Name &&
		a.Email == b.Email &&
		a.Method == b.Method &&
		a.AuthTime.Equal(b.AuthTime) &&
		slices.Equal(a.Groups, b.Groups) &&
		equalMap(a.Device, b.Device)
}

// equalValue compares device values: the JSON types directly, which
// allocates nothing, anything else with reflect.DeepEqual.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case int:
		y, ok := b.(int)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && equalMap(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equalValue)
	}
	return reflect.DeepEqual(a, b)
}

func equalMap(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !equalValue(v, w) {
			return false
		}
	}
	return true
}

// cloneValue copies maps of type map[string]any and slices of type []any,
// in depth; other values are returned as they are.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneValue(e)
		}
		return s
	}
	return v
}
