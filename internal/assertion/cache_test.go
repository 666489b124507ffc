package assertion

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func mustCached(t testing.TB, s *Signer, key string, c Claims) string {
	t.Helper()
	tok, err := s.Cached(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCached(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	key := "sess-1|" + testAudience
	first := mustCached(t, s, key, testClaims())
	if _, err := Verify(first, s.JWKS(), testAudience, e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	// Reused until half the TTL has passed, also for equal claims in new
	// maps and slices, and whatever times and id the caller sets.
	e.clock.Advance(DefaultTTL/2 - time.Second)
	c := testClaims()
	c.IssuedAt, c.Expires, c.ID = testNow.Add(time.Hour), testNow.Add(2*time.Hour), "mine"
	if got := mustCached(t, s, key, c); got != first {
		t.Error("not reused within half the TTL")
	}
	// Another key is another assertion.
	if got := mustCached(t, s, "sess-2|"+testAudience, testClaims()); got == first {
		t.Error("reused across keys")
	}

	e.clock.Advance(time.Second)
	second := mustCached(t, s, key, testClaims())
	if second == first {
		t.Fatal("reused after half the TTL")
	}
	claims, err := Verify(second, s.JWKS(), testAudience, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !claims.IssuedAt.Equal(e.clock.Now()) {
		t.Errorf("new assertion issued at %s", claims.IssuedAt)
	}
	if mustCached(t, s, key, testClaims()) != second {
		t.Error("the new assertion is not cached")
	}
}

func TestCachedResigns(t *testing.T) {
	for name, mod := range map[string]func(*Claims){
		"subject":       func(c *Claims) { c.Subject = "arn:zt:iam::000000000000:user/bob" },
		"audience":      func(c *Claims) { c.Audience = "arn:zt:gateway::000000000000:route/other" },
		"session":       func(c *Claims) { c.SessionID = "sess-2" },
		"group added":   func(c *Claims) { c.Groups = append(c.Groups, "admin") },
		"group removed": func(c *Claims) { c.Groups = c.Groups[:1] },
		"no groups":     func(c *Claims) { c.Groups = nil },
		"device fact":   func(c *Claims) { c.Device["compliant"] = false },
		"device key":    func(c *Claims) { c.Device["extra"] = "x" },
		"device nested": func(c *Claims) { c.Device["os"] = map[string]any{"name": "linux"} },
		"no device":     func(c *Claims) { c.Device = nil },
		"email":         func(c *Claims) { c.Email = "alice@other.example" },
		"method":        func(c *Claims) { c.Method = "mtls" },
		"auth time":     func(c *Claims) { c.AuthTime = c.AuthTime.Add(time.Second) },
		"issuer":        func(c *Claims) { c.Issuer = "node-2" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			s := e.signer(t)
			first := mustCached(t, s, "k", testClaims())
			c := testClaims()
			mod(&c)
			got := mustCached(t, s, "k", c)
			if got == first {
				t.Fatal("reused for different claims")
			}
			// The cache now holds the new claims.
			c2 := testClaims()
			mod(&c2)
			if mustCached(t, s, "k", c2) != got {
				t.Error("the re-signed assertion is not cached")
			}
		})
	}
}

// TestCachedCopiesClaims: changing a slice or map after the call does not
// change what the cache compares with.
func TestCachedCopiesClaims(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	c := testClaims()
	c.Device["os"] = map[string]any{"name": "linux", "tags": []any{"a"}}
	first := mustCached(t, s, "k", c)
	c.Groups[0] = "admin"
	if mustCached(t, s, "k", c) == first {
		t.Error("group changed in place: reused")
	}
	c = testClaims()
	c.Device["os"] = map[string]any{"name": "linux", "tags": []any{"a"}}
	first = mustCached(t, s, "k2", c)
	c.Device["os"].(map[string]any)["tags"].([]any)[0] = "b"
	if mustCached(t, s, "k2", c) == first {
		t.Error("nested device value changed in place: reused")
	}
}

// TestCachedRotation: after a rotation the cache does not hand out
// assertions signed with the old key.
func TestCachedRotation(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t)
	first := mustCached(t, s, "k", testClaims())
	if err := s.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := mustCached(t, s, "k", testClaims())
	if got == first || tokenKid(t, got) != s.KeyID() {
		t.Error("cached assertion of the old key reused after a rotation")
	}
}

func TestCachedBound(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t, func(c *Config) { c.CacheSize = 8 })
	for i := range 100 {
		mustCached(t, s, fmt.Sprint("k", i), testClaims())
		s.cache.mu.Lock()
		n := len(s.cache.cur) + len(s.cache.old)
		s.cache.mu.Unlock()
		if n > 8 {
			t.Fatalf("%d entries, bound 8", n)
		}
	}
	// The most recent survive; a hit keeps an entry alive.
	hot := mustCached(t, s, "hot", testClaims())
	for i := range 100 {
		mustCached(t, s, fmt.Sprint("cold", i), testClaims())
		if mustCached(t, s, "hot", testClaims()) != hot {
			t.Fatalf("a hot entry was dropped after %d others", i)
		}
	}
}

// TestConcurrent signs, caches, rotates, reloads and serves the JWKS at
// once, for the race detector; every assertion must verify.
func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	s := e.signer(t, func(c *Config) { c.CacheSize = 64 })
	ctx := context.Background()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		toks []string
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				var tok string
				var err error
				if g%2 == 0 {
					tok, err = s.Cached(fmt.Sprint("k", i%10), testClaims())
				} else {
					tok, err = s.Sign(testClaims())
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				toks = append(toks, tok)
				mu.Unlock()
				_ = s.JWKS()
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if err := s.Rotate(ctx); err != nil {
				t.Error(err)
			}
			if err := s.Reload(ctx); err != nil {
				t.Error(err)
			}
			if err := s.Maintain(ctx); err != nil {
				t.Error(err)
			}
			e.clock.Advance(time.Second)
		}
	})
	wg.Wait()
	ks, err := ParseJWKS(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 4 {
		t.Errorf("%d keys published after 3 rotations", ks.Len())
	}
	for _, tok := range toks {
		if _, err := ks.Verify(tok, testAudience, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEqualValue(t *testing.T) {
	type fact struct{ N int }
	tests := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{nil, "", false},
		{"a", "a", true},
		{"a", "b", false},
		{true, true, true},
		{true, "true", false},
		{1.5, 1.5, true},
		{1.0, 1, false}, // float64 and int encode alike, but re-signing is the safe side
		{7, 7, true},
		{int64(7), int64(7), true},
		{int64(7), 7, false},
		{map[string]any{"a": []any{1, "x"}}, map[string]any{"a": []any{1, "x"}}, true},
		{map[string]any{"a": []any{1, "x"}}, map[string]any{"a": []any{1, "y"}}, false},
		{map[string]any{"a": 1}, map[string]any{"b": 1}, false},
		{[]any{1}, []any{1, 2}, false},
		{[]string{"a"}, []string{"a"}, true},
		{fact{1}, fact{1}, true},
		{fact{1}, fact{2}, false},
		{&fact{1}, &fact{1}, true},
	}
	for _, tt := range tests {
		if got := equalValue(tt.a, tt.b); got != tt.want {
			t.Errorf("equalValue(%#v, %#v) = %v", tt.a, tt.b, got)
		}
	}
}
