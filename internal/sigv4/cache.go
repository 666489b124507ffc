package sigv4

import (
	"crypto/sha256"
	"sync"
)

// defaultCacheSize bounds each derived-key cache. A signing key is valid
// for one day, so this covers a thousand active (key, region, service)
// triples without re-deriving.
const defaultCacheSize = 1024

// boundedCache is a map with a hard size limit. When full it evicts an
// arbitrary entry (Go's map iteration order is randomised), which keeps it
// bounded under a flood of distinct keys at no bookkeeping cost.
type boundedCache[K comparable, V any] struct {
	mu  sync.RWMutex
	max int
	m   map[K]V
}

func newBoundedCache[K comparable, V any](max int) *boundedCache[K, V] {
	if max <= 0 {
		max = defaultCacheSize
	}
	return &boundedCache[K, V]{max: max, m: make(map[K]V)}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *boundedCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

func (c *boundedCache[K, V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// fingerprint identifies a secret in cache keys without keeping the secret
// there, so a rotated secret never meets a key derived from the old one.
type fingerprint [sha256.Size]byte

func secretFingerprint(s Secret) fingerprint {
	// Copy into a stack buffer: converting the string to []byte for
	// sha256.Sum256 would allocate for secrets longer than 32 bytes.
	var buf [128]byte
	if len(s.v) <= len(buf) {
		n := copy(buf[:], s.v)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(s.v))
}

type signingKeyID struct {
	accessKeyID, date, region, service string
	secret                             fingerprint
}
