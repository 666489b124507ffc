package serve

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/testkit"
	"github.com/ztgate/ztgate/internal/webidentity"
)

// countingWeb verifies "good-*" tokens (valid for an hour from start)
// and counts its verifications.
type countingWeb struct {
	start time.Time
	calls atomic.Int64
}

func (w *countingWeb) Verify(_ context.Context, tok string) (*webidentity.Token, error) {
	w.calls.Add(1)
	switch tok {
	case "good-1", "good-2":
		return &webidentity.Token{Provider: "issuer.example", Subject: tok, IssuedAt: w.start, Expires: w.start.Add(time.Hour)}, nil
	case "short":
		return &webidentity.Token{Provider: "issuer.example", Subject: tok, IssuedAt: w.start, Expires: w.start.Add(time.Minute)}, nil
	}
	return nil, errors.New("bad token")
}

// TestJWTCache: a bearer token is verified once, then trusted from memory
// until it expires or for jwtCacheTTL; a bad token is verified (and
// refused) every time; the identity is the token's whatever the cache.
func TestJWTCache(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := testkit.NewClock(start)
	web := &countingWeb{start: start}
	g := newJWTGateway(web, "111122223333")
	g.clock = clock.Now
	auth := func(tok string) error {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		id, err := g.Authenticate(r, nil)
		if err == nil && (id.ID != tok || !id.AuthTime.Equal(start)) {
			t.Fatalf("identity %+v for %s", id, tok)
		}
		return err
	}
	for range 5 {
		if err := auth("good-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := web.calls.Load(); n != 1 {
		t.Fatalf("%d verifications of one token, want 1", n)
	}
	if err := auth("good-2"); err != nil || web.calls.Load() != 2 {
		t.Fatalf("another token: %v, %d verifications", err, web.calls.Load())
	}
	for range 3 {
		if err := auth("forged"); err == nil {
			t.Fatal("a bad token was accepted")
		}
	}
	if n := web.calls.Load(); n != 5 {
		t.Fatalf("%d verifications, want 5 (bad tokens are never remembered)", n)
	}
	// Past jwtCacheTTL the token is verified again.
	clock.Advance(jwtCacheTTL)
	if err := auth("good-1"); err != nil || web.calls.Load() != 6 {
		t.Fatalf("after the cache TTL: %v, %d verifications", err, web.calls.Load())
	}
	// A token is never trusted past its expiry, remembered or not.
	if err := auth("short"); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(jwtCacheTTL + time.Minute))
	before := web.calls.Load()
	_ = auth("short")
	if web.calls.Load() != before+1 {
		t.Fatal("an expired token was served from memory")
	}
}

// TestBearerScheme: the Authorization scheme is case-insensitive; other
// schemes are not a bearer token.
func TestBearerScheme(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	g := newJWTGateway(&countingWeb{start: start}, "111122223333")
	g.clock = testkit.NewClock(start).Now
	for h, ok := range map[string]bool{"Bearer good-1": true, "bearer good-1": true, "BEARER good-1": true,
		"Basic good-1": false, "Bearergood-1": false, "Bear": false, "": false} {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Header.Set("Authorization", h)
		_, err := g.Authenticate(r, nil)
		if (err == nil) != ok {
			t.Errorf("%q: %v", h, err)
		}
	}
}
