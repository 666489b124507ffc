package sigv4

import (
	"crypto/sha256"
	"encoding"
	"hash/maphash"
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
// there, so that a rotated secret never meets a key derived from the old
// one.
//
// It is a 64-bit maphash keyed by a random per-Verifier seed, not a
// cryptographic digest: a SHA-256 of the secret on every request cost more
// than the rest of the cache lookup. Collision resistance against an
// adversary is not needed, because
//   - the secret comes from the trusted KeyStore, never from the request,
//     so no client chooses what is fingerprinted;
//   - the cache key also holds the access key id, so a collision could
//     only confuse two secrets the store has held for the same key id (a
//     secret and its replacement);
//   - the seed is random and never leaves the process, so no collision can
//     be computed in advance; two distinct secrets share a fingerprint
//     with probability about 2^-64.
//
// The fingerprint, like the derived key beside it, is never printed or
// logged.
type fingerprint uint64

func (v *Verifier) fingerprint(s Secret) fingerprint {
	return fingerprint(maphash.String(v.seed, s.v))
}

// macKey is a derived signing key with its HMAC-SHA256 key blocks already
// absorbed: the marshaled SHA-256 states after key^ipad and after
// key^opad, as crypto/hmac keeps them. Resuming from them saves two of the
// six SHA-256 blocks an HMAC of a string to sign costs. It is immutable
// once made, so readers share it without locking.
//
// The key cache maps a SigV4 Credential value to its macKey. Once
// parseCredential has accepted it, "AKID/DATE/REGION/SERVICE/aws4_request"
// stands for all four parts in one string, so a lookup hashes and compares
// one string rather than four. The entry is current only while secret
// matches the fingerprint of the secret the KeyStore returns now; after a
// rotation the key is derived again and replaces the stale one.
type macKey struct {
	secret       fingerprint
	key          [32]byte
	inner, outer []byte
}

func newMACKey(secret fingerprint, key [32]byte) *macKey {
	m := &macKey{secret: secret, key: key}
	var pad [sha256.BlockSize]byte
	for _, p := range [...]struct {
		b   byte
		dst *[]byte
	}{{0x36, &m.inner}, {0x5c, &m.outer}} {
		for i := range pad {
			pad[i] = p.b
		}
		for i, b := range key {
			pad[i] ^= b
		}
		h := sha256.New()
		h.Write(pad[:])
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			// crypto/sha256 digests always marshal (crypto/hmac relies
			// on it too).
			panic(err)
		}
		*p.dst = state
	}
	clear(pad[:])
	return m
}
